"""The ``harmonia`` command against a live server with a real worker, as a person or a script
uses it: ``run --watch`` under a pseudo-terminal (the live view, the exit code), and the read
and steering commands with ``--output json``."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import free_port
from tests.integration.api_support import ADMIN_KEY

HARMONIA = [str(Path(sys.executable).with_name("harmonia"))]  # the installed command
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
HELLO = {
    "name": "cli-hello",
    "tasks": {
        "greet": {
            "component": "builtin",
            "action": "echo",
            "input": {"message": "Hello ${workflow.input.who}"},
        },
        "nap": {
            "component": "builtin",
            "action": "sleep",
            "input": {"seconds": 1},
            "depends_on": ["greet"],
        },
        "shout": {
            "component": "builtin",
            "action": "echo",
            "input": {"message": "${tasks.greet.output.message}!"},
            "depends_on": ["nap"],
        },
    },
}
FAILING = {
    "name": "cli-failing",
    "tasks": {
        "first": {"component": "builtin", "action": "echo", "input": {"message": "ok"}},
        "boom": {
            "component": "builtin",
            "action": "fail",
            "input": {"message": "it broke"},
            "depends_on": ["first"],
        },
    },
}


@pytest.fixture
def env(server, clean) -> dict[str, str]:
    return {**os.environ, "HARMONIA_URL": f"http://{server}", "HARMONIA_API_KEY": ADMIN_KEY}


def harmonia(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*HARMONIA, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def in_terminal(env: dict[str, str], *args: str, timeout: float = 90) -> tuple[int, str]:
    """Runs the command with a pseudo-terminal as its stdout, as in a shell: its exit code and
    everything it drew, escape sequences removed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*HARMONIA, *args],
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not chunk:
                break
            drawn += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    code = process.wait(timeout=10)
    return code, ANSI.sub("", drawn.decode(errors="replace"))


def create(env, tmp_path: Path, definition: dict) -> str:
    file = tmp_path / f"{definition['name']}.json"
    file.write_text(json.dumps(definition))
    created = json.loads(harmonia(env, "workflows", "create", "-f", str(file), "-o", "json").stdout)
    return created["id"]


def test_run_watch_draws_each_step_completing_and_exits_0(env, tmp_path):
    create(env, tmp_path, HELLO)
    code, drawn = in_terminal(env, "run", "cli-hello", "--input", "who=Harmonia", "--watch")
    assert code == 0, drawn
    # The view was drawn while the run went: the nap step was seen running, then completed.
    assert re.search(r"nap\s+RUNNING", drawn), drawn
    for step in ("greet", "nap", "shout"):
        assert re.search(rf"{step}\s+COMPLETED\s+\d+\.\d\ds", drawn), (step, drawn)
    assert "3/3" in drawn
    assert "Run completed" in drawn and '"message": "Hello Harmonia!"' in drawn


def test_a_failing_run_exits_non_zero_naming_the_failed_step(env, tmp_path):
    create(env, tmp_path, FAILING)
    code, drawn = in_terminal(env, "run", "cli-failing", "--watch")
    assert code == 1, drawn
    assert "Run failed" in drawn
    assert "step boom failed: it broke" in drawn


def test_read_commands_answer_json_for_scripts(env, tmp_path):
    workflow_id = create(env, tmp_path, HELLO)
    listed = json.loads(harmonia(env, "workflows", "list", "-o", "json").stdout)
    assert [w["id"] for w in listed] == [workflow_id]
    shown = json.loads(harmonia(env, "workflows", "show", "cli-hello", "-o", "json").stdout)
    assert shown["id"] == workflow_id

    started = json.loads(harmonia(env, "run", workflow_id, "-i", "who=Ada", "-o", "json").stdout)
    events = harmonia(env, "events", "--run", started["id"], "-o", "json").stdout.splitlines()
    types = [json.loads(line)["type"] for line in events]
    assert types[0] == "execution_started" and types[-1] == "workflow_completed", types

    run = json.loads(harmonia(env, "runs", "show", started["id"], "-o", "json").stdout)
    assert run["status"] == "COMPLETED"
    assert [s["step_id"] for s in run["steps"]] == ["greet", "nap", "shout"]
    runs = json.loads(harmonia(env, "runs", "list", "--status", "COMPLETED", "-o", "json").stdout)
    assert [r["id"] for r in runs] == [started["id"]]
    logs = json.loads(harmonia(env, "runs", "logs", started["id"], "-o", "json").stdout)
    assert any("Task 'nap' started" in line["message"] for line in logs["lines"])


def test_logs_follow_a_run_until_it_finishes(env, tmp_path):
    workflow_id = create(env, tmp_path, HELLO)
    started = json.loads(harmonia(env, "run", workflow_id, "-o", "json").stdout)
    followed = harmonia(env, "runs", "logs", started["id"], "-f").stdout.splitlines()
    messages = [line.split("] ", 1)[1] for line in followed]
    assert messages[0] == "Run of 'cli-hello' started", followed
    assert "Task 'shout' completed successfully" in messages
    assert len(followed) == len(set(followed)), followed  # each event once


def test_steering_commands(env, tmp_path):
    # Each command is a new process: a nap long enough that the run is still going at cancel.
    slow = {**HELLO, "name": "cli-slow", "tasks": {**HELLO["tasks"]}}
    slow["tasks"]["nap"] = {**HELLO["tasks"]["nap"], "input": {"seconds": 20}}
    slow_id = create(env, tmp_path, slow)
    started = json.loads(harmonia(env, "run", slow_id, "-o", "json").stdout)
    paused = harmonia(env, "runs", "pause", started["id"]).stdout
    assert re.search(r"PAUS(ING|ED)", paused), paused
    harmonia(env, "runs", "resume", started["id"])
    harmonia(env, "runs", "cancel", started["id"])
    shown = json.loads(harmonia(env, "runs", "show", started["id"], "-o", "json").stdout)
    assert shown["status"] in ("CANCELLING", "CANCELLED")

    # A finished run again from one step, with new input for it.
    workflow_id = create(env, tmp_path, HELLO)
    done = json.loads(harmonia(env, "run", workflow_id, "-i", "who=Ada", "-o", "json").stdout)
    harmonia(env, "events", "--run", done["id"])  # returns once the run has finished
    again = harmonia(env, "runs", "rerun", done["id"], "--from", "shout", "-i", "message=Again")
    assert done["id"] in again.stdout


def test_a_refusal_prints_the_servers_message_and_exits_1(env):
    refused = harmonia(env, "runs", "show", "no-such-run", check=False)
    assert refused.returncode == 1
    assert "404" in refused.stderr and "no-such-run" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_an_unreachable_server_is_said_so():
    env = {**os.environ, "HARMONIA_URL": f"http://127.0.0.1:{free_port()}", "HARMONIA_API_KEY": "x"}
    refused = harmonia(env, "runs", "list", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"Error: Cannot reach {env['HARMONIA_URL']}"), refused.stderr


def test_shell_completion_script():
    script = subprocess.run(
        [*HARMONIA, "completion", "bash"], capture_output=True, text=True, check=True
    ).stdout
    assert "_HARMONIA_COMPLETE" in script and "complete " in script
