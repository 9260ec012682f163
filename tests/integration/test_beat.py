"""The recovery sweep runs through Celery beat, as in ``make dev`` and docker-compose.

No test here calls ``recovery.sweep``: a real beat process schedules ``harmonia.sweep`` and a real
worker runs it, so a sweep that beat cannot send (invalid time limits, say) fails these tests.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.cli import beat_argv, worker_argv
from app.models import Invocation, Run, TaskExecution
from app.models.base import utcnow
from tests.integration.conftest import settings_env, start_process, stop_process
from tests.integration.helpers import (
    begun_not_submitted,
    create_workflow,
    execute,
    steps,
    wait_for_run,
)

QUEUE = "beat-sweep"


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
        start_process(worker_argv(swept, concurrency=2, name="sweeper"), env, log_path),
        start_process(beat_argv(swept), env, log_path),
    ]
    yield log_path
    for process in processes:
        stop_process(process)


def test_beat_sends_the_sweep_and_a_run_never_sent_completes(client, monkeypatch, beat_and_worker):
    # The API "crashes" between committing the run and sending the message that begins it.
    monkeypatch.setattr("app.services.runs.send_begin", lambda *args, **kwargs: False)
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


def test_beat_sends_an_invocation_never_sent(client, rt, monkeypatch, beat_and_worker):
    # The API "crashes" after writing the invocation, before the broker has it.
    monkeypatch.setattr("app.services.integrations._send", lambda _rt, invocation: invocation)
    response = client.post(
        "/api/v1/integrations/builtin/capabilities/echo", json={"parameters": {"n": 7}}
    )
    assert response.status_code == 202, response.json
    done = _wait_for_invocation(client, response.json["id"])
    assert done["status"] == "COMPLETED" and done["output"] == {"n": 7}, done


def test_beat_fails_an_invocation_lost_with_its_worker(client, rt, beat_and_worker):
    long_ago = utcnow() - timedelta(hours=1)
    with rt.db.transaction() as session:
        invocation = Invocation(
            integration_id="builtin",
            capability_id="echo",
            status="RUNNING",
            parameters={},
            worker="a-host-that-is-gone:4242",
            created_at=long_ago,
            submitted_at=long_ago,
            started_at=long_ago,
        )
        session.add(invocation)
    done = _wait_for_invocation(client, invocation.id)
    assert done["status"] == "FAILED"
    assert "worker running this invocation was lost (a-host-that-is-gone:4242)" in done["error"]
    events = client.get(f"/api/v1/events?invocation_id={invocation.id}").json["items"]
    assert [e["type"] for e in events] == ["invocation_failed"]


def test_beat_settles_a_cancelling_run_whose_worker_died(client, rt, monkeypatch, beat_and_worker):
    run_id = begun_not_submitted(
        client,
        rt,
        monkeypatch,
        {"tasks": {"t": {"action": "builtin.sleep", "input": {"seconds": 60}}}},
    )
    long_ago = utcnow() - timedelta(hours=1)
    with rt.db.transaction() as session:  # it was running on a worker that died, then cancelled
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status="CANCELLING", submitted_at=long_ago, updated_at=long_ago)
        )
        session.execute(
            update(TaskExecution)
            .where(TaskExecution.run_id == run_id)
            .values(status="RUNNING", worker="a-host-that-is-gone:4242", started_at=long_ago)
        )
    run = wait_for_run(client, run_id, timeout=30)
    assert run["status"] == "CANCELLED", run
    assert steps(client, run_id)["t"]["status"] == "CANCELLED"


def _wait_for_invocation(client, invocation_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/integrations/invocations/{invocation_id}").json
        if body["status"] in ("COMPLETED", "FAILED"):
            return body
        assert time.monotonic() < deadline, f"invocation still {body['status']}"
        time.sleep(0.1)
