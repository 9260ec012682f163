"""``harmonia dev`` (what ``make dev`` runs): the embedded default serves the README quickstart,
a service killed with ``kill -9`` comes back while the others keep running, and SIGTERM stops
every child process and everything the children started."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.cli import free_port
from tests.integration.webhook_support import receiver


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found.add(int(child))
            found |= _children(int(child))
    return found


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, …"""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _group_members(groups: set[int]) -> set[int]:
    """Live (not zombie) processes of these process groups, wherever they were reparented."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, _ppid, pgrp = _stat(int(entry.name))[:3]
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(pgrp) in groups and state not in ("Z", "X"):
                members.add(int(entry.name))
    return members


def _groups(pid: int) -> set[int]:
    """The process groups of ``pid``'s descendants (each service runs in its own)."""
    groups = set()
    for child in _children(pid):
        with contextlib.suppress(FileNotFoundError):  # it has just exited
            groups.add(int(_stat(child)[2]))
    return groups - {os.getpgid(0)}


def _service(pid: int, *words: str) -> int | None:
    """The child of ``harmonia dev`` whose command line holds all ``words`` (as whole words, so
    ``worker`` is not the ``worker.celery_app`` of beat's)."""
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().decode()
            except FileNotFoundError:
                continue
            if set(words) <= {Path(word).name for word in cmdline.replace("\0", " ").split()}:
                return int(child)
    return None


def _wait_for(what: str, check, timeout: float, log: Path):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} within {timeout}s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    return found


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen, signum: int = signal.SIGTERM) -> None:
    """Signal ``harmonia dev``'s process group (a terminal's Ctrl-C sends SIGINT to the
    foreground group); then no process of its children's groups may remain."""
    groups = _groups(process.pid)
    assert len(groups) >= 6  # redis, monitor, worker, notifier, beat, api
    os.killpg(process.pid, signum)
    assert process.wait(timeout=40) == 0
    deadline = time.monotonic() + 5
    while (survivors := _group_members(groups)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not survivors, f"processes still running after SIGTERM: {survivors}"


HELLO = {
    "name": "hello",
    "tasks": {
        "greet": {
            "component": "cli",
            "action": "execute_command",
            "input": {"command": "echo Hello ${workflow.input.who}"},
        },
        "shout": {
            "component": "builtin",
            "action": "echo",
            "input": {"message": "${tasks.greet.output.result}!"},
            "depends_on": ["greet"],
        },
    },
}


def _run_hello(base: str, auth: dict[str, str]) -> dict:
    """The README quickstart: create the hello workflow, run it, wait for the end."""
    created = httpx.post(f"{base}/api/v1/workflows", headers=auth, json=HELLO)
    assert created.status_code == 201, created.text
    started = httpx.post(
        f"{base}/api/v1/workflows/{created.json()['id']}/execute",
        json={"input_data": {"who": "Harmonia"}},
        headers=auth,
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    deadline = time.monotonic() + 60
    while (run := httpx.get(f"{base}/api/v1/runs/{run_id}", headers=auth).json())["status"] not in (
        "COMPLETED",
        "FAILED",
    ):
        assert time.monotonic() < deadline, run
        time.sleep(0.2)
    return run


# The task worker (the notifier is a Celery worker too, on the notify queue).
WORKER = ("celery", "worker", "harmonia,harmonia.sweep")


@pytest.fixture
def dev_server(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARMONIA_")}
    env.update(
        {
            "HARMONIA_HOME": str(tmp_path / "home"),
            "HARMONIA_PORT": str(port),
            "HARMONIA_WORKER_CONCURRENCY": "2",
        }
    )
    with open(tmp_path / "dev.log", "w") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "dev"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own, as in a terminal
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
        try:
            ready = httpx.get(f"{base}/health/ready", timeout=2)
            if ready.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail(
            "harmonia dev did not become ready:\n" + (tmp_path / "dev.log").read_text()[-3000:]
        )
    printed = re.findall(r"HARMONIA_API_KEY=(hmn_\S+)", (tmp_path / "dev.log").read_text())
    assert len(printed) == 1, "the first start prints one bootstrap admin key"
    groups = _groups(process.pid)
    yield process, base, tmp_path, {"Authorization": f"Bearer {printed[0]}"}
    groups |= _groups(process.pid)  # with the groups of restarted services
    if process.poll() is None:  # the test failed before stopping it
        process.kill()
    for pid in _group_members(groups):
        os.kill(pid, signal.SIGKILL)


def test_quickstart_on_the_embedded_default(dev_server):
    process, base, tmp_path, auth = dev_server
    assert httpx.get(f"{base}/api/v1/workflows").status_code == 401  # nothing without a key
    run = _run_hello(base, auth)
    assert run["status"] == "COMPLETED", run
    assert run["output_data"] == {"shout": {"message": "Hello Harmonia!"}}
    steps = httpx.get(f"{base}/api/v1/runs/{run['id']}/steps", headers=auth).json()
    assert [s["step_id"] for s in steps] == ["greet", "shout"]
    database = tmp_path / "home" / "harmonia.db"
    assert database.exists()  # SQLite under HARMONIA_HOME

    # The fleet monitor heard the task worker and the notifier come online…
    workers = {f"{name}@{socket.gethostname()}" for name in ("harmonia", "notifier")}

    def announced() -> bool:
        url = f"{base}/api/v1/events?type=worker_online"
        items = httpx.get(url, headers=auth).json()["items"]
        return {e["data"]["hostname"] for e in items} >= workers

    _wait_for("the workers announced online", announced, 30, tmp_path / "dev.log")
    _stop(process)
    # …and, stopped after them, their goodbyes.
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT type, json_extract(data, '$.hostname'), json_extract(data, '$.reason') "
            "FROM events WHERE type LIKE 'worker_%' ORDER BY id"
        ).fetchall()
    for hostname in workers:
        assert [(t, r) for t, h, r in rows if h == hostname] == [
            ("worker_online", None),
            ("worker_offline", "clean"),
        ], rows


def test_webhooks_reach_a_receiver_on_this_machine(dev_server):
    """``harmonia dev`` starts the notifier, and lets webhooks call 127.0.0.1."""
    process, base, _tmp_path, auth = dev_server
    with receiver() as hooks:
        created = httpx.post(
            f"{base}/api/v1/webhooks",
            headers=auth,
            json={"url": hooks.url, "events": ["workflow.execution.*"]},
        )
        assert created.status_code == 201, created.text
        run = _run_hello(base, auth)
        got = hooks.wait_for(2, timeout=60)
    assert [r.json["event"] for r in got] == [
        "workflow.execution.started",
        "workflow.execution.completed",
    ]
    assert {r.json["data"]["execution_id"] for r in got} == {run["id"]}
    notifier = _service(process.pid, "celery", "worker", "harmonia.notify")
    assert notifier
    # At the lowest CPU priority, and so is its scheduling group (its own session's autogroup).
    assert os.getpriority(os.PRIO_PROCESS, notifier) == 19
    autogroup = Path(f"/proc/{notifier}/autogroup")
    if autogroup.exists():  # Linux with autogroups
        assert autogroup.read_text().split()[-1] == "19", autogroup.read_text()
    _stop(process)


def test_a_killed_worker_is_restarted_while_the_api_answers(dev_server):
    process, base, tmp_path, auth = dev_server
    log = tmp_path / "dev.log"
    old = _service(process.pid, *WORKER)
    assert old, "no Celery worker among the children"
    # The API is polled every 0.1 s from the kill until the new worker answers, on a thread of
    # its own (the readiness check below can take a second under load): every answer is a 200.
    answers: list[int | str] = []
    polling = threading.Event()
    polling.set()

    def poll() -> None:
        while polling.is_set():
            try:
                answers.append(httpx.get(f"{base}/health", timeout=5).status_code)
            except httpx.HTTPError as exc:
                answers.append(repr(exc))
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    os.kill(old, signal.SIGKILL)
    poller.start()

    def restarted() -> int | None:
        new = _service(process.pid, *WORKER)
        return new if new not in (None, old) and _ready(base) else None

    try:
        _wait_for("a new worker answering", restarted, 30, log)
    finally:
        polling.clear()
        poller.join(timeout=10)
    assert len(answers) >= 5, f"the API was polled through the restart window: {answers}"
    assert set(answers) == {200}, answers  # the API stayed up
    assert not _group_members({old}), "the old worker's pool processes are gone"
    assert re.search(
        rf"worker \(pid {old}\) died with SIGKILL; restarting in 1\.0s", log.read_text()
    )
    assert _run_hello(base, auth)["status"] == "COMPLETED"
    _stop(process)


@pytest.mark.parametrize(
    "name, words",
    [
        ("beat", ("celery", "beat")),
        ("monitor", ("app.cli", "monitor")),
        ("api", ("gunicorn",)),
        ("redis", ("redis-server",)),
    ],
    ids=["beat", "monitor", "api-master", "embedded-redis"],
)
def test_a_killed_service_is_restarted(dev_server, name, words):
    process, base, tmp_path, _auth = dev_server
    log = tmp_path / "dev.log"
    old = _service(process.pid, *words)
    assert old, f"no {name} among the children"
    os.kill(old, signal.SIGKILL)
    line = rf"{name} \(pid {old}\) died with SIGKILL; restarting in 1\.0s"
    _wait_for(f"the line '{line}'", lambda: re.search(line, log.read_text()), 10, log)
    _wait_for(f"a new {name}", lambda: _service(process.pid, *words) not in (None, old), 15, log)
    _wait_for("ready again", lambda: _ready(base), 30, log)
    assert not _group_members({old}), f"what {name} started went with it"
    assert "Connection in use" not in log.read_text(), "the old API workers kept the port"
    _stop(process, signal.SIGINT)
