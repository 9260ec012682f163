"""Seed 004's event words (``app/events/synthesis.py``): what its streams, ``/api/events`` and
its subscriptions' payloads say for each kind of event."""

from __future__ import annotations

from app.events.synthesis import payload, step_type, text_output


def union(kind: str, data: dict, task_id: str | None = "step1") -> dict:
    """An event in the union shape, as ``app/events/model.render_event`` makes it."""
    inner = {"execution_id": "run-1", **data}
    if task_id:
        inner["step_id"] = task_id
    return {
        "event_id": 7,
        "type": kind,
        "execution_id": "run-1",
        "task_id": task_id,
        "invocation_id": None,
        "timestamp": "2026-01-01T00:00:00Z",
        "data": inner,
    }


def test_a_run_is_named_by_its_plan():
    said = payload(union("execution_started", {"workflow_id": "p1", "workflow_name": "Plan"}, None))
    assert said == {"execution_id": "run-1", "plan_id": "p1", "name": "Plan"}


def test_a_step_says_its_type_status_and_duration_in_milliseconds():
    started = payload(union("task_started", {"action": "cli.execute_command", "attempt": 1}))
    assert started["step_type"] == "command" and started["step_id"] == "step1"
    done = payload(union("task_completed", {"duration": 1.2345, "output": {"stdout": "hi\n"}}))
    assert done["status"] == "completed" and done["duration_ms"] == 1234
    assert done["output"] == "hi\n"
    finished = payload(union("execution_completed", {"duration_seconds": 2}, None))
    assert finished["status"] == "completed" and finished["duration_ms"] == 2000
    assert payload(union("task_failed", {"error": "boom"}))["status"] == "failed"


def test_output_lines_become_text_and_union_only_keys_are_dropped():
    said = payload(
        union("step_output", {"lines": ["a", "b"], "line": "a\nb", "task_name": "s", "details": {}})
    )
    assert said["output"] == "a\nb\n"
    assert not {"task_name", "details"} & set(said)


def test_step_types_and_text_output():
    assert step_type("cli.execute_script") == "script"
    assert step_type("api.http_post") == "http"
    assert step_type("mcp.call_tool") == "mcp"
    assert step_type("builtin.echo") == "builtin.echo"
    assert text_output({"stdout": "x", "exit_code": 0}) == "x"
    assert text_output({"result": 1}) == {"result": 1}
