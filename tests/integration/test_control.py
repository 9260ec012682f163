"""Run control through a real worker: pause, resume, cancel, retry, rerun-from-step, races."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from app.models import RunStatus
from app.services.leases import pid_alive
from tests.integration.helpers import (
    create_workflow,
    execute,
    sleep_chain,
    steps,
    wait_for_run,
    wait_for_step,
)

STATUSES = {s.value for s in RunStatus}


def event_types(client, run_id: str) -> list[str]:
    lines = client.get(f"/api/v1/runs/{run_id}/logs").json["lines"]
    return [line["message"] for line in lines if line["source"] == "engine"]


def test_pause_lets_the_running_step_finish_and_starts_nothing_until_resume(live):
    workflow = create_workflow(live, sleep_chain(3, 1.0))
    run_id = execute(live, workflow["id"])
    wait_for_step(live, run_id, "s0", {"RUNNING"})

    paused = live.post(f"/api/v1/runs/{run_id}/pause", json={"reason": "maintenance"})
    assert paused.status_code == 200, paused.json
    assert paused.json["status"] in ("PAUSING", "PAUSED")
    run = wait_for_run(live, run_id, until={"PAUSED"})
    assert steps(live, run_id)["s0"]["status"] == "COMPLETED"  # it was allowed to finish

    time.sleep(2.0)  # longer than a step: nothing may start while paused
    held = steps(live, run_id)
    assert held["s1"]["status"] == "PENDING" and held["s1"]["started_at"] is None
    assert live.get(f"/api/v1/runs/{run_id}").json["status"] == "PAUSED"

    resumed = live.post(f"/api/v1/runs/{run_id}/resume")
    assert resumed.status_code == 200, resumed.json
    run = wait_for_run(live, run_id)
    assert run["status"] == "COMPLETED", run
    assert all(step["attempt"] == 1 for step in steps(live, run_id).values())
    messages = " ".join(event_types(live, run_id))
    assert "Run paused" in messages and "Run resume" in messages


def test_cancel_stops_a_running_command_and_its_process(live, tmp_path):
    pid_file = tmp_path / "sleep.pid"
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "long": {
                    "action": "cli.execute_command",
                    "input": {
                        "command": f"echo $$ > {pid_file}; exec sleep 60",
                        "shell": True,
                        "timeout": 120,
                    },
                },
                "after": {"action": "builtin.noop", "depends_on": ["long"]},
            }
        },
    )
    run_id = execute(live, workflow["id"])
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    assert pid_alive(pid)

    started = time.monotonic()
    response = live.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "wrong input"})
    assert response.status_code == 200, response.json
    assert response.json["status"] in ("CANCELLING", "CANCELLED")
    run = wait_for_run(live, run_id, timeout=5)
    assert run["status"] == "CANCELLED"
    assert time.monotonic() - started < 5
    assert run["error_message"] == "Cancelled: wrong input"
    assert run["cancelled_at"] and run["cancelled_by"] == "system"
    assert not pid_alive(pid), "the cancelled command is still running"
    run_steps = steps(live, run_id)
    assert run_steps["long"]["status"] == "CANCELLED"
    assert run_steps["after"]["status"] == "CANCELLED"

    again = live.post(f"/api/v1/runs/{run_id}/cancel")
    assert again.status_code == 400
    assert "CANCELLED" in again.json["detail"]


def test_retry_after_the_cause_is_fixed_keeps_completed_steps(live, tmp_path):
    flag, log = tmp_path / "flag", tmp_path / "first.log"
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "first": {
                    "action": "cli.execute_command",
                    "input": {"command": f"echo ran >> {log}", "shell": True},
                },
                "middle": {
                    "action": "cli.execute_command",
                    "input": {"command": f"test -f {flag}", "shell": True},
                    "depends_on": ["first"],
                },
                "last": {"action": "builtin.noop", "depends_on": ["middle"]},
            }
        },
    )
    run_id = execute(live, workflow["id"])
    failed = wait_for_run(live, run_id)
    assert failed["status"] == "FAILED"
    before = steps(live, run_id)
    assert before["last"]["status"] == "UPSTREAM_FAILED"

    flag.write_text("fixed")
    retried = live.post(f"/api/v1/runs/{run_id}/retry", json={})
    assert retried.status_code == 202, retried.json
    assert retried.json["status"] == "PENDING"
    assert retried.json["error_message"] is None
    run = wait_for_run(live, run_id)
    assert run["status"] == "COMPLETED", run
    after = steps(live, run_id)
    for key in ("attempt", "started_at", "completed_at", "status"):
        assert after["first"][key] == before["first"][key]
    assert after["middle"]["attempt"] == 2
    assert log.read_text() == "ran\n"  # the first step's side effect happened once

    not_failed = live.post(f"/api/v1/runs/{run_id}/retry", json={})
    assert not_failed.status_code == 400
    assert "COMPLETED" in not_failed.json["detail"]


def test_rerun_from_step_with_new_input_reruns_it_and_its_descendants_only(live):
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "a": {"action": "builtin.echo", "input": {"x": "a"}},
                "b": {
                    "action": "builtin.echo",
                    "input": {"x": "old", "from_a": "${tasks.a.output.x}"},
                    "depends_on": ["a"],
                },
                "c": {
                    "action": "builtin.echo",
                    "input": {"from_b": "${tasks.b.output.x}"},
                    "depends_on": ["b"],
                },
                "d": {"action": "builtin.echo", "input": {"x": "d"}},
            }
        },
    )
    run_id = execute(live, workflow["id"])
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    first = steps(live, run_id)

    response = live.post(
        f"/api/v1/runs/{run_id}/steps/b/retry",
        json={"input": {"x": "new", "from_a": "${tasks.a.output.x}"}},
    )
    assert response.status_code == 202, response.json
    run = wait_for_run(live, run_id)
    assert run["status"] == "COMPLETED", run
    second = steps(live, run_id)
    assert second["b"]["output_data"] == {"x": "new", "from_a": "a"}
    assert second["c"]["output_data"] == {"from_b": "new"}
    assert (second["b"]["attempt"], second["c"]["attempt"]) == (2, 2)
    for untouched in ("a", "d"):
        assert second[untouched]["attempt"] == 1
        assert second[untouched]["completed_at"] == first[untouched]["completed_at"]

    missing = live.post(f"/api/v1/runs/{run_id}/steps/nope/retry", json={})
    assert missing.status_code == 404


def test_invalid_transitions_name_the_current_status(live):
    workflow = create_workflow(live, {"tasks": {"t": {"action": "builtin.noop"}}})
    run_id = execute(live, workflow["id"])
    wait_for_run(live, run_id)
    for operation in ("pause", "resume", "cancel"):
        response = live.post(f"/api/v1/runs/{run_id}/{operation}")
        assert response.status_code == 400, (operation, response.json)
        assert "COMPLETED" in response.json["detail"]
    assert live.post("/api/v1/runs/does-not-exist/pause").status_code == 404


def test_concurrent_pause_and_resume_never_run_a_task_twice(app, live):
    workflow = create_workflow(live, sleep_chain(6, 0.3))
    run_id = execute(live, workflow["id"])
    seen: set[str] = set()
    codes: set[int] = set()

    def hammer(seed: int) -> None:
        client = app.test_client()
        rng = random.Random(seed)
        for _ in range(10):
            operation = rng.choice(["pause", "resume"])
            response = client.post(f"/api/v1/runs/{run_id}/{operation}")
            codes.add(response.status_code)
            if response.status_code == 200:
                seen.add(response.json["status"])
            time.sleep(rng.uniform(0, 0.05))

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes <= {200, 400}, codes

    deadline = time.monotonic() + 60
    while (status := live.get(f"/api/v1/runs/{run_id}").json["status"]) != "COMPLETED":
        seen.add(status)
        assert time.monotonic() < deadline, status
        if status == "PAUSED":
            live.post(f"/api/v1/runs/{run_id}/resume")
        time.sleep(0.1)
    assert seen <= STATUSES
    run_steps = steps(live, run_id)
    assert all(step["attempt"] == 1 for step in run_steps.values()), run_steps
    started = [m for m in event_types(live, run_id) if m.endswith("started (attempt 1)")]
    assert len(started) == 6 and len(set(started)) == 6


def _file_lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
