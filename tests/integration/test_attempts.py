"""The hot path's two statements on real Postgres (``app/services/attempts.py``): each writes all of
its work or none of it, and refuses whatever is not the common case.

The runs here are started on a queue no worker consumes, so this test alone moves their tasks.
The protocol as a whole is tested through the API with a real worker (test_execution,
test_control, test_recovery and the chaos suite); this pins down the guards it relies on.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import ProgrammingError

from app.models import Event, OutboxEntry, Run, TaskExecution
from app.services import attempts, runs
from tests.integration.api_support import admin_app
from tests.integration.helpers import create_workflow, execute, unique
from worker.runtime import DATABASE_DOWN

WORKER = "attempts-test:1"
BODY = {
    "tasks": [
        {"id": "a", "action": "builtin.noop"},
        {"id": "b", "action": "builtin.noop", "depends_on": ["a"]},
        {"id": "c", "action": "builtin.noop"},
    ]
}


@pytest.fixture
def parked(settings, clean):
    """An API whose runs wait on a queue of their own, and its runtime."""
    app = admin_app(settings.with_(default_queue=unique("parked")))
    rt = app.extensions["harmonia"]
    if rt.db.is_sqlite:
        message = "the single statements are Postgres's (SQLite takes the step-by-step path)"
        if os.environ.get("CI", "").lower() == "true":  # CI tests on Postgres: never skip there
            pytest.fail(f"{message}; CI=true needs HARMONIA_TEST_DATABASE_URL on Postgres")
        pytest.skip(message)
    yield app.test_client(), rt
    rt.close()


def _run(client, rt) -> str:
    """A run begun here (its rows and plan written; its segment waits on the parked queue)."""
    run_id = execute(client, create_workflow(client, {"name": unique("wf"), **BODY})["id"])
    runs.begin_run(rt, run_id)
    return run_id


def _claim(rt, run_id: str, task_id: str, generation: int = 1, **kwargs):
    options = {"depends_on": ["a"] if task_id == "b" else [], "reads": [], "wants_state": False}
    return attempts.claim(
        rt,
        run_id,
        task_id,
        generation,
        0,
        worker=WORKER,
        data={"action": "builtin.noop"},
        message=f"Task '{task_id}' started",
        **{**options, **kwargs},
    )


def _finish(rt, run_id: str, task_id: str, to: str = "COMPLETED", worker: str = WORKER):
    return attempts.finish(
        rt,
        run_id,
        task_id,
        attempts.TaskStatus(to),
        {"output_data": {"ok": True}},
        worker=worker,
        kind=f"task_{to.lower()}",
        data={},
        message=f"Task '{task_id}' {to.lower()}",
        sync=[],
        adds=1 if to == "COMPLETED" else 0,
        total=3,
    )


def _task(rt, run_id: str, task_id: str):
    with rt.db.transaction() as session:
        return session.execute(
            select(TaskExecution.status, TaskExecution.worker, TaskExecution.attempt).where(
                TaskExecution.run_id == run_id, TaskExecution.task_id == task_id
            )
        ).one()


def _events(rt, run_id: str) -> list[tuple[str, str | None, dict]]:
    with rt.db.transaction() as session:
        rows = session.execute(
            select(Event.type, Event.task_id, Event.data)
            .where(Event.run_id == run_id)
            .order_by(Event.id)
        ).all()
    return [tuple(row) for row in rows]


def _set_run(rt, run_id: str, **values) -> None:
    with rt.db.transaction() as session:
        session.execute(update(Run).where(Run.id == run_id).values(**values))


def test_a_claim_takes_the_task_and_records_its_start_in_one_statement(parked):
    client, rt = parked
    run_id = _run(client, rt)
    _set_run(rt, run_id, status="RUNNING")
    claimed = _claim(rt, run_id, "c")
    assert isinstance(claimed, attempts.Taken)
    assert claimed.attempt == 1 and claimed.run.id == run_id
    assert tuple(_task(rt, run_id, "c")) == ("RUNNING", WORKER, 1)
    started = ("task_started", "c", {"action": "builtin.noop", "attempt": 1})
    assert _events(rt, run_id)[-1] == started
    assert claimed.events[0].message == "Task 'c' started (attempt 1)"
    # The same message again (a redelivery) claims nothing: the task is no longer PENDING.
    again = _claim(rt, run_id, "c")
    assert not isinstance(again, attempts.Taken) and again.status == "RUNNING"
    assert [e for e in _events(rt, run_id) if e[0] == "task_started"] == [started]


def test_a_claim_writes_nothing_unless_the_run_is_running_in_its_generation(parked):
    client, rt = parked
    run_id = _run(client, rt)
    # PENDING (a retried run is, until its first claim): promoting the run is the step-by-step
    # path's (it emits execution_started). A run begun on a worker is already RUNNING.
    _set_run(rt, run_id, status="PENDING")
    before = _events(rt, run_id)
    refused = _claim(rt, run_id, "a")
    assert refused.status == "PENDING" and refused.attempt is None
    for status in ("PAUSING", "PAUSED", "CANCELLING"):
        _set_run(rt, run_id, status=status)
        assert _claim(rt, run_id, "a").status == status
    _set_run(rt, run_id, status="RUNNING", generation=2)
    stale = _claim(rt, run_id, "a", generation=1)
    assert (stale.status, stale.generation, stale.attempt) == ("RUNNING", 2, None)
    assert tuple(_task(rt, run_id, "a")) == ("PENDING", None, 0)
    assert _events(rt, run_id) == before


def test_a_claim_is_refused_while_an_upstream_task_failed(parked):
    client, rt = parked
    run_id = _run(client, rt)
    _set_run(rt, run_id, status="RUNNING")
    assert isinstance(_claim(rt, run_id, "a"), attempts.Taken)
    assert _finish(rt, run_id, "a", "FAILED") is not None
    assert _claim(rt, run_id, "b").attempt is None  # the step-by-step path marks it
    assert tuple(_task(rt, run_id, "b")) == ("PENDING", None, 0)


def test_finishing_records_the_outcome_its_event_and_the_progress_together(parked):
    client, rt = parked
    run_id = _run(client, rt)
    _set_run(rt, run_id, status="RUNNING")
    assert isinstance(_claim(rt, run_id, "c"), attempts.Taken)
    # Another worker's outcome for a task this one holds is refused, and writes nothing.
    assert _finish(rt, run_id, "c", worker="someone-else:2") is None
    assert _task(rt, run_id, "c").status == "RUNNING"
    finished = _finish(rt, run_id, "c")
    assert finished.run_status == "RUNNING"
    assert [(e.type, e.task_id) for e in finished.events] == [
        ("task_completed", "c"),
        ("progress_updated", None),
    ]
    assert _events(rt, run_id)[-1] == (
        "progress_updated",
        None,
        {"completed_tasks": 1, "total_tasks": 3},
    )
    assert _task(rt, run_id, "c").status == "COMPLETED"
    assert _finish(rt, run_id, "c") is None  # recorded once


def test_the_statements_write_the_outbox_of_the_webhooks_their_events_match(parked):
    """The single statements match events to webhooks in SQL as ``webhooks.outbox`` does in
    Python: by event type (any vocabulary, wildcards), run, workflow, active and not expired."""
    client, rt = parked
    run_id = _run(client, rt)
    _set_run(rt, run_id, status="RUNNING")
    workflow_id = client.get(f"/api/v1/runs/{run_id}").json["workflow_id"]

    def hook(**body) -> str:
        answer = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/h", **body})
        assert answer.status_code == 201, answer.json
        return answer.json["id"]

    every = hook(events=["*"])
    tasks_dotted = hook(events=["task.execution.*"])
    completed_seed004 = hook(events=["step_completed"])
    this_run = hook(events=["*"], run_id=run_id)
    this_workflow = hook(events=["*"], workflow_id=workflow_id)
    hook(events=["*"], run_id="another-run")
    hook(events=["*"], workflow_id="another-workflow")
    hook(events=["*"], active=False)
    hook(events=["*"], expires_at="2020-01-01T00:00:00Z")
    hook(events=["workflow.execution.*"])

    taken = _claim(rt, run_id, "c")
    assert taken.attempt == 1 and taken.notified
    finished = _finish(rt, run_id, "c")
    assert finished is not None and finished.notified
    with rt.db.transaction() as session:
        entries = (
            session.execute(
                select(OutboxEntry).where(OutboxEntry.run_id == run_id).order_by(OutboxEntry.seq)
            )
            .scalars()
            .all()
        )
        named = {e.event_type: (e.event_id, sorted(e.webhook_ids)) for e in entries}
    anything = [every, this_run, this_workflow]
    assert [e.event_type for e in entries] == ["task_started", "task_completed", "progress_updated"]
    assert named["task_started"] == (taken.events[0].id, sorted([*anything, tasks_dotted]))
    assert named["task_completed"] == (
        finished.events[0].id,
        sorted([*anything, tasks_dotted, completed_seed004]),
    )
    assert named["progress_updated"] == (finished.events[1].id, sorted(anything))


def test_with_no_webhook_matching_the_statements_write_no_outbox(parked):
    client, rt = parked
    run_id = _run(client, rt)
    _set_run(rt, run_id, status="RUNNING")
    answer = client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["workflow.execution.*"]}
    )
    assert answer.status_code == 201, answer.json
    taken = _claim(rt, run_id, "c")
    assert taken.attempt == 1 and not taken.notified
    assert not _finish(rt, run_id, "c").notified
    with rt.db.transaction() as session:
        assert not session.execute(select(OutboxEntry).where(OutboxEntry.run_id == run_id)).first()


def test_a_statement_on_a_connection_the_server_closed_is_retried_on_a_new_one(parked):
    """The statements bypass SQLAlchemy's execution (``Database.first``); a connection cut under
    them still raises SQLAlchemy's OperationalError, which the worker retries (``DATABASE_DOWN``),
    and leaves the pool: the next try connects again and claims."""
    client, rt = parked
    run_id = _run(client, rt)
    _set_run(rt, run_id, status="RUNNING")
    assert attempts.definition_of(rt, run_id)  # a pooled connection, now idle
    with rt.db.transaction() as session:
        cut = session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state = 'idle' AND query LIKE 'SELECT workflow_definition_id%'"
            )
        ).all()
    assert cut, "the pooled connection was not found"
    with pytest.raises(DATABASE_DOWN):
        _claim(rt, run_id, "c")
    assert tuple(_task(rt, run_id, "c")) == ("PENDING", None, 0)
    assert isinstance(_claim(rt, run_id, "c"), attempts.Taken)


def test_a_statement_that_fails_raises_sqlalchemys_error_and_keeps_the_connection(parked):
    _client, rt = parked
    with pytest.raises(ProgrammingError, match="no_such_table"):
        rt.db.first(text("SELECT * FROM no_such_table WHERE id = :id"), {"id": 1})
    assert rt.db.first(text("SELECT CAST(:n AS int) AS n"), {"n": 2}).n == 2
