"""Helpers that drive Harmonia the way a user does: over HTTP, then polling the run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def create_workflow(client, body: dict[str, Any]) -> dict[str, Any]:
    body = {"name": unique("wf"), **body}
    response = client.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.json
    return response.json


def execute(client, workflow_id: str, input_data: dict[str, Any] | None = None) -> str:
    response = client.post(
        f"/api/v1/workflows/{workflow_id}/execute", json={"input_data": input_data or {}}
    )
    assert response.status_code == 202, response.json
    assert response.json["status"] == "PENDING"
    return response.json["run_id"]


def wait_for_run(client, run_id: str, timeout: float = 60, until=TERMINAL) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/v1/runs/{run_id}").json
        if run["status"] in until:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout}s")
        time.sleep(0.1)


def wait_for_step(client, run_id: str, step_id: str, statuses: set[str], timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        step = client.get(f"/api/v1/runs/{run_id}/steps/{step_id}").json
        if step["status"] in statuses:
            return step
        assert time.monotonic() < deadline, f"{step_id} still {step['status']}"
        time.sleep(0.05)


def run_events(client, run_id: str) -> list[dict[str, Any]]:
    """A run's stored events, in order (the first 100)."""
    response = client.get(f"/api/v1/runs/{run_id}/events?page_size=100")
    assert response.status_code == 200, response.json
    return response.json["items"]


def run_workflow(client, body: dict[str, Any], input_data=None, timeout: float = 60):
    workflow = create_workflow(client, body)
    run_id = execute(client, workflow["id"], input_data)
    return wait_for_run(client, run_id, timeout)


def steps(client, run_id: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/v1/runs/{run_id}/steps")
    assert response.status_code == 200, response.json
    return {step["step_id"]: step for step in response.json}


def sleep_chain(count: int, seconds: float) -> dict[str, Any]:
    """A definition: ``count`` builtin.sleep steps, each after the previous one."""
    return {
        "tasks": {
            f"s{i}": {
                "action": "builtin.sleep",
                "input": {"seconds": seconds},
                "depends_on": [f"s{i - 1}"] if i else [],
            }
            for i in range(count)
        }
    }


def begun_not_submitted(client, rt, monkeypatch, definition: dict[str, Any]) -> str:
    """A run whose task rows and plan are written but whose first segment never reached the
    broker (its worker died in between): begun here, with the API's and the submission's sends
    disabled."""
    from app.services import runs

    monkeypatch.setattr("app.services.runs.send_begin", lambda *args, **kwargs: False)
    monkeypatch.setattr("app.services.runs.submit_generation", lambda *args, **kwargs: False)
    run_id = execute(client, create_workflow(client, definition)["id"])
    runs.begin_run(rt, run_id)
    monkeypatch.undo()
    return run_id


@contextmanager
def statements(rt) -> Iterator[list[str]]:
    """The SQL statements the API sends while the block runs."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)
