"""Seed 004 ("Synthesis API") replayed literally against a live gunicorn server with a real
worker and a real notifier: the document's request bodies, its response fields and statuses, its
WebSocket messages, callback subscriptions delivered to a real receiver, and its error body."""

from __future__ import annotations

import copy
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.integration.api_support import ADMIN, timestamp, ws_collect
from tests.integration.webhook_support import receiver

# -- the document's examples, as written --------------------------------------------------------

PLAN = {
    "name": "Example Plan",
    "description": "An example execution plan",
    "steps": [{"id": "step1", "type": "command", "parameters": {"command": "echo Hello, World!"}}],
}
CREATE_EXECUTION = {
    "plan": PLAN,
    "variables": {"var1": "value1", "var2": "value2"},
    "metadata": {"tags": ["example", "test"], "created_by": "user1"},
}
CREATE_PLAN = {**PLAN, "metadata": {"tags": ["example", "test"], "created_by": "user1"}}
UPDATE_PLAN = {
    "name": "Updated Example Plan",
    "description": "An updated example execution plan",
    "steps": [
        {"id": "step1", "type": "command", "parameters": {"command": "echo Hello, Updated World!"}}
    ],
    "metadata": {"tags": ["example", "test", "updated"], "created_by": "user1"},
}
EXECUTE_PLAN = {
    "variables": {"var1": "value1", "var2": "value2"},
    "metadata": {"tags": ["execution", "test"], "created_by": "user1"},
}
INVOKE = {
    "parameters": {
        "command": "echo Hello, Integration!",
        "working_directory": "/tmp",
        "timeout": 30,
    }
}
SUBSCRIBE = {
    "types": ["execution_started", "execution_completed", "step_started", "step_completed"],
    "filter": {"execution_id": "f8c2e9b4-5c3d-4a1e-8f5d-6b7a8c9d0e1f"},
    "callback_url": "http://example.com/callback",
    "expiration": "2025-05-02T10:15:30Z",
}
ERROR_KEYS = {"code", "message", "details"}
DONE = {"completed", "failed", "cancelled"}


@pytest.fixture
def api(server, clean):
    with httpx.Client(base_url=f"http://{server}", headers=ADMIN, timeout=60) as client:
        yield client


def error_of(response, status: int, code: str) -> dict[str, Any]:
    """The document's error body: ``{"error": {code, message, details: [{field, message}]}}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["details"], list), body
    return body["error"]


def create_execution(api, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post("/api/executions", json=body or CREATE_EXECUTION)
    assert response.status_code == 201, response.text
    return response.json()


def start(api, execution_id: str) -> dict[str, Any]:
    response = api.post(f"/api/executions/{execution_id}/start")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(api, execution_id: str, statuses=DONE, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = api.get(f"/api/executions/{execution_id}").json()
        if execution["status"] in statuses:
            return execution
        assert time.monotonic() < deadline, f"still {execution['status']}"
        time.sleep(0.1)


def sleepy_plan(seconds: float) -> dict[str, Any]:
    plan = copy.deepcopy(PLAN)
    plan["name"] = f"Sleepy {seconds}"
    plan["steps"].append(
        {"id": "step2", "type": "command", "parameters": {"command": f"sleep {seconds}"}}
    )
    return plan


# -- executions -----------------------------------------------------------------------------------


def test_an_execution_is_created_started_and_read_back_as_documented(api):
    created = create_execution(api)
    assert set(created) == {"execution_id", "status", "created_at", "plan"}
    assert created["status"] == "created"
    assert created["plan"] == PLAN
    timestamp(created["created_at"])
    execution_id = created["execution_id"]
    assert api.get(f"/api/executions/{execution_id}").json()["status"] == "created"

    started = start(api, execution_id)
    assert set(started) == {"execution_id", "status", "started_at"}
    assert started["execution_id"] == execution_id and started["status"] == "running"
    timestamp(started["started_at"])

    execution = wait_for(api, execution_id)
    assert execution["status"] == "completed", execution
    for key in ("created_at", "started_at", "completed_at"):
        timestamp(execution[key])
    assert isinstance(execution["duration_ms"], int) and execution["duration_ms"] >= 0
    assert execution["plan"] == PLAN
    assert execution["variables"] == CREATE_EXECUTION["variables"]
    assert execution["metadata"] == CREATE_EXECUTION["metadata"]
    [step] = execution["steps"]
    assert {k: step[k] for k in ("id", "type", "status", "output", "error")} == {
        "id": "step1",
        "type": "command",
        "status": "completed",
        "output": "Hello, World!\n",
        "error": None,
    }
    assert isinstance(step["duration_ms"], int)
    timestamp(step["started_at"])
    timestamp(step["completed_at"])

    steps = api.get(f"/api/executions/{execution_id}/steps").json()
    assert steps == {"execution_id": execution_id, "steps": execution["steps"]}
    one = api.get(f"/api/executions/{execution_id}/steps/step1").json()
    assert one["parameters"] == {"command": "echo Hello, World!"}
    assert one["output"] == "Hello, World!\n" and one["status"] == "completed"
    variables = api.get(f"/api/executions/{execution_id}/variables").json()
    assert variables == {
        "execution_id": execution_id,
        "variables": {"var1": "value1", "var2": "value2", "step1_output": "Hello, World!\n"},
    }


def test_executions_are_listed_with_the_documents_filters(api):
    first = create_execution(api)["execution_id"]
    start(api, first)
    wait_for(api, first)
    other = copy.deepcopy(CREATE_EXECUTION)
    other["metadata"] = {"tags": ["other"], "created_by": "user2"}
    second = create_execution(api, other)["execution_id"]

    listed = api.get("/api/executions", params={"tag": "example"}).json()
    assert (listed["total"], listed["offset"], listed["limit"]) == (1, 0, 50)
    [item] = listed["executions"]
    assert item["execution_id"] == first
    assert {k: item[k] for k in ("name", "status", "tags")} == {
        "name": "Example Plan",
        "status": "completed",
        "tags": ["example", "test"],
    }
    timestamp(item["created_at"])
    timestamp(item["completed_at"])
    by_creator = api.get("/api/executions", params={"created_by": "user2"}).json()
    assert [e["execution_id"] for e in by_creator["executions"]] == [second]
    created = api.get("/api/executions", params={"status": "created", "tag": "other"}).json()
    assert [e["execution_id"] for e in created["executions"]] == [second]
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    assert api.get("/api/executions", params={"from_date": tomorrow}).json()["total"] == 0


def test_pause_resume_and_cancel_answer_as_documented(api):
    execution_id = create_execution(api, {**CREATE_EXECUTION, "plan": sleepy_plan(30)})[
        "execution_id"
    ]
    start(api, execution_id)
    deadline = time.monotonic() + 30
    while api.get(f"/api/executions/{execution_id}/steps/step2").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    paused = api.post(f"/api/executions/{execution_id}/pause")
    assert paused.status_code == 200, paused.text
    assert set(paused.json()) == {"execution_id", "status", "paused_at"}
    assert paused.json()["status"] == "paused"
    timestamp(paused.json()["paused_at"])
    resumed = api.post(f"/api/executions/{execution_id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert set(resumed.json()) == {"execution_id", "status", "resumed_at"}
    assert resumed.json()["status"] == "running"
    cancelled = api.post(f"/api/executions/{execution_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert set(cancelled.json()) == {"execution_id", "status", "cancelled_at"}
    assert cancelled.json()["status"] == "cancelled"
    timestamp(cancelled.json()["cancelled_at"])
    assert wait_for(api, execution_id)["status"] == "cancelled"
    error_of(api.post(f"/api/executions/{execution_id}/start"), 409, "invalid_state")
    error_of(api.post(f"/api/executions/{execution_id}/resume"), 409, "invalid_state")


def test_a_created_execution_can_be_cancelled_before_it_starts(api):
    execution_id = create_execution(api)["execution_id"]
    cancelled = api.post(f"/api/executions/{execution_id}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert wait_for(api, execution_id)["status"] == "cancelled"
    assert [
        s["status"] for s in api.get(f"/api/executions/{execution_id}/steps").json()["steps"]
    ] == ["cancelled"]


# -- plans ----------------------------------------------------------------------------------------


def test_plans_create_list_get_update_execute_delete_as_documented(api):
    response = api.post("/api/plans", json=CREATE_PLAN)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert set(plan) == {"plan_id", "name", "description", "created_at", "steps", "metadata"}
    assert {k: plan[k] for k in ("name", "description", "steps", "metadata")} == {
        k: CREATE_PLAN[k] for k in ("name", "description", "steps", "metadata")
    }
    plan_id = plan["plan_id"]

    listed = api.get("/api/plans", params={"tag": "example"}).json()
    assert (listed["total"], listed["offset"], listed["limit"]) == (1, 0, 50)
    assert listed["plans"] == [
        {
            "plan_id": plan_id,
            "name": "Example Plan",
            "description": "An example execution plan",
            "created_at": plan["created_at"],
            "tags": ["example", "test"],
        }
    ]
    assert api.get("/api/plans", params={"tag": "nope"}).json()["total"] == 0
    assert api.get("/api/plans", params={"created_by": "user1"}).json()["total"] == 1
    assert api.get(f"/api/plans/{plan_id}").json() == plan

    updated = api.put(f"/api/plans/{plan_id}", json=UPDATE_PLAN)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["plan_id"] == plan_id and body["created_at"] == plan["created_at"]
    timestamp(body["updated_at"])
    assert {k: body[k] for k in ("name", "description", "steps", "metadata")} == {
        k: UPDATE_PLAN[k] for k in ("name", "description", "steps", "metadata")
    }

    executed = api.post(f"/api/plans/{plan_id}/execute", json=EXECUTE_PLAN)
    assert executed.status_code == 202, executed.text
    run = executed.json()
    assert set(run) == {"execution_id", "status", "created_at", "started_at", "plan_id"}
    assert run["status"] == "running" and run["plan_id"] == plan_id
    execution = wait_for(api, run["execution_id"])
    assert execution["status"] == "completed"
    assert execution["steps"][0]["output"] == "Hello, Updated World!\n"
    assert execution["metadata"] == EXECUTE_PLAN["metadata"]

    deleted = api.delete(f"/api/plans/{plan_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "message": "Plan deleted successfully"}
    missing = error_of(api.get(f"/api/plans/{plan_id}"), 404, "not_found")
    assert plan_id in missing["message"]


# -- integrations ---------------------------------------------------------------------------------


def test_integrations_and_a_direct_invocation_as_documented(api):
    listed = api.get("/api/integrations").json()
    by_id = {i["id"]: i for i in listed["integrations"]}
    assert {"cli", "api", "mcp"} <= set(by_id)
    assert set(by_id["cli"]) == {"id", "name", "description", "capabilities"}
    assert {"execute_command", "execute_script"} <= set(by_id["cli"]["capabilities"])

    cli = api.get("/api/integrations/cli").json()
    command = cli["parameters"]["execute_command"]["command"]
    assert command["type"] == "string" and command["required"] is True
    assert command["description"]
    timeout = cli["parameters"]["execute_command"]["timeout"]
    assert timeout["required"] is False and timeout["default"] == 60

    capabilities = api.get("/api/integrations/cli/capabilities").json()
    assert capabilities["integration_id"] == "cli"
    found = {c["id"]: c for c in capabilities["capabilities"]}
    assert set(found["execute_command"]) == {"id", "name", "description", "parameters"}

    invoked = api.post("/api/integrations/cli/capabilities/execute_command", json=INVOKE)
    assert invoked.status_code == 200, invoked.text
    result = invoked.json()
    assert {k: result[k] for k in ("integration_id", "capability_id", "status", "output")} == {
        "integration_id": "cli",
        "capability_id": "execute_command",
        "status": "completed",
        "output": "Hello, Integration!\n",
    }
    assert result["error"] is None and isinstance(result["duration_ms"], int)
    status = api.get(f"/api/integrations/invocations/{result['invocation_id']}").json()
    assert status["parameters"] == INVOKE["parameters"]
    assert status["output"] == "Hello, Integration!\n"
    error_of(api.get("/api/integrations/nope"), 404, "not_found")
    bad = error_of(
        api.post("/api/integrations/cli/capabilities/execute_command", json={"parameters": {}}),
        400,
        "validation_error",
    )
    assert bad["details"][0]["field"] == "parameters.command"


# -- events, subscriptions and the WebSocket ----------------------------------------------------


def test_events_are_listed_and_read_as_documented(api):
    execution_id = create_execution(api)["execution_id"]
    start(api, execution_id)
    wait_for(api, execution_id)
    listed = api.get("/api/events", params={"execution_id": execution_id}).json()
    assert listed["offset"] == 0 and listed["limit"] == 50
    kinds = [e["type"] for e in listed["events"]]
    assert kinds[0] == "execution_started" and kinds[-1] == "execution_completed"
    assert {"step_started", "step_output", "step_completed"} <= set(kinds)
    assert listed["total"] == len(listed["events"])
    first = listed["events"][0]
    assert set(first) == {"event_id", "type", "timestamp", "execution_id", "payload"}
    assert first["payload"]["execution_id"] == execution_id
    assert first["payload"]["name"] == "Example Plan" and "plan_id" in first["payload"]
    assert api.get(f"/api/events/{first['event_id']}").json() == first
    completed = api.get(
        "/api/events", params={"execution_id": execution_id, "type": "step_completed"}
    ).json()
    assert [e["payload"]["step_id"] for e in completed["events"]] == ["step1"]
    assert completed["events"][0]["payload"]["status"] == "completed"
    error_of(api.get("/api/events/999999999"), 404, "not_found")


def test_a_subscription_delivers_the_runs_events_to_its_callback(api, notifier):
    created = create_execution(api)["execution_id"]
    with receiver() as hook:
        body = {
            **SUBSCRIBE,
            "filter": {"execution_id": created},
            "callback_url": hook.url,
            "expiration": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
        }
        response = api.post("/api/events/subscriptions", json=body)
        assert response.status_code == 201, response.text
        subscription = response.json()
        assert set(subscription) == {
            "subscription_id",
            "types",
            "filter",
            "callback_url",
            "created_at",
            "expiration",
        }
        assert subscription["types"] == SUBSCRIBE["types"]
        assert subscription["filter"] == {"execution_id": created}
        listed = api.get("/api/events/subscriptions").json()["subscriptions"]
        assert [s["subscription_id"] for s in listed] == [subscription["subscription_id"]]

        other = create_execution(api)["execution_id"]  # not in the filter
        start(api, other)
        start(api, created)
        wait_for(api, created)
        wait_for(api, other)
        got = hook.wait_for(4)
        time.sleep(0.5)  # nothing else may follow
        kinds = [r.json["type"] for r in hook.requests]
        assert kinds == [
            "execution_started",
            "step_started",
            "step_completed",
            "execution_completed",
        ]
        assert {r.json["execution_id"] for r in got} == {created}
        assert got[0].json["payload"]["name"] == "Example Plan"
        assert got[2].json["payload"]["step_id"] == "step1"

    deleted = api.delete(f"/api/events/subscriptions/{subscription['subscription_id']}")
    assert deleted.json() == {"success": True, "message": "Subscription deleted successfully"}
    assert api.get("/api/events/subscriptions").json() == {"subscriptions": []}
    error_of(
        api.delete(f"/api/events/subscriptions/{subscription['subscription_id']}"), 404, "not_found"
    )


def test_the_documents_subscription_example_is_accepted_as_written(api):
    response = api.post("/api/events/subscriptions", json=SUBSCRIBE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in ("types", "filter", "callback_url")} == {
        k: SUBSCRIBE[k] for k in ("types", "filter", "callback_url")
    }
    assert body["expiration"].startswith("2025-05-02T10:15:30")
    bad = error_of(
        api.post("/api/events/subscriptions", json={**SUBSCRIBE, "types": ["nonsense"]}),
        400,
        "validation_error",
    )
    assert bad["details"][0]["field"].startswith("types")


def test_websocket_messages_are_the_documents_and_seed_000_runs_keep_theirs(api, server):
    execution_id = create_execution(api)["execution_id"]
    start(api, execution_id)
    got = ws_collect(
        f"ws://{server}/ws/executions/{execution_id}",
        until=lambda got: got[-1].get("type") == "execution_completed",
        timeout=60,
    )
    by_type = {m["type"]: m for m in got}
    assert set(by_type) >= {
        "execution_started",
        "step_started",
        "step_output",
        "step_completed",
        "execution_completed",
    }
    for message in got:
        timestamp(message["timestamp"])
        assert message["data"]["execution_id"] == execution_id
    assert by_type["execution_started"]["data"]["name"] == "Example Plan"
    assert by_type["step_started"]["data"]["step_id"] == "step1"
    assert by_type["step_started"]["data"]["step_type"] == "command"
    assert by_type["step_output"]["data"]["output"] == "Hello, World!\n"
    completed = by_type["step_completed"]["data"]
    assert completed["status"] == "completed" and isinstance(completed["duration_ms"], int)
    finished = by_type["execution_completed"]["data"]
    assert finished["status"] == "completed" and isinstance(finished["duration_ms"], int)

    # A run created through seed 000 on the same path keeps seed 000's messages.
    workflow = api.post(
        "/api/workflows",
        json={"name": "zero", "tasks": {"t1": {"action": "builtin.echo", "input": {"x": 1}}}},
    ).json()["workflow_id"]
    zero = api.post("/api/executions", json={"workflow_id": workflow}).json()["execution_id"]
    messages = ws_collect(
        f"ws://{server}/ws/executions/{zero}",
        until=lambda got: got[-1].get("event_type") == "workflow_completed",
        timeout=60,
    )
    assert messages[-1]["event_type"] == "workflow_completed"
    assert api.get(f"/api/executions/{zero}").json()["workflow_id"] == workflow


def test_the_event_stream_carries_every_event_in_the_documents_shape(api, server):
    import threading

    got: list[dict[str, Any]] = []
    ours: dict[str, str] = {}  # the execution this test waits for (the stream carries every run)

    def finished(messages) -> bool:
        last = messages[-1]
        return last.get("type") == "execution_completed" and last.get("execution_id") == ours.get(
            "id"
        )

    def listen():
        got.extend(ws_collect(f"ws://{server}/ws/events", until=finished, timeout=60))

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.5)
    execution_id = create_execution(api)["execution_id"]
    ours["id"] = execution_id
    start(api, execution_id)
    listener.join(70)
    mine = [m for m in got if m.get("execution_id") == execution_id]
    assert mine[0]["type"] == "execution_started" and mine[-1]["type"] == "execution_completed"
    for message in mine:
        assert set(message) == {"event_id", "type", "timestamp", "execution_id", "payload"}


# -- errors ---------------------------------------------------------------------------------------


def test_the_documents_error_example_and_the_other_codes(api, server):
    invalid = error_of(
        api.post("/api/plans", json={**CREATE_PLAN, "steps": []}), 400, "validation_error"
    )
    assert invalid["details"] == [{"field": "steps", "message": "At least one step is required"}]
    missing_steps = error_of(
        api.post("/api/executions", json={"plan": {"name": "x"}}), 400, "validation_error"
    )
    assert missing_steps["details"] == [
        {"field": "plan.steps", "message": "At least one step is required"}
    ]
    unknown_type = error_of(
        api.post(
            "/api/plans",
            json={**CREATE_PLAN, "name": "bad", "steps": [{"id": "s", "type": "teleport"}]},
        ),
        400,
        "validation_error",
    )
    assert unknown_type["details"][0]["field"] == "steps[0].type"
    assert api.post("/api/plans", json=CREATE_PLAN).status_code == 201
    error_of(api.post("/api/plans", json=CREATE_PLAN), 409, "already_exists")
    error_of(api.get("/api/plans/nope"), 404, "not_found")
    error_of(api.get("/api/executions/nope/steps"), 404, "not_found")
    execution_id = create_execution(api)["execution_id"]
    error_of(api.get(f"/api/executions/{execution_id}/steps/nope"), 404, "not_found")
    error_of(api.post(f"/api/executions/{execution_id}/pause"), 409, "invalid_state")

    anonymous = httpx.get(f"http://{server}/api/plans")
    error_of(anonymous, 401, "authentication_required")
    viewer = api.post("/api/v1/auth/keys", json={"name": "viewer", "role": "viewer"}).json()
    headers = {"Authorization": f"Bearer {viewer['key']}"}
    assert httpx.get(f"http://{server}/api/plans", headers=headers).status_code == 200
    refused = httpx.post(f"http://{server}/api/plans", json=CREATE_PLAN, headers=headers)
    error_of(refused, 403, "permission_denied")
