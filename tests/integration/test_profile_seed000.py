"""Seed 000 ("Harmonia API Reference", ``/api/workflows``…) replayed literally against a live
gunicorn server with a real worker: the document's request bodies and query strings, its status
codes, response fields, WebSocket and SSE messages, and every error it documents."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.api_support import ADMIN, reference_agent, timestamp, ws_collect

# -- the document's examples, as written --------------------------------------------------------

CREATE_WORKFLOW = {
    "name": "My Workflow",
    "description": "Example workflow",
    "tasks": {
        "task1": {
            "component": "ergon",
            "action": "execute_command",
            "input": {"command": "echo Hello World"},
        },
        "task2": {
            "component": "prometheus",
            "action": "analyze_results",
            "input": {"data": "${tasks.task1.output.result}"},
            "depends_on": ["task1"],
        },
    },
    "input": {"type": "object", "properties": {"param1": {"type": "string"}}},
    "output": {"type": "object", "properties": {"result": {"type": "string"}}},
}
EXECUTE = {
    "workflow_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "input": {"param1": "value1"},
    "metadata": {"source": "api", "priority": "high"},
}
CREATE_TEMPLATE = {
    "name": "Data Processing Template",
    "description": "Template for data processing workflows",
    "workflow_definition_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "parameters": {
        "data_source": {
            "type": "string",
            "required": True,
            "description": "Source of the data to process",
        },
        "format": {
            "type": "string",
            "required": False,
            "default": "json",
            "description": "Format of the data",
        },
        "processing_options": {
            "type": "object",
            "required": False,
            "default": {"normalize": True},
            "description": "Processing options",
        },
    },
}
INSTANTIATE = {
    "parameter_values": {
        "data_source": "s3://mybucket/data.csv",
        "format": "csv",
        "processing_options": {"normalize": True, "deduplicate": True},
    },
    "name": "My Data Processing Workflow",
}
SAVE_STATE = {
    "state": {
        "custom_data": {"key1": "value1", "key2": 42},
        "progress": 0.75,
        "processed_items": 150,
    }
}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed000_client.py"
ERROR_KEYS = {"type", "message", "details", "code", "request_id"}


@pytest.fixture(scope="module")
def prometheus():
    """The document's ``prometheus`` component: an A2A agent that answers with its input."""
    with reference_agent("prometheus", "--skill", "echo") as url:
        yield url


@pytest.fixture
def api(server, clean, prometheus):
    with httpx.Client(base_url=f"http://{server}", headers=ADMIN, timeout=30) as client:
        registered = client.post("/api/v1/agents", json={"name": "prometheus", "url": prometheus})
        assert registered.status_code == 201, registered.text
        yield client


def error_of(response, status: int, kind: str) -> dict[str, Any]:
    """The document's error body: ``{"error": {type, message, details, code, request_id}}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["type"] == kind, body
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    return body["error"]


def create_workflow(api, body: dict[str, Any] | None = None) -> str:
    response = api.post("/api/workflows", json=body or CREATE_WORKFLOW)
    assert response.status_code == 201, response.text
    return response.json()["workflow_id"]


def execute(api, workflow_id: str, body: dict[str, Any] | None = None) -> str:
    response = api.post("/api/executions", json={**(body or EXECUTE), "workflow_id": workflow_id})
    assert response.status_code == 202, response.text
    return response.json()["execution_id"]


def wait_for(api, execution_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = api.get(f"/api/executions/{execution_id}").json()
        if execution["status"] in statuses:
            return execution
        assert time.monotonic() < deadline, f"still {execution['status']}"
        time.sleep(0.1)


def sleepy(seconds: float) -> dict[str, Any]:
    """A workflow in the document's dialect whose second task takes a while."""
    body = copy.deepcopy(CREATE_WORKFLOW)
    body["name"] = f"Sleepy {seconds}"
    body["tasks"]["task2"] = {
        "component": "ergon",
        "action": "execute_command",
        "input": {"command": f"sleep {seconds}"},
        "depends_on": ["task1"],
    }
    return body


# -- workflows ------------------------------------------------------------------------------------


def test_workflow_create_get_update_list_delete_as_documented(api):
    created = api.post("/api/workflows", json=CREATE_WORKFLOW)
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"workflow_id", "name", "created_at"}
    assert created.json()["name"] == "My Workflow"
    timestamp(created.json()["created_at"])
    workflow_id = created.json()["workflow_id"]

    got = api.get(f"/api/workflows/{workflow_id}")
    assert got.status_code == 200
    workflow = got.json()
    assert workflow["id"] == workflow_id and workflow["name"] == "My Workflow"
    assert workflow["description"] == "Example workflow"
    assert workflow["tasks"] == CREATE_WORKFLOW["tasks"]
    assert workflow["input"] == CREATE_WORKFLOW["input"]
    assert workflow["output"] == CREATE_WORKFLOW["output"]
    timestamp(workflow["created_at"]), timestamp(workflow["updated_at"])

    updated_body = {**CREATE_WORKFLOW, "name": "My Workflow (Updated)"}
    updated_body["tasks"] = {**CREATE_WORKFLOW["tasks"]}
    updated_body["tasks"]["task1"] = {
        **CREATE_WORKFLOW["tasks"]["task1"],
        "input": {"command": "echo Hello Again"},
    }
    updated = api.put(f"/api/workflows/{workflow_id}", json=updated_body)
    assert updated.status_code == 200, updated.text
    assert set(updated.json()) == {"workflow_id", "name", "updated_at"}
    assert updated.json() | {"updated_at": None} == {
        "workflow_id": workflow_id,  # the same id, whatever versions it has
        "name": "My Workflow (Updated)",
        "updated_at": None,
    }
    again = api.get(f"/api/workflows/{workflow_id}").json()
    assert again["name"] == "My Workflow (Updated)"
    assert again["tasks"]["task1"]["input"] == {"command": "echo Hello Again"}

    other = create_workflow(api, {**CREATE_WORKFLOW, "name": "Another Workflow"})
    listed = api.get("/api/workflows")
    assert listed.status_code == 200
    page = listed.json()
    assert set(page) == {"workflows", "total", "limit", "offset"}
    assert (page["total"], page["limit"], page["offset"]) == (2, 100, 0)
    assert {w["id"] for w in page["workflows"]} == {workflow_id, other}
    assert set(page["workflows"][0]) == {"id", "name", "description", "created_at", "updated_at"}

    filtered = api.get("/api/workflows", params={"filter": "name:contains:updated"}).json()
    assert [w["id"] for w in filtered["workflows"]] == [workflow_id] and filtered["total"] == 1
    second = api.get("/api/workflows", params={"limit": 1, "offset": 1}).json()
    assert (second["total"], second["limit"], second["offset"]) == (2, 1, 1)
    assert len(second["workflows"]) == 1

    deleted = api.delete(f"/api/workflows/{workflow_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "message": "Workflow deleted successfully"}
    error_of(api.get(f"/api/workflows/{workflow_id}"), 404, "NotFoundError")
    error_of(api.delete(f"/api/workflows/{workflow_id}"), 404, "NotFoundError")


def test_workflow_errors_are_the_documented_ones(api):
    create_workflow(api)
    taken = error_of(api.post("/api/workflows", json=CREATE_WORKFLOW), 409, "ConflictError")
    assert "My Workflow" in taken["message"]

    missing_component = copy.deepcopy(CREATE_WORKFLOW)
    missing_component["name"] = "Broken"
    del missing_component["tasks"]["task1"]["component"]
    del missing_component["tasks"]["task1"]["action"]
    invalid = error_of(api.post("/api/workflows", json=missing_component), 400, "ValidationError")
    assert invalid["details"]["field"] == "tasks.task1"
    assert "component" in invalid["details"]["reason"]

    no_name = error_of(api.post("/api/workflows", json={"tasks": {}}), 400, "ValidationError")
    assert no_name["details"]["field"] == "name"
    malformed = api.post(
        "/api/workflows", content="{not json", headers={"Content-Type": "application/json"}
    )
    error_of(malformed, 400, "ValidationError")
    error_of(api.put("/api/workflows/nope", json=CREATE_WORKFLOW), 404, "NotFoundError")
    bad_filter = error_of(api.get("/api/workflows?filter=name"), 400, "ValidationError")
    assert bad_filter["details"]["field"] == "filter"
    error_of(api.get("/api/workflows?limit=0"), 400, "ValidationError")
    error_of(api.get("/api/workflows/nope/versions/extra"), 404, "NotFoundError")


def test_a_workflow_with_active_executions_cannot_be_deleted(api):
    workflow_id = create_workflow(api, sleepy(30))
    execution_id = execute(api, workflow_id)
    refused = error_of(api.delete(f"/api/workflows/{workflow_id}"), 409, "ConflictError")
    assert "active execution" in refused["message"]
    assert api.post(f"/api/executions/{execution_id}/cancel").status_code == 200
    wait_for(api, execution_id, {"canceled"})
    assert api.delete(f"/api/workflows/{workflow_id}").status_code == 200


# -- executions -----------------------------------------------------------------------------------


def test_an_execution_runs_and_reads_back_as_documented(api):
    workflow_id = create_workflow(api)
    accepted = api.post("/api/executions", json={**EXECUTE, "workflow_id": workflow_id})
    assert accepted.status_code == 202, accepted.text
    assert set(accepted.json()) == {"execution_id", "workflow_id", "status", "created_at"}
    assert accepted.json()["status"] == "pending"
    assert accepted.json()["workflow_id"] == workflow_id
    execution_id = accepted.json()["execution_id"]

    execution = wait_for(api, execution_id, {"completed", "failed"})
    assert execution["status"] == "completed", execution
    assert execution["execution_id"] == execution_id and execution["workflow_id"] == workflow_id
    assert execution["workflow_name"] == "My Workflow"
    assert timestamp(execution["start_time"]) <= timestamp(execution["end_time"])
    assert execution["input"] == {"param1": "value1"} and execution["error"] is None
    assert execution["metadata"] == EXECUTE["metadata"]
    task1, task2 = execution["task_statuses"]["task1"], execution["task_statuses"]["task2"]
    assert task1["status"] == task2["status"] == "completed"
    assert task1["output"]["result"] == "Hello World"
    assert timestamp(task1["end_time"]) <= timestamp(task2["start_time"])
    # task2 ran on the prometheus agent with task1's result as its input.
    assert execution["task_executions"]["task2"]["input"] == {"data": "Hello World"}

    listed = api.get(
        "/api/executions", params={"workflow_id": workflow_id, "status": "completed"}
    ).json()
    assert set(listed) == {"executions", "total", "limit", "offset"}
    assert listed["total"] == 1 and listed["limit"] == 100 and listed["offset"] == 0
    summary = listed["executions"][0]
    # Seed 004 lists executions on the same path: each item carries its fields too.
    assert set(summary) == {
        "execution_id",
        "workflow_id",
        "workflow_name",
        "status",
        "start_time",
        "end_time",
    } | {"name", "created_at", "completed_at", "tags"}
    assert summary["end_time"] == summary["completed_at"]
    assert summary["execution_id"] == execution_id and summary["status"] == "completed"
    assert api.get("/api/executions", params={"status": "running"}).json()["total"] == 0
    # The same run through the canonical API, in its vocabulary.
    assert api.get(f"/api/v1/runs/{execution_id}").json()["status"] == "COMPLETED"


def test_pause_resume_and_cancel_with_their_conflicts(api):
    body = sleepy(1.5)
    body["tasks"]["task3"] = {  # still to run after the pause
        "component": "ergon",
        "action": "execute_command",
        "input": {"command": "sleep 30"},
        "depends_on": ["task2"],
    }
    workflow_id = create_workflow(api, body)
    execution_id = execute(api, workflow_id)
    wait_for(api, execution_id, {"running"})

    paused = api.post(f"/api/executions/{execution_id}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json() == {"success": True, "execution_id": execution_id, "status": "paused"}
    # "paused" covers the moments the running task still finishes (PAUSING); once it has,
    # pausing again is a conflict.
    deadline = time.monotonic() + 30
    while api.get(f"/api/v1/runs/{execution_id}").json()["status"] != "PAUSED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert api.get(f"/api/executions/{execution_id}").json()["status"] == "paused"
    error_of(api.post(f"/api/executions/{execution_id}/pause"), 409, "ConflictError")

    resumed = api.post(f"/api/executions/{execution_id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["success"] is True and resumed.json()["status"] == "running"
    error_of(api.post(f"/api/executions/{execution_id}/resume"), 409, "ConflictError")

    cancelled = api.post(f"/api/executions/{execution_id}/cancel", json={"reason": "no longer"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {
        "success": True,
        "execution_id": execution_id,
        "status": "canceled",
    }
    final = wait_for(api, execution_id, {"canceled"})
    assert final["end_time"] is not None or final["status"] == "canceled"
    conflict = error_of(api.post(f"/api/executions/{execution_id}/cancel"), 409, "ConflictError")
    assert "cancel" in conflict["message"]
    assert api.get("/api/executions", params={"status": "canceled"}).json()["total"] == 1
    assert api.get(f"/api/v1/runs/{execution_id}").json()["cancelled_by"] is not None


def test_execution_errors_are_the_documented_ones(api):
    workflow_id = create_workflow(api)
    error_of(api.post("/api/executions", json=EXECUTE), 404, "NotFoundError")  # its id is made up
    bad_input = {**EXECUTE, "workflow_id": workflow_id, "input": {"param1": 7}}
    invalid = error_of(api.post("/api/executions", json=bad_input), 400, "ValidationError")
    assert invalid["details"]["field"].endswith("param1")
    error_of(api.post("/api/executions", json={"input": {}}), 400, "ValidationError")
    for path in ("", "/cancel", "/pause", "/resume"):
        method = api.get if path == "" else api.post
        missing = error_of(method(f"/api/executions/nope{path}"), 404, "NotFoundError")
        assert missing["message"] == "Execution with id 'nope' not found"
        assert missing["details"] == {"resource": "execution", "id": "nope"}
    error_of(api.get("/api/executions?status=RUNNING"), 400, "ValidationError")


# -- templates ------------------------------------------------------------------------------------


def test_templates_create_get_instantiate_list_as_documented(api):
    workflow_id = create_workflow(api)
    body = {**CREATE_TEMPLATE, "workflow_definition_id": workflow_id}
    created = api.post("/api/templates", json=body)
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"template_id", "name", "created_at"}
    template_id = created.json()["template_id"]
    error_of(api.post("/api/templates", json=body), 409, "ConflictError")

    template = api.get(f"/api/templates/{template_id}").json()
    assert template["id"] == template_id and template["name"] == CREATE_TEMPLATE["name"]
    assert template["description"] == CREATE_TEMPLATE["description"]
    assert template["workflow_definition_id"] == workflow_id
    assert template["parameters"] == CREATE_TEMPLATE["parameters"]
    timestamp(template["created_at"]), timestamp(template["updated_at"])

    made = api.post(f"/api/templates/{template_id}/instantiate", json=INSTANTIATE)
    assert made.status_code == 201, made.text
    assert set(made.json()) == {"workflow_id", "template_id", "name", "created_at"}
    assert made.json()["name"] == "My Data Processing Workflow"
    assert made.json()["template_id"] == template_id
    instance = made.json()["workflow_id"]
    assert api.get(f"/api/workflows/{instance}").json()["tasks"] == CREATE_WORKFLOW["tasks"]
    execution = wait_for(api, execute(api, instance), {"completed", "failed"})
    assert execution["status"] == "completed", execution

    listed = api.get("/api/templates").json()
    assert set(listed) == {"templates", "total", "limit", "offset"}
    assert listed["total"] == 1 and listed["templates"][0]["id"] == template_id
    assert set(listed["templates"][0]) == {"id", "name", "description", "created_at", "updated_at"}


def test_template_errors_are_the_documented_ones(api):
    error_of(api.post("/api/templates", json=CREATE_TEMPLATE), 404, "NotFoundError")
    workflow_id = create_workflow(api)
    bad = {**CREATE_TEMPLATE, "workflow_definition_id": workflow_id, "parameters": {"x": 1}}
    error_of(api.post("/api/templates", json=bad), 400, "ValidationError")
    error_of(api.get("/api/templates/nope"), 404, "NotFoundError")
    error_of(api.post("/api/templates/nope/instantiate", json=INSTANTIATE), 404, "NotFoundError")
    body = {**CREATE_TEMPLATE, "workflow_definition_id": workflow_id}
    template_id = api.post("/api/templates", json=body).json()["template_id"]
    no_source = {"parameter_values": {"format": "csv"}, "name": "x"}
    invalid = error_of(
        api.post(f"/api/templates/{template_id}/instantiate", json=no_source),
        400,
        "ValidationError",
    )
    assert invalid["details"]["field"] == "parameter_values.data_source"


# -- checkpoints and state ------------------------------------------------------------------------


def test_checkpoint_of_a_running_execution_and_restore_as_documented(api):
    workflow_id = create_workflow(api, sleepy(2))
    execution_id = execute(api, workflow_id)
    deadline = time.monotonic() + 30
    while (
        api.get(f"/api/executions/{execution_id}").json()["task_statuses"]["task2"]["status"]
        != "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    created = api.post("/api/checkpoints", json={"execution_id": execution_id})
    assert created.status_code == 201, created.text
    checkpoint = created.json()
    assert set(checkpoint) == {
        "checkpoint_id",
        "execution_id",
        "created_at",
        "workflow_status",
        "completed_tasks",
    }
    assert checkpoint["execution_id"] == execution_id
    assert checkpoint["workflow_status"] == "running"
    assert checkpoint["completed_tasks"] == ["task1"]
    checkpoint_id = checkpoint["checkpoint_id"]

    got = api.get(f"/api/checkpoints/{checkpoint_id}").json()
    assert got["id"] == checkpoint_id and got["execution_id"] == execution_id
    assert got["workflow_status"] == "running"
    assert got["task_statuses"] == {"task1": "completed", "task2": "running"}
    assert got["completed_tasks"] == ["task1"]
    assert got["state_data"]["task_results"]["task1"]["result"] == "Hello World"
    assert got["state_data"]["input"] == {"param1": "value1"}

    listed = api.get("/api/checkpoints", params={"execution_id": execution_id}).json()
    assert set(listed) == {"checkpoints", "total", "limit", "offset"}
    assert listed["total"] == 1
    assert set(listed["checkpoints"][0]) == {
        "id",
        "execution_id",
        "created_at",
        "workflow_status",
    }

    restored = api.post(f"/api/checkpoints/{checkpoint_id}/restore")
    assert restored.status_code == 201, restored.text
    assert set(restored.json()) == {
        "execution_id",
        "original_execution_id",
        "checkpoint_id",
        "status",
    }
    assert restored.json()["original_execution_id"] == execution_id
    assert restored.json()["checkpoint_id"] == checkpoint_id
    assert restored.json()["status"] in {"pending", "running"}
    new_id = restored.json()["execution_id"]
    assert new_id != execution_id
    original = wait_for(api, execution_id, {"completed"})
    again = wait_for(api, new_id, {"completed", "failed"})
    assert again["status"] == "completed", again
    # task1 was carried over, not run again: same times as in the original execution.
    assert again["task_statuses"]["task1"] == original["task_statuses"]["task1"]

    error_of(api.post("/api/checkpoints", json={"execution_id": "nope"}), 404, "NotFoundError")
    error_of(api.post("/api/checkpoints", json={}), 400, "ValidationError")
    error_of(api.get("/api/checkpoints/nope"), 404, "NotFoundError")
    error_of(api.post("/api/checkpoints/nope/restore"), 404, "NotFoundError")


def test_state_save_and_load_as_documented(api):
    workflow_id = create_workflow(api)
    execution_id = execute(api, workflow_id)
    missing = error_of(api.get(f"/api/state/{execution_id}"), 404, "NotFoundError")
    assert "No state" in missing["message"]

    saved = api.put(f"/api/state/{execution_id}", json=SAVE_STATE)
    assert saved.status_code == 200, saved.text
    assert set(saved.json()) == {"success", "execution_id", "timestamp"}
    assert saved.json()["success"] is True and saved.json()["execution_id"] == execution_id
    loaded = api.get(f"/api/state/{execution_id}")
    assert loaded.status_code == 200
    assert loaded.json() == {
        "state": SAVE_STATE["state"],
        "last_updated": saved.json()["timestamp"],
    }

    error_of(api.put("/api/state/nope", json=SAVE_STATE), 404, "NotFoundError")
    error_of(api.get("/api/state/nope"), 404, "NotFoundError")
    error_of(api.put(f"/api/state/{execution_id}", json={"state": [1]}), 400, "ValidationError")


# -- authentication -------------------------------------------------------------------------------


def test_authentication_and_authorization_errors_in_the_documents_format(api, server):
    anonymous = httpx.post(f"http://{server}/api/workflows", json=CREATE_WORKFLOW)
    error_of(anonymous, 401, "AuthenticationError")
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = httpx.get(
        f"http://{server}/api/executions", headers={"Authorization": "Bearer not-a-key"}
    )
    error_of(wrong, 401, "AuthenticationError")
    viewer = api.post("/api/v1/auth/keys", json={"name": "viewer", "role": "viewer"}).json()
    headers = {"Authorization": f"Bearer {viewer['key']}"}
    assert httpx.get(f"http://{server}/api/workflows", headers=headers).status_code == 200
    refused = httpx.post(f"http://{server}/api/workflows", json=CREATE_WORKFLOW, headers=headers)
    error_of(refused, 403, "AuthorizationError")


# -- WebSocket and SSE ----------------------------------------------------------------------------


def test_websocket_events_and_ping_as_documented(api, server):
    execution_id = execute(api, create_workflow(api))
    got = ws_collect(
        f"ws://{server}/ws/executions/{execution_id}",
        send=({"type": "ping"},),
        until=lambda got: got[-1].get("event_type") == "workflow_completed",
        timeout=60,
    )
    pong = next(m for m in got if m.get("type") == "pong")
    timestamp(pong["timestamp"])
    events = [m for m in got if "event_type" in m]
    assert events[-1]["event_type"] == "workflow_completed"
    started = next(
        e for e in events if e["event_type"] == "task_started" and e["task_id"] == "task2"
    )
    assert started["execution_id"] == execution_id
    timestamp(started["timestamp"])
    assert started["details"]["task_name"] == "task2"
    completed = next(e for e in events if e["event_type"] == "task_completed")
    assert {"duration", "output_size"} <= set(completed["details"])
    assert completed["message"].startswith("Task 'task1' completed")


def test_sse_events_as_documented(api, server):
    execution_id = execute(api, create_workflow(api))
    url = f"http://{server}/events/executions/{execution_id}"
    seen: list[tuple[str, dict]] = []
    with httpx.stream("GET", url, headers=ADMIN, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith((":", "retry:")):
                continue
            if line == "":
                if "data" in current:
                    seen.append((current["event"], json.loads(current["data"])))
                current = {}
                continue
            key, _, value = line.partition(": ")
            current[key] = value
    names = [name for name, _ in seen]
    assert {"task_started", "task_completed"} <= set(names)
    assert names[-1] == "workflow_completed"
    for name, data in seen:
        assert data["execution_id"] == execution_id
        timestamp(data["timestamp"])
        if name.startswith("task_"):
            assert data["task_id"] in {"task1", "task2"}
    missing = httpx.get(f"http://{server}/events/executions/nope", headers=ADMIN)
    error_of(missing, 404, "NotFoundError")


# -- a client written from the document alone -----------------------------------------------------


def test_the_example_client_runs_to_completion(api, server):
    token = api.post("/api/v1/auth/keys", json={"name": "client", "role": "operator"}).json()
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        env={**os.environ, "HARMONIA_URL": f"http://{server}", "HARMONIA_TOKEN": token["key"]},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Final status: completed" in result.stdout and result.stdout.rstrip().endswith("done")
