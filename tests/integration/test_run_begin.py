"""A run begins on a worker: the API writes the run, a worker writes its task rows and plan and
submits them (``harmonia.begin_run``). Before that, the run is PENDING and shows its steps PENDING
with the ids their rows will have; a pause or a cancel that comes first is kept."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event

from app.services import runs
from app.services.dispatch import send_begin
from tests.integration.helpers import (
    create_workflow,
    execute,
    statements,
    steps,
    wait_for_run,
)

TWO = {
    "tasks": {
        "a": {"action": "builtin.echo", "input": {"n": 1}},
        "b": {"action": "builtin.echo", "input": {"n": 2}, "depends_on": ["a"]},
    }
}


def wide(count: int) -> dict:
    return {"tasks": {f"t{i}": {"action": "builtin.noop"} for i in range(count)}}


def _unsent(monkeypatch) -> None:
    """The API's message to begin the run is not sent: the run stays as the API wrote it."""
    monkeypatch.setattr("app.services.runs.send_begin", lambda *args, **kwargs: False)


def test_a_run_not_begun_shows_its_steps_pending_with_the_ids_they_keep(live, rt, monkeypatch):
    _unsent(monkeypatch)
    run_id = execute(live, create_workflow(live, TWO)["id"])
    before = steps(live, run_id)
    assert {s["status"] for s in before.values()} == {"PENDING"}
    one = live.get(f"/api/v1/runs/{run_id}/steps/b")
    assert one.status_code == 200 and one.json["id"] == before["b"]["id"], one.json
    assert live.get(f"/api/v1/runs/{run_id}/steps/nope").status_code == 404

    monkeypatch.undo()
    assert send_begin(rt, run_id)
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    after = steps(live, run_id)
    assert {k: s["id"] for k, s in after.items()} == {k: s["id"] for k, s in before.items()}
    assert after["b"]["output_data"] == {"n": 2}


def _step_b(path: str, body) -> dict:
    if path.endswith("/b"):
        return body
    if path.endswith("/steps"):
        return {step["step_id"]: step for step in body}["b"]
    return body["task_statuses"]["b"]  # seed 000's execution


def test_a_run_that_begins_while_its_steps_are_read_shows_them(live, rt, monkeypatch):
    """The run begins between the read that finds no task rows and the rest of the request: the
    steps are shown as they were when read, never missing."""
    for path in ("/api/v1/runs/{}/steps/b", "/api/v1/runs/{}/steps", "/api/executions/{}"):
        _unsent(monkeypatch)
        run_id = execute(live, create_workflow(live, TWO)["id"])
        monkeypatch.undo()
        begun = []

        def begin_meanwhile(_conn, _cursor, statement, *_args, run_id=run_id, begun=begun):
            if not begun and "task_executions" in statement.lower():
                begun.append(True)  # on another connection, committed before this read goes on
                worker = threading.Thread(target=runs.begin_run, args=(rt, run_id))
                worker.start()
                worker.join()

        event.listen(rt.db.engine, "after_cursor_execute", begin_meanwhile)
        try:
            read = live.get(path.format(run_id))
        finally:
            event.remove(rt.db.engine, "after_cursor_execute", begin_meanwhile)
        assert begun and read.status_code == 200, (path, read.json)
        assert _step_b(path, read.json)["status"].upper() == "PENDING", (path, read.json)
        assert wait_for_run(live, run_id)["status"] == "COMPLETED"


def test_a_second_message_to_begin_runs_nothing_twice(live, rt):
    run_id = execute(live, create_workflow(live, TWO)["id"])
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    send_begin(rt, run_id)
    time.sleep(1.0)
    started = live.get(f"/api/v1/events?run_id={run_id}&type=task_started").json["items"]
    assert len(started) == 2
    events = live.get(f"/api/v1/events?run_id={run_id}").json["items"]
    types = [e["type"] for e in sorted(events, key=lambda e: e["id"])]
    assert types.count("execution_started") == 1
    assert types.index("execution_started") < types.index("task_started")


def test_a_run_cancelled_before_it_begins_never_starts(live, rt, monkeypatch):
    _unsent(monkeypatch)
    run_id = execute(live, create_workflow(live, TWO)["id"])
    cancelled = live.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "not today"})
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json["status"] == "CANCELLED"
    assert {s["status"] for s in steps(live, run_id).values()} == {"CANCELLED"}

    monkeypatch.undo()
    send_begin(rt, run_id)  # the message that was late arrives after all
    time.sleep(1.0)
    assert live.get(f"/api/v1/runs/{run_id}").json["status"] == "CANCELLED"
    assert {s["status"] for s in steps(live, run_id).values()} == {"CANCELLED"}
    started = live.get(f"/api/v1/events?run_id={run_id}&type=task_started").json["items"]
    assert started == []


def test_a_run_paused_before_it_begins_runs_on_resume(live, rt, monkeypatch):
    _unsent(monkeypatch)
    run_id = execute(live, create_workflow(live, TWO)["id"])
    paused = live.post(f"/api/v1/runs/{run_id}/pause")
    assert paused.status_code == 200 and paused.json["status"] == "PAUSED", paused.json

    monkeypatch.undo()
    send_begin(rt, run_id)
    time.sleep(1.0)
    assert live.get(f"/api/v1/runs/{run_id}").json["status"] == "PAUSED"
    assert {s["status"] for s in steps(live, run_id).values()} == {"PENDING"}

    assert live.post(f"/api/v1/runs/{run_id}/resume").status_code == 200
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    assert steps(live, run_id)["b"]["output_data"] == {"n": 2}


def test_executing_a_run_of_1000_tasks_costs_the_api_what_a_run_of_2_costs(live, rt):
    small = create_workflow(live, wide(2))["id"]
    large = create_workflow(live, wide(1000))["id"]
    counts = {}
    for name, workflow_id in (("small", small), ("large", large)):
        execute(live, workflow_id)  # the version's DAG is cached from here on
        with statements(rt) as seen:
            run_id = execute(live, workflow_id)
        counts[name] = len(seen)
        assert not any("task_executions" in s.lower() and "insert" in s.lower() for s in seen)
        assert wait_for_run(live, run_id, timeout=120)["status"] == "COMPLETED"
    assert counts["large"] == counts["small"], counts


def test_a_workflow_whose_agent_was_deactivated_is_refused_at_execute(client):
    agent = client.post("/api/v1/agents", json={"name": "Fickle", "url": "http://fickle:1"}).json
    workflow = create_workflow(
        client,
        {
            "start_step": "a",
            "steps": {"a": {"id": "a", "agent_name": "Fickle", "input_mapping": {}}},
        },
    )
    first = client.post(f"/api/v1/workflows/{workflow['id']}/execute", json={"input_data": {}})
    assert first.status_code == 202, first.json  # the version's checks are cached from here on

    client.put(f"/api/v1/agents/{agent['id']}", json={"status": "inactive"})
    again = client.post(f"/api/v1/workflows/{workflow['id']}/execute", json={"input_data": {}})
    assert again.status_code == 400, again.json
    assert again.json["errors"] == [
        {
            "field": "steps.a.agent_name",
            "message": "Agent 'Fickle' not found or inactive",
            "type": "unknown",
        }
    ]


def test_a_run_not_begun_lists_its_task_executions_pending_page_by_page(live, rt, monkeypatch):
    """Seed 003's task list of an execution no worker has begun yet: every task PENDING, with
    the ids its rows will have, paged and filtered as the rows will be."""
    _unsent(monkeypatch)
    run_id = execute(live, create_workflow(live, wide(5))["id"])
    path = f"/api/v2/executions/{run_id}/tasks"
    listed = live.get(path)
    assert listed.status_code == 200, listed.json
    assert [t["taskDefinitionId"] for t in listed.json] == [f"t{i}" for i in range(5)]
    assert {t["status"] for t in listed.json} == {"PENDING"}
    page = live.get(path, query_string={"limit": 2, "offset": 3}).json
    assert [t["taskDefinitionId"] for t in page] == ["t3", "t4"]
    assert live.get(path, query_string={"status": "RUNNING"}).json == []
    assert len(live.get(path, query_string={"status": "PENDING"}).json) == 5

    monkeypatch.undo()
    assert send_begin(rt, run_id)
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    after = live.get(path).json
    assert [t["id"] for t in after] == [t["id"] for t in listed.json]
    assert {t["status"] for t in after} == {"COMPLETED"}
