"""The recovery sweep runs through Celery beat, as in ``make dev`` and docker-compose.

No test here calls ``recovery.sweep``: a real beat process schedules ``harmonia.sweep`` and a real
worker runs it, so a sweep that beat cannot send (invalid time limits, say) fails these tests.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from app.cli import beat_argv, worker_argv
from tests.integration.conftest import settings_env
from tests.integration.helpers import create_workflow, execute, steps, wait_for_run

QUEUE = "beat-sweep"


def _start(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "a") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def beat_and_worker(settings, rt, tmp_path):
    """Beat sending the sweep every second to its own queue, and a worker consuming it."""
    swept = settings.with_(default_queue=QUEUE, home=tmp_path, log_level="INFO")
    env = {
        **settings_env(swept),
        "HARMONIA_HOME": str(tmp_path),
        "HARMONIA_QUEUE": QUEUE,
        "HARMONIA_SWEEP_INTERVAL": "1",
        "HARMONIA_UNSENT_GRACE": "1",
        "HARMONIA_LOG_LEVEL": "INFO",  # beat logs each sending at INFO
    }
    log_path = tmp_path / "beat-and-worker.log"
    processes = [
        _start(worker_argv(swept, concurrency=2, name="sweeper"), env, log_path),
        _start(beat_argv(swept), env, log_path),
    ]
    yield log_path
    for process in processes:
        _stop(process)


def test_beat_sends_the_sweep_and_a_run_never_sent_completes(client, monkeypatch, beat_and_worker):
    # The API "crashes" between committing the run and handing its canvas to the broker.
    monkeypatch.setattr("app.services.runs.submit_generation", lambda *args, **kwargs: False)
    workflow = create_workflow(
        client, {"tasks": {"t": {"action": "builtin.echo", "input": {"x": 1}}}}
    )
    run_id = execute(client, workflow["id"])
    assert client.get(f"/api/v1/runs/{run_id}").json["status"] == "PENDING"

    try:
        run = wait_for_run(client, run_id, timeout=60)
    except AssertionError:
        raise AssertionError(beat_and_worker.read_text()[-4000:]) from None
    assert run["status"] == "COMPLETED", run
    assert steps(client, run_id)["t"]["output_data"] == {"x": 1}
    log = beat_and_worker.read_text()
    assert "Sending due task harmonia-sweep (harmonia.sweep)" in log
    assert "SchedulingError" not in log and "Traceback" not in log


def test_beat_keeps_sweeping_with_nothing_to_do(client, beat_and_worker):
    deadline = time.monotonic() + 30
    while beat_and_worker.read_text().count("Sending due task harmonia-sweep") < 3:
        assert time.monotonic() < deadline, beat_and_worker.read_text()[-4000:]
        time.sleep(0.2)
    assert "SchedulingError" not in beat_and_worker.read_text()
