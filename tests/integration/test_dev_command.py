"""``harmonia dev`` (what ``make dev`` runs): the embedded default serves the README quickstart,
and SIGTERM stops every child process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.cli import free_port
from app.services.leases import pid_alive


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found.add(int(child))
            found |= _children(int(child))
    return found


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
            [sys.executable, "-m", "app.cli", "dev"], env=env, stdout=log, stderr=subprocess.STDOUT
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
    yield process, base, tmp_path, {"Authorization": f"Bearer {printed[0]}"}
    if process.poll() is None:
        process.kill()


def test_quickstart_on_the_embedded_default(dev_server):
    process, base, tmp_path, auth = dev_server
    assert httpx.get(f"{base}/api/v1/workflows").status_code == 401  # nothing without a key
    # The README quickstart, step by step.
    created = httpx.post(
        f"{base}/api/v1/workflows",
        headers=auth,
        json={
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
        },
    )
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
    assert run["status"] == "COMPLETED", run
    assert run["output_data"] == {"shout": {"message": "Hello Harmonia!"}}
    steps = httpx.get(f"{base}/api/v1/runs/{run_id}/steps", headers=auth).json()
    assert [s["step_id"] for s in steps] == ["greet", "shout"]
    assert (tmp_path / "home" / "harmonia.db").exists()  # SQLite under HARMONIA_HOME

    children = _children(process.pid)
    assert len(children) >= 4  # redis, worker(s), beat, api
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=40)
    time.sleep(0.5)
    survivors = [pid for pid in children if pid_alive(pid)]
    assert not survivors, f"children still running after SIGTERM: {survivors}"
