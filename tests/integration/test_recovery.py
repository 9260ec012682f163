"""Crash recovery: a worker killed mid-task, a run never sent, a task stuck on a dead worker."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta

from sqlalchemy import update

from app.cli import worker_argv
from app.models import Run, TaskExecution
from app.models.base import utcnow
from app.services import recovery
from tests.integration.conftest import settings_env
from tests.integration.helpers import (
    begun_not_submitted,
    create_workflow,
    execute,
    run_events,
    steps,
    wait_for_run,
    wait_for_step,
)


def start_worker(settings, log_path):
    env = {**settings_env(settings), "HARMONIA_QUEUE": settings.default_queue}
    with open(log_path, "a") as log:
        return subprocess.Popen(
            worker_argv(settings, concurrency=1),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_worker_killed_mid_task_is_redelivered_and_the_run_completes(live, settings, tmp_path):
    crashy = settings.with_(default_queue="crashy", visibility_timeout=5)
    marker = tmp_path / "attempts"
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "slow": {
                    "action": "cli.execute_command",
                    "queue": "crashy",
                    "input": {"command": f"echo $$ >> {marker}; sleep 3", "shell": True},
                },
                "after": {
                    "action": "builtin.echo",
                    "input": {"done": True},
                    "queue": "crashy",
                    "depends_on": ["slow"],
                },
            }
        },
    )
    first = start_worker(crashy, tmp_path / "worker.log")
    second = None
    try:
        run_id = execute(live, workflow["id"])
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool die mid-task
        first.wait(timeout=10)
        assert steps(live, run_id)["slow"]["status"] == "RUNNING"

        second = start_worker(crashy, tmp_path / "worker.log")
        run = wait_for_run(live, run_id, timeout=90)
        assert run["status"] == "COMPLETED", run
        slow = steps(live, run_id)["slow"]
        assert slow["attempt"] == 2
        assert len(marker.read_text().split()) == 2  # it ran once more, not more
        lines = live.get(f"/api/v1/runs/{run_id}/logs").json["lines"]
        assert any("re-claimed from a worker that died" in line["message"] for line in lines)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)


def test_a_run_written_but_never_sent_is_sent_by_the_sweep(live, rt, monkeypatch):
    # The API "crashes" between committing the run and sending the message that begins it.
    monkeypatch.setattr("app.services.runs.send_begin", lambda *args, **kwargs: False)
    workflow = create_workflow(
        live, {"tasks": {"t": {"action": "builtin.echo", "input": {"x": 1}}}}
    )
    run_id = execute(live, workflow["id"])
    time.sleep(1.0)
    assert live.get(f"/api/v1/runs/{run_id}").json["status"] == "PENDING"
    assert steps(live, run_id)["t"]["status"] == "PENDING"  # shown before its row is written
    monkeypatch.undo()

    report = recovery.sweep(rt, unsent_after=0)
    assert run_id in report["submitted"]
    run = wait_for_run(live, run_id)
    assert run["status"] == "COMPLETED"
    assert steps(live, run_id)["t"]["output_data"] == {"x": 1}


def test_a_run_begun_but_never_submitted_is_submitted_by_the_sweep(live, rt, monkeypatch):
    # The worker that began the run wrote its rows and plan, then died before sending them.
    run_id = begun_not_submitted(
        live,
        rt,
        monkeypatch,
        {"tasks": {"t": {"action": "builtin.echo", "input": {"x": 2}}}},
    )
    time.sleep(1.0)
    assert live.get(f"/api/v1/runs/{run_id}").json["status"] == "RUNNING"  # begun
    assert steps(live, run_id)["t"]["status"] == "PENDING"  # and nothing sent

    report = recovery.sweep(rt, unsent_after=0)
    assert run_id in report["submitted"]
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    assert steps(live, run_id)["t"]["output_data"] == {"x": 2}


def test_a_task_stuck_running_on_a_dead_worker_is_requeued(live, rt, monkeypatch):
    run_id = begun_not_submitted(
        live,
        rt,
        monkeypatch,
        {
            "tasks": {
                "stuck": {"action": "builtin.echo", "input": {"ok": True}},
                "next": {"action": "builtin.noop", "depends_on": ["stuck"]},
            }
        },
    )
    long_ago = utcnow() - timedelta(hours=1)
    with rt.db.transaction() as session:  # its worker died and its message is gone
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status="RUNNING", submitted_at=long_ago, updated_at=long_ago)
        )
        session.execute(
            update(TaskExecution)
            .where(TaskExecution.run_id == run_id, TaskExecution.task_id == "stuck")
            .values(status="RUNNING", worker="a-host-that-is-gone:4242", updated_at=long_ago)
        )
        session.execute(
            update(TaskExecution)
            .where(TaskExecution.run_id == run_id, TaskExecution.task_id == "next")
            .values(updated_at=long_ago)
        )

    report = recovery.sweep(rt, unsent_after=3600, stalled_after=60)
    assert run_id in report["recovered"]
    run = wait_for_run(live, run_id)
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run_id)
    assert run_steps["stuck"]["output_data"] == {"ok": True}
    assert run_steps["next"]["status"] == "COMPLETED"


def test_the_sweep_leaves_healthy_runs_alone(live, rt):
    workflow = create_workflow(
        live, {"tasks": {"t": {"action": "builtin.sleep", "input": {"seconds": 1}}}}
    )
    run_id = execute(live, workflow["id"])
    deadline = time.monotonic() + 30
    while steps(live, run_id)["t"]["status"] != "RUNNING":  # on a live worker
        assert time.monotonic() < deadline
        time.sleep(0.02)
    report = recovery.sweep(rt, unsent_after=0, stalled_after=0)
    assert run_id not in report["recovered"] and run_id not in report["submitted"]
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    assert steps(live, run_id)["t"]["attempt"] == 1


def test_a_worker_whose_task_was_taken_over_records_nothing(live, rt):
    # The worker was thought dead and another one re-claimed the task while it still ran.
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "t": {"action": "builtin.sleep", "input": {"seconds": 1.5}},
                "after": {"action": "builtin.noop", "depends_on": ["t"]},
            }
        },
    )
    run_id = execute(live, workflow["id"])
    wait_for_step(live, run_id, "t", {"RUNNING"})
    with rt.db.transaction() as session:
        session.execute(
            update(TaskExecution)
            .where(TaskExecution.run_id == run_id, TaskExecution.task_id == "t")
            .values(worker="the-new-owner:4242")
        )
    time.sleep(3)  # the first worker's action has ended and tried to record its outcome
    run_steps = steps(live, run_id)
    assert run_steps["t"]["status"] == "RUNNING"  # still the new owner's to record
    assert run_steps["after"]["status"] == "PENDING"  # and its message carries the chain on
    types = {e["type"] for e in run_events(live, run_id) if e["task_id"] == "t"}
    assert types <= {"task_started", "task_progress"}, types  # no outcome of its own
