"""Progress reports through HTTP and a real worker: an ETA that holds as tasks complete,
blockers that clear (retry, resume), synchronization point milestones, ``progress_updated``."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.api_support import assert_error, timestamp
from tests.integration.helpers import (
    TERMINAL,
    create_workflow,
    execute,
    run_events,
    sleep_chain,
    steps,
    wait_for_run,
    wait_for_step,
)

NOOP = {"action": "builtin.noop"}


def report(client, run_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/runs/{run_id}/progress")
    assert response.status_code == 200, response.json
    return response.json


def seconds_left(got: dict[str, Any]) -> float:
    eta = timestamp(got["estimated_completion"])
    return (eta - timestamp(got["generated_at"])).total_seconds()


def duration(step: dict[str, Any]) -> float:
    return (timestamp(step["completed_at"]) - timestamp(step["started_at"])).total_seconds()


def milestone(got: dict[str, Any], milestone_id: str) -> dict[str, Any]:
    return next(m for m in got["milestones"] if m["id"] == milestone_id)


def test_a_chain_of_equal_sleeps_keeps_its_eta_while_the_time_left_shrinks(live):
    workflow = create_workflow(live, sleep_chain(3, 1.0))
    run_id = execute(live, workflow["id"])
    first: dict[int, dict[str, Any]] = {}  # completed_tasks → the first report that said so
    deadline = time.monotonic() + 60
    while (got := report(live, run_id))["status"] not in TERMINAL:
        first.setdefault(got["completed_tasks"], got)
        assert time.monotonic() < deadline, got
        time.sleep(0.05)
    assert got["status"] == "COMPLETED", got

    one, two = first[1], first[2]
    assert (one["total_tasks"], one["status"]) == (3, "RUNNING")
    took = [duration(step) for step in steps(live, run_id).values()]
    assert all(1.0 <= t < 3.0 for t in took), took
    # Once the first sleep is done, two more like it are left (less what the second has already
    # run when the report was read); once the second is, one more. The instant stays put.
    left_one, left_two = seconds_left(one), seconds_left(two)
    assert 2 * took[0] - 0.6 < left_one <= 2 * took[0] + 0.01, (took, one)
    mean = (took[0] + took[1]) / 2
    assert mean - 0.6 < left_two <= mean + 0.01, (took, two)
    assert left_two < left_one - 0.5
    drift = timestamp(two["estimated_completion"]) - timestamp(one["estimated_completion"])
    assert abs(drift.total_seconds()) < 0.5, (one, two)
    assert milestone(one, "initialization")["achieved"] is True
    assert milestone(one, "completion")["achieved"] is False
    assert one["blockers"] == []

    assert (got["completed_tasks"], got["total_tasks"]) == (3, 3)
    assert got["estimated_completion"] is None
    done = milestone(got, "completion")
    assert done["achieved"] is True
    assert timestamp(done["achieved_at"]) == timestamp(
        live.get(f"/api/v1/runs/{run_id}").json["completed_at"]
    )

    # Each change was announced, with its counts, before the run's final events.
    events = run_events(live, run_id)
    updates = [e for e in events if e["type"] == "progress_updated"]
    # Started (0), each task (1, 2, 3), completed (3).
    assert [u["data"]["completed_tasks"] for u in updates] == [0, 1, 2, 3, 3]
    assert {u["data"]["total_tasks"] for u in updates} == {3}
    assert [e["type"] for e in events][-3:] == [
        "progress_updated",
        "execution_completed",
        "workflow_completed",
    ]


def test_a_failed_task_is_a_blocker_until_the_retried_run_completes_it(live, tmp_path):
    flag = tmp_path / "flag"
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "first": NOOP,
                "check": {
                    "action": "cli.execute_command",
                    "input": {"command": f"test -f {flag}", "shell": True},
                    "depends_on": ["first"],
                },
                "last": {**NOOP, "depends_on": ["check"]},
            }
        },
    )
    run_id = execute(live, workflow["id"])
    assert wait_for_run(live, run_id)["status"] == "FAILED"
    failed = report(live, run_id)
    assert (failed["completed_tasks"], failed["total_tasks"]) == (1, 3)
    assert failed["estimated_completion"] is None
    [blocker] = failed["blockers"]
    assert blocker["kind"] == "task_failed" and blocker["task_id"] == "check"
    assert blocker["task_execution_id"] == steps(live, run_id)["check"]["id"]
    assert blocker["description"].startswith("Task 'check' failed: ")
    assert blocker["resolved_at"] is None
    failed_event = next(e for e in run_events(live, run_id) if e["type"] == "task_failed")
    assert blocker["id"] == str(failed_event["event_id"])
    assert timestamp(blocker["created_at"]) == timestamp(failed_event["timestamp"])
    assert milestone(failed, "completion")["achieved"] is False

    flag.write_text("fixed")
    retried = live.post(f"/api/v1/runs/{run_id}/retry", json={})
    assert retried.status_code == 202, retried.json
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    after = report(live, run_id)
    [cleared] = after["blockers"]
    assert {k: cleared[k] for k in ("id", "created_at", "task_execution_id")} == {
        k: blocker[k] for k in ("id", "created_at", "task_execution_id")
    }
    completed = next(
        e
        for e in run_events(live, run_id)
        if e["type"] == "task_completed" and e["task_id"] == "check"
    )
    assert timestamp(cleared["resolved_at"]) == timestamp(completed["timestamp"])
    assert (after["completed_tasks"], after["total_tasks"]) == (3, 3)
    assert milestone(after, "completion")["achieved"] is True


def test_a_paused_run_is_blocked_until_it_resumes(live):
    workflow = create_workflow(live, sleep_chain(2, 1.0))
    run_id = execute(live, workflow["id"])
    wait_for_step(live, run_id, "s0", {"RUNNING"})
    paused = live.post(f"/api/v1/runs/{run_id}/pause", json={"reason": "maintenance"})
    assert paused.status_code == 200, paused.json
    wait_for_run(live, run_id, until={"PAUSED"})
    held = report(live, run_id)
    assert held["status"] == "PAUSED" and held["estimated_completion"] is None
    [blocker] = held["blockers"]
    assert (blocker["kind"], blocker["description"]) == ("run_paused", "Run paused: maintenance")
    assert blocker["task_execution_id"] is None and blocker["resolved_at"] is None

    assert live.post(f"/api/v1/runs/{run_id}/resume").status_code == 200
    running = report(live, run_id)
    [resumed] = running["blockers"]
    assert resumed["id"] == blocker["id"]
    assert timestamp(resumed["resolved_at"]) >= timestamp(resumed["created_at"])
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    assert report(live, run_id)["blockers"] == running["blockers"]


def test_each_synchronization_point_is_a_milestone_not_a_task(live):
    workflow = create_workflow(
        live,
        {
            "tasks": [
                {"name": "A", "action": "builtin.sleep", "input": {"seconds": 0.3}},
                {
                    "name": "B",
                    "action": "builtin.sleep",
                    "input": {"seconds": 1.5},
                    "dependencies": ["task-1"],
                },
            ],
            "synchronizationPoints": [
                {"name": "S", "description": "A is done", "requiredTasks": ["task-1"]},
                {"name": "All", "requiredTasks": ["task-1", "task-2"]},
            ],
        },
    )
    run_id = execute(live, workflow["id"])
    deadline = time.monotonic() + 30
    while not milestone(midway := report(live, run_id), "sync-1")["achieved"]:
        assert time.monotonic() < deadline, midway
        time.sleep(0.05)
    # S is reached while B still runs: All is not, and neither is the run's completion.
    assert midway["status"] == "RUNNING"
    assert (midway["completed_tasks"], midway["total_tasks"]) == (1, 2)
    assert [(m["id"], m["name"], m["achieved"]) for m in midway["milestones"]] == [
        ("initialization", "Initialization", True),
        ("sync-1", "S", True),
        ("sync-2", "All", False),
        ("completion", "Completion", False),
    ]
    assert milestone(midway, "sync-1")["description"] == "A is done"
    assert milestone(midway, "sync-2")["description"] == "Tasks task-1, task-2 completed"
    assert midway["estimated_completion"] is not None

    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    done = report(live, run_id)
    assert (done["completed_tasks"], done["total_tasks"]) == (2, 2)
    # The worker's announcements leave synchronization points out too: S completing (while B
    # still runs) is announced with 1 of 2.
    events = run_events(live, run_id)
    after_sync = [
        next(e for e in events[i:] if e["type"] == "progress_updated")["data"]
        for i, e in enumerate(events)
        if e["type"] == "task_completed" and e["task_id"] == "sync-1"
    ]
    assert [(d["completed_tasks"], d["total_tasks"]) for d in after_sync] == [(1, 2)]
    updates = [e["data"] for e in events if e["type"] == "progress_updated"]
    assert (updates[-1]["completed_tasks"], updates[-1]["total_tasks"]) == (2, 2)
    assert {d["total_tasks"] for d in updates} == {2}
    assert all(m["achieved"] for m in done["milestones"])
    reached = [timestamp(m["achieved_at"]) for m in done["milestones"]]
    assert reached == sorted(reached)
    sync_rows = {sid: steps(live, run_id)[sid] for sid in ("sync-1", "sync-2")}
    assert timestamp(milestone(done, "sync-2")["achieved_at"]) == timestamp(
        sync_rows["sync-2"]["completed_at"]
    )


def test_an_unknown_run_has_no_report_and_the_spec_documents_it(client):
    assert_error(client.get("/api/v1/runs/nope/progress"), 404, detail="nope")
    spec = client.get("/openapi.json").json
    get = spec["paths"]["/api/v1/runs/{run_id}/progress"]["get"]
    ok = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ProgressReport"}
    assert "404" in get["responses"]
    fields = set(spec["components"]["schemas"]["ProgressReport"]["properties"])
    assert {"completed_tasks", "total_tasks", "estimated_completion", "blockers"} <= fields
    assert {"Blocker", "Milestone"} <= set(spec["components"]["schemas"])
