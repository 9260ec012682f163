"""Seed 001 ("Harmonia API Reference", ``/api/harmonia/...``) replayed literally against a live
gunicorn server with a real worker: the document's request bodies and query strings, its response
fields, its WebSocket and SSE messages, and every error code in its table that a client can
provoke.

The document's components are ``ergon`` (an alias of the ``cli`` integration) and the agents
``sophia`` and ``rhetor``, played here by the reference A2A agent answering with its input.
"""

from __future__ import annotations

import contextlib
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
from flask.testing import FlaskClient
from simple_websocket import Client, ConnectionClosed
from simple_websocket.errors import ConnectionError as HandshakeRefused

from tests.integration.api_support import (
    ADMIN,
    ADMIN_KEY,
    admin_app,
    assert_retry_after,
    free_port,
    reference_agent,
    timestamp,
    ws_collect,
)

# -- the document's examples, as written --------------------------------------------------------

CREATE_WORKFLOW: dict[str, Any] = {
    "name": "data_processing_workflow",
    "description": "Process and analyze data files",
    "version": "1.0.0",
    "tasks": {
        "fetch_data": {
            "name": "fetch_data",
            "component": "ergon",
            "action": "execute_command",
            "input": {
                "command": "curl -o ${workflow.input.output_file} ${workflow.input.data_url}"
            },
        },
        "process_data": {
            "name": "process_data",
            "component": "sophia",
            "action": "analyze_data",
            "input": {
                "file_path": "${workflow.input.output_file}",
                "analysis_type": "${workflow.input.analysis_type}",
            },
            "depends_on": ["fetch_data"],
        },
        "generate_report": {
            "name": "generate_report",
            "component": "rhetor",
            "action": "generate_content",
            "input": {"template": "report", "data": "${tasks.process_data.output.results}"},
            "depends_on": ["process_data"],
        },
    },
    "input_schema": {
        "data_url": {"type": "string", "format": "uri", "description": "URL to the data file"},
        "output_file": {"type": "string", "description": "Path to save the downloaded file"},
        "analysis_type": {
            "type": "string",
            "enum": ["basic", "detailed", "comprehensive"],
            "default": "basic",
            "description": "Type of analysis to perform",
        },
    },
}
UPDATE_WORKFLOW = {
    "name": "data_processing_workflow_v2",
    "description": "Updated data processing workflow",
    "version": "1.1.0",
    # The document writes "{ ... }" here: the definition being updated.
    "tasks": CREATE_WORKFLOW["tasks"],
    "input_schema": CREATE_WORKFLOW["input_schema"],
}
LIST_QUERY = "?page=1&limit=20&sort_by=created_at&sort_order=desc"
EXECUTE: dict[str, Any] = {
    "workflow_id": "wf-123e4567-e89b-12d3-a456-426614174000",
    "input": {
        "data_url": "https://example.com/data.csv",
        "output_file": "/tmp/data.csv",
        "analysis_type": "detailed",
    },
    "execution_options": {
        "async": True,
        "timeout": 3600,
        "retry_policy": {"max_retries": 3, "retry_interval": 5},
    },
}
CREATE_TEMPLATE: dict[str, Any] = {
    "name": "data_processing_template",
    "description": "Template for data processing workflows",
    "workflow_id": "wf-123e4567-e89b-12d3-a456-426614174000",
    "parameters": {
        "data_url": {
            "type": "string",
            "format": "uri",
            "description": "URL to the data file",
            "required": True,
        },
        "output_file": {
            "type": "string",
            "description": "Path to save the downloaded file",
            "required": True,
        },
        "analysis_type": {
            "type": "string",
            "enum": ["basic", "detailed", "comprehensive"],
            "default": "basic",
            "description": "Type of analysis to perform",
        },
    },
}
INSTANTIATE = {
    "name": "monthly_data_processing",
    "description": "January 2025 data processing workflow",
    "parameter_values": {
        "data_url": "https://example.com/data/jan2025.csv",
        "output_file": "/tmp/jan2025.csv",
        "analysis_type": "comprehensive",
    },
}
CHECKPOINT = {
    "execution_id": "exec-123e4567-e89b-12d3-a456-426614174000",
    "name": "mid-processing-checkpoint",
    "description": "Checkpoint before report generation",
}
RESTORE = {
    "checkpoint_id": "cp-123e4567-e89b-12d3-a456-426614174000",
    "execution_options": {"async": True, "timeout": 1800},
}

API = "/api/harmonia"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed001_client.py"
WORKFLOW_KEYS = {
    "workflow_id",
    "name",
    "description",
    "version",
    "created_at",
    "updated_at",
    "tasks",
    "input_schema",
}
TASK_KEYS = {"task_name", "task_index", "total_tasks"}


def offline(command: str, name: str = "data_processing_workflow") -> dict[str, Any]:
    """The document's workflow with ``fetch_data``'s ``curl`` (no internet here) replaced by an
    offline ``command``: everything else, agents included, is as written."""
    body = copy.deepcopy(CREATE_WORKFLOW)
    body["name"] = name
    body["tasks"]["fetch_data"]["input"]["command"] = command
    return body


def fetching(seconds: float = 0) -> str:
    """Stands in for ``curl -o FILE URL``: writes the URL into the file, reporting progress."""
    return (
        f"sh -c \"sleep {seconds}; echo '::progress 0.5 Downloading'; "
        'echo ${workflow.input.data_url} > ${workflow.input.output_file}"'
    )


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agents():
    """The document's ``sophia`` and ``rhetor``: A2A agents that answer with their input."""
    with (
        reference_agent("sophia", "--skill", "echo") as sophia,
        reference_agent("rhetor", "--skill", "echo") as rhetor,
    ):
        yield {"sophia": sophia, "rhetor": rhetor}


@pytest.fixture
def api(server, clean, agents):
    with httpx.Client(base_url=f"http://{server}", headers=ADMIN, timeout=30) as client:
        for name, url in agents.items():
            registered = client.post("/api/v1/agents", json={"name": name, "url": url})
            assert registered.status_code == 201, registered.text
        yield client


def error_of(response, status: int, code: str) -> dict[str, Any]:
    """The document's error body: ``{"error": {"code", "message", "details"}}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"] and isinstance(body["error"]["details"], dict), body
    return body["error"]


def create_workflow(api, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(f"{API}/workflows", json=body or CREATE_WORKFLOW)
    assert response.status_code == 201, response.text
    return response.json()


def execute(api, workflow_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(f"{API}/executions", json={**(body or EXECUTE), "workflow_id": workflow_id})
    assert response.status_code == 202, response.text
    return response.json()


def wait_for(api, execution_id: str, until, timeout: float = 60) -> dict[str, Any]:
    """The execution, polled until ``until(execution)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        execution = api.get(f"{API}/executions/{execution_id}").json()
        if until(execution):
            return execution
        assert time.monotonic() < deadline, f"gave up waiting: {execution}"
        time.sleep(0.1)


def finished(execution: dict[str, Any]) -> bool:
    return execution["status"] in {"completed", "failed", "cancelled"}


def ws_messages(url: str, until: str, headers=None, timeout: float = 60) -> list[dict[str, Any]]:
    """Messages of a run's socket up to the first of type ``until`` (or until it closes)."""
    return ws_collect(
        url, headers=headers or {}, until=lambda got: got[-1]["type"] == until, timeout=timeout
    )


def sse_events(url: str, headers=None, timeout: float = 60) -> list[dict[str, Any]]:
    """``{id, event, data}`` of every event of a finished run's SSE stream."""
    events: list[dict[str, Any]] = []
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith((":", "retry:")):
                continue
            if line == "":
                if "data" in current:
                    events.append({**current, "data": json.loads(current["data"])})
                current = {}
                continue
            key, _, value = line.partition(": ")
            current[key] = value
    return events


# -- workflows ------------------------------------------------------------------------------------


def test_workflow_create_get_update_delete_as_documented(api):
    created = api.post(f"{API}/workflows", json=CREATE_WORKFLOW)
    assert created.status_code == 201, created.text
    workflow = created.json()
    assert set(workflow) == WORKFLOW_KEYS
    assert workflow["name"] == "data_processing_workflow"
    assert workflow["description"] == "Process and analyze data files"
    assert workflow["version"] == "1.0.0"
    assert workflow["tasks"] == CREATE_WORKFLOW["tasks"]
    assert workflow["input_schema"] == CREATE_WORKFLOW["input_schema"]  # enum and default kept
    timestamp(workflow["created_at"]), timestamp(workflow["updated_at"])
    workflow_id = workflow["workflow_id"]

    got = api.get(f"{API}/workflows/{workflow_id}")
    assert got.status_code == 200 and got.json() == workflow

    updated = api.put(f"{API}/workflows/{workflow_id}", json=UPDATE_WORKFLOW)
    assert updated.status_code == 200, updated.text
    assert set(updated.json()) == WORKFLOW_KEYS
    assert {k: updated.json()[k] for k in ("workflow_id", "name", "description", "version")} == {
        "workflow_id": workflow_id,
        "name": "data_processing_workflow_v2",
        "description": "Updated data processing workflow",
        "version": "1.1.0",
    }
    assert timestamp(updated.json()["updated_at"]) > timestamp(workflow["updated_at"])
    assert (
        updated.json()["created_at"] == workflow["created_at"]
    )  # the workflow's, not the version's
    assert api.get(f"{API}/workflows/{workflow_id}").json() == updated.json()

    # A new definition without a version: the minor number goes up.
    changed = copy.deepcopy(UPDATE_WORKFLOW)
    del changed["version"]
    changed["tasks"]["fetch_data"]["input"]["command"] = "echo fetched"
    bumped = api.put(f"{API}/workflows/{workflow_id}", json=changed).json()
    assert bumped["version"] == "1.2.0" and bumped["workflow_id"] == workflow_id
    assert bumped["tasks"]["fetch_data"]["input"] == {"command": "echo fetched"}

    deleted = api.delete(f"{API}/workflows/{workflow_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "message": "Workflow deleted successfully"}
    error_of(api.get(f"{API}/workflows/{workflow_id}"), 404, "workflow_not_found")


def test_workflow_list_pages_and_sorts(api):
    ids = [
        create_workflow(api, {**CREATE_WORKFLOW, "name": f"wf-{i}"})["workflow_id"]
        for i in range(3)
    ]
    listed = api.get(f"{API}/workflows{LIST_QUERY}")
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"items", "total", "page", "limit"}
    assert (body["total"], body["page"], body["limit"]) == (3, 1, 20)
    assert [item["workflow_id"] for item in body["items"]] == ids[::-1]  # newest first
    assert set(body["items"][0]) == WORKFLOW_KEYS - {"tasks", "input_schema"}
    assert body["items"][0]["version"] == "1.0.0"

    second = api.get(f"{API}/workflows?page=2&limit=2&sort_by=name&sort_order=asc").json()
    assert (second["total"], second["page"], second["limit"]) == (3, 2, 2)
    assert [item["name"] for item in second["items"]] == ["wf-2"]
    assert api.get(f"{API}/workflows").json()["limit"] == 20  # the documented default


# -- executions -----------------------------------------------------------------------------------


def test_execute_as_documented_then_cancel(api):
    """The document's execution, as written, is accepted, echoed, cancelled and listed. Its
    ``curl`` fails at once without internet, so the cancel may find the run already over."""
    workflow = create_workflow(api)
    accepted = api.post(
        f"{API}/executions", json={**EXECUTE, "workflow_id": workflow["workflow_id"]}
    )
    assert accepted.status_code == 202, accepted.text
    execution = accepted.json()
    assert set(execution) == {
        "execution_id",
        "workflow_id",
        "status",
        "created_at",
        "updated_at",
        "input",
        "execution_options",
    }
    assert execution["workflow_id"] == workflow["workflow_id"]
    assert execution["status"] == "pending"
    assert execution["input"] == EXECUTE["input"]
    assert execution["execution_options"] == EXECUTE["execution_options"]
    timestamp(execution["created_at"]), timestamp(execution["updated_at"])
    execution_id = execution["execution_id"]

    cancelled = api.post(f"{API}/executions/{execution_id}/cancel")
    if cancelled.status_code == 409:  # the fetch already failed (or, online, all went through)
        error_of(cancelled, 409, "conflict")
        assert wait_for(api, execution_id, finished)["status"] in {"failed", "completed"}
    else:
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["success"] is True
        assert cancelled.json()["message"] == "Execution cancellation requested"
        assert cancelled.json()["execution_id"] == execution_id
        assert cancelled.json()["status"] in {"cancelling", "cancelled"}
        assert wait_for(api, execution_id, finished)["status"] == "cancelled"

    listed = api.get(
        f"{API}/executions?workflow_id={workflow['workflow_id']}&page=1&limit=20"
    ).json()
    assert (listed["total"], listed["page"], listed["limit"]) == (1, 1, 20)
    assert set(listed["items"][0]) == {
        "execution_id",
        "workflow_id",
        "status",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
    }
    assert listed["items"][0]["execution_id"] == execution_id
    assert listed["items"][0]["status"] in {"cancelled", "failed", "completed"}


def test_a_running_execution_shows_progress_and_cancels_as_documented(api, tmp_path):
    workflow = create_workflow(api, offline("sleep 30"))
    execution_id = execute(api, workflow["workflow_id"])["execution_id"]
    running = wait_for(
        api, execution_id, lambda e: e["task_status"]["fetch_data"]["status"] == "running"
    )
    assert running["status"] == "running"
    assert running["progress"] == {
        "completed_tasks": 0,
        "total_tasks": 3,
        "current_task": "fetch_data",
    }
    assert list(running["task_status"]) == ["fetch_data", "process_data", "generate_report"]
    fetch = running["task_status"]["fetch_data"]
    assert timestamp(fetch["started_at"]) and fetch["completed_at"] is None
    assert "output" not in fetch
    assert running["task_status"]["generate_report"] == {
        "status": "pending",
        "started_at": None,
        "completed_at": None,
    }
    timestamp(running["started_at"])
    assert running["completed_at"] is None
    in_list = api.get(f"{API}/executions?status=running").json()
    assert [item["execution_id"] for item in in_list["items"]] == [execution_id]

    cancelled = api.post(f"{API}/executions/{execution_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {
        "success": True,
        "message": "Execution cancellation requested",
        "execution_id": execution_id,
        "status": "cancelling",  # its command is being stopped
    }
    final = wait_for(api, execution_id, finished)
    assert final["status"] == "cancelled"
    assert api.get(f"{API}/executions?status=cancelled").json()["total"] == 1
    assert api.get(f"{API}/executions?status=running").json()["total"] == 0
    error_of(api.post(f"{API}/executions/{execution_id}/cancel"), 409, "conflict")


def test_an_execution_runs_to_completion_with_its_events_on_websocket_and_sse(
    api, server, tmp_path
):
    output_file = tmp_path / "data.csv"
    workflow = create_workflow(api, offline(fetching()))
    body = copy.deepcopy(EXECUTE)
    body["input"]["output_file"] = str(output_file)
    execution_id = execute(api, workflow["workflow_id"], body)["execution_id"]

    # The document's query-parameter authentication.
    url = f"ws://{server}/ws/harmonia/executions/{execution_id}?api_key={ADMIN_KEY}"
    messages = ws_messages(url, until="execution_completed")
    assert messages, "no message on the socket"
    for message in messages:
        assert set(message) == {"type", "timestamp", "execution_id", "data", "event_id"}, message
        assert message["execution_id"] == execution_id
        timestamp(message["timestamp"])
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "execution_started" and kinds[-1] == "execution_completed"
    started = messages[0]["data"]
    assert started["workflow_id"] == workflow["workflow_id"]
    assert started["workflow_name"] == "data_processing_workflow"

    task_started = [m["data"] for m in messages if m["type"] == "task_started"]
    assert [(d["task_name"], d["task_index"], d["total_tasks"]) for d in task_started] == [
        ("fetch_data", 0, 3),
        ("process_data", 1, 3),
        ("generate_report", 2, 3),
    ]
    progress = next(m["data"] for m in messages if m["type"] == "task_progress")
    assert (progress["task_name"], progress["progress"], progress["message"]) == (
        "fetch_data",
        0.5,
        "Downloading",
    )
    task_completed = [m["data"] for m in messages if m["type"] == "task_completed"]
    assert [d["task_name"] for d in task_completed] == [
        "fetch_data",
        "process_data",
        "generate_report",
    ]
    assert all(TASK_KEYS | {"output"} <= set(d) for d in task_completed)
    assert task_completed[1]["output"] == {
        "file_path": str(output_file),
        "analysis_type": "detailed",
    }
    done = messages[-1]["data"]
    assert done["workflow_id"] == workflow["workflow_id"]
    assert done["workflow_name"] == "data_processing_workflow"
    assert isinstance(done["duration_seconds"], int | float) and done["duration_seconds"] >= 0
    assert "output" in done
    assert output_file.read_text().strip() == "https://example.com/data.csv"

    execution = wait_for(api, execution_id, finished)
    assert execution["status"] == "completed"
    assert execution["progress"] == {"completed_tasks": 3, "total_tasks": 3, "current_task": None}
    for task_id, task in execution["task_status"].items():
        assert task["status"] == "completed", task_id
        assert timestamp(task["completed_at"]) >= timestamp(task["started_at"])
        assert "output" in task
    timestamp(execution["completed_at"])
    listed = api.get(f"{API}/executions?status=completed&page=1&limit=20").json()
    assert [item["execution_id"] for item in listed["items"]] == [execution_id]

    # SSE: ``event: <type>`` and ``data:`` the same payload as the socket's (a header key too).
    events = sse_events(
        f"http://{server}/events/harmonia/executions/{execution_id}",
        headers={"X-API-Key": ADMIN_KEY},
    )
    by_id = {m["event_id"]: m for m in messages}
    for event in events:
        if int(event["id"]) in by_id:
            assert event["event"] == by_id[int(event["id"])]["type"]
            assert event["data"] == by_id[int(event["id"])]["data"]
    started_event = next(e for e in events if e["event"] == "task_started")
    assert set(started_event["data"]) >= TASK_KEYS
    assert [e["event"] for e in events if e["event"] in kinds] == kinds


def test_a_failing_task_reports_task_failed(api, server):
    workflow = create_workflow(api, offline("ls /nonexistent/data.csv"))
    execution_id = execute(api, workflow["workflow_id"])["execution_id"]
    messages = ws_messages(
        f"ws://{server}/ws/harmonia/executions/{execution_id}",
        until="execution_failed",
        headers={"X-API-Key": ADMIN_KEY},  # the header form
    )
    failed = next(m["data"] for m in messages if m["type"] == "task_failed")
    assert failed["task_name"] == "fetch_data"
    assert failed["error"] and isinstance(failed["error_details"], dict)
    assert (failed["retry_count"], failed["max_retries"]) == (0, 0)
    execution = wait_for(api, execution_id, finished)
    assert execution["status"] == "failed"
    assert execution["task_status"]["fetch_data"]["status"] == "failed"
    assert execution["task_status"]["process_data"]["status"] != "completed"
    assert api.get(f"{API}/executions?status=failed").json()["total"] == 1


# -- pause, checkpoint, restore, resume -----------------------------------------------------------


def test_checkpoint_of_a_paused_execution_restores_as_documented(api, tmp_path):
    body = copy.deepcopy(EXECUTE)
    body["input"]["output_file"] = str(tmp_path / "data.csv")
    workflow = create_workflow(api, offline(fetching(seconds=2)))
    execution_id = execute(api, workflow["workflow_id"], body)["execution_id"]
    wait_for(api, execution_id, lambda e: e["task_status"]["fetch_data"]["status"] == "running")

    paused = api.post(f"{API}/executions/{execution_id}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["success"] is True and paused.json()["execution_id"] == execution_id
    assert paused.json()["status"] in {"pausing", "paused"}
    original = wait_for(api, execution_id, lambda e: e["status"] == "paused")
    assert original["task_status"]["fetch_data"]["status"] == "completed"
    assert original["progress"]["completed_tasks"] == 1

    checkpoint = api.post(
        f"{API}/state/checkpoints", json={**CHECKPOINT, "execution_id": execution_id}
    )
    assert checkpoint.status_code == 201, checkpoint.text
    saved = checkpoint.json()
    assert set(saved) == {
        "checkpoint_id",
        "execution_id",
        "workflow_id",
        "name",
        "description",
        "created_at",
        "task_states",
    }
    assert (saved["execution_id"], saved["workflow_id"]) == (execution_id, workflow["workflow_id"])
    assert (saved["name"], saved["description"]) == (CHECKPOINT["name"], CHECKPOINT["description"])
    assert saved["task_states"]["fetch_data"]["status"] == "completed"
    assert "output" in saved["task_states"]["fetch_data"]
    assert saved["task_states"]["process_data"] == {"status": "pending"}
    assert saved["task_states"]["generate_report"] == {"status": "pending"}
    assert api.get(f"{API}/state/checkpoints/{saved['checkpoint_id']}").json() == saved
    listed = api.get(f"{API}/state/checkpoints?execution_id={execution_id}&page=1&limit=20")
    assert [c["checkpoint_id"] for c in listed.json()["items"]] == [saved["checkpoint_id"]]

    restored = api.post(
        f"{API}/state/restore", json={**RESTORE, "checkpoint_id": saved["checkpoint_id"]}
    )
    assert restored.status_code == 202, restored.text
    run = restored.json()
    assert {
        "execution_id",
        "checkpoint_id",
        "workflow_id",
        "status",
        "created_at",
        "updated_at",
        "started_at",
        "task_status",
    } <= set(run)
    assert run["execution_id"] != execution_id
    assert (run["checkpoint_id"], run["workflow_id"]) == (
        saved["checkpoint_id"],
        workflow["workflow_id"],
    )
    assert run["execution_options"] == RESTORE["execution_options"]
    carried = run["task_status"]["fetch_data"]
    assert carried["status"] == "completed"
    assert carried["started_at"] == original["task_status"]["fetch_data"]["started_at"]
    assert carried["completed_at"] == original["task_status"]["fetch_data"]["completed_at"]
    assert carried["output"] == original["task_status"]["fetch_data"]["output"]
    assert run["task_status"]["generate_report"]["status"] in {"pending", "running", "completed"}

    again = wait_for(api, run["execution_id"], finished)
    assert again["status"] == "completed"
    assert again["task_status"]["fetch_data"]["started_at"] == carried["started_at"]

    resumed = api.post(f"{API}/executions/{execution_id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] in {"pending", "running"}
    assert wait_for(api, execution_id, finished)["status"] == "completed"
    error_of(api.post(f"{API}/executions/{execution_id}/pause"), 409, "conflict")
    error_of(api.post(f"{API}/executions/{execution_id}/resume"), 409, "conflict")


# -- templates ------------------------------------------------------------------------------------


def test_template_create_instantiate_as_documented(api):
    workflow = create_workflow(api)
    created = api.post(
        f"{API}/templates", json={**CREATE_TEMPLATE, "workflow_id": workflow["workflow_id"]}
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert set(template) == {
        "template_id",
        "name",
        "description",
        "workflow_id",
        "created_at",
        "updated_at",
        "parameters",
    }
    assert template["name"] == "data_processing_template"
    assert template["description"] == "Template for data processing workflows"
    assert template["workflow_id"] == workflow["workflow_id"]
    assert template["parameters"] == CREATE_TEMPLATE["parameters"]
    assert api.get(f"{API}/templates/{template['template_id']}").json() == template
    listed = api.get(f"{API}/templates?page=1&limit=20").json()
    assert [t["template_id"] for t in listed["items"]] == [template["template_id"]]

    instance = api.post(f"{API}/templates/{template['template_id']}/instantiate", json=INSTANTIATE)
    assert instance.status_code == 201, instance.text
    made = instance.json()
    assert WORKFLOW_KEYS | {"template_id"} <= set(made)
    assert made["workflow_id"] != workflow["workflow_id"]
    assert made["template_id"] == template["template_id"]
    assert made["name"] == "monthly_data_processing"
    assert made["description"] == "January 2025 data processing workflow"
    assert made["tasks"] == CREATE_WORKFLOW["tasks"]
    # The values bound to parameters that name input properties become their defaults.
    values = INSTANTIATE["parameter_values"]
    assert made["input_schema"] == {
        name: {**spec, "default": values[name]}
        for name, spec in CREATE_WORKFLOW["input_schema"].items()
    }
    assert api.get(f"{API}/workflows/{made['workflow_id']}").json()["name"] == made["name"]

    # A template copies the workflow as it is now, not its first version.
    api.put(
        f"{API}/workflows/{workflow['workflow_id']}",
        json={**UPDATE_WORKFLOW, "tasks": offline("echo new")["tasks"]},
    )
    later = api.post(
        f"{API}/templates",
        json={**CREATE_TEMPLATE, "name": "later", "workflow_id": workflow["workflow_id"]},
    ).json()
    copied = api.post(
        f"{API}/templates/{later['template_id']}/instantiate",
        json={**INSTANTIATE, "name": "from_later"},
    ).json()
    assert copied["tasks"]["fetch_data"]["input"] == {"command": "echo new"}


# -- errors ---------------------------------------------------------------------------------------


def test_the_documented_not_found_example(api):
    error = error_of(api.get(f"{API}/workflows/wf-invalid"), 404, "workflow_not_found")
    assert error == {
        "code": "workflow_not_found",
        "message": "Workflow with ID 'wf-invalid' not found",
        "details": {"requested_id": "wf-invalid"},
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("put", "/workflows/wf-invalid", UPDATE_WORKFLOW, "workflow_not_found"),
        ("delete", "/workflows/wf-invalid", None, "workflow_not_found"),
        ("post", "/executions", EXECUTE, "workflow_not_found"),
        ("post", "/templates", CREATE_TEMPLATE, "workflow_not_found"),
        ("get", "/executions/exec-invalid", None, "execution_not_found"),
        ("post", "/executions/exec-invalid/cancel", None, "execution_not_found"),
        ("post", "/executions/exec-invalid/pause", None, "execution_not_found"),
        ("post", "/state/checkpoints", CHECKPOINT, "execution_not_found"),
        ("get", "/templates/tmpl-invalid", None, "template_not_found"),
        ("post", "/templates/tmpl-invalid/instantiate", INSTANTIATE, "template_not_found"),
        ("get", "/state/checkpoints/cp-invalid", None, "checkpoint_not_found"),
        ("post", "/state/restore", RESTORE, "checkpoint_not_found"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_each_resource_answers_its_not_found_code(api, method, path, body, code):
    kwargs = {"json": body} if body is not None else {}
    error = error_of(api.request(method.upper(), f"{API}{path}", **kwargs), 404, code)
    requested = error["details"]["requested_id"]
    assert requested in path or requested in json.dumps(body)
    assert error["message"] == f"{code.split('_')[0].title()} with ID '{requested}' not found"


def test_streams_of_an_unknown_execution_are_not_found(api, server):
    missing = httpx.get(f"http://{server}/events/harmonia/executions/nope", headers=ADMIN)
    assert error_of(missing, 404, "execution_not_found")["details"] == {"requested_id": "nope"}
    ws = Client.connect(f"ws://{server}/ws/harmonia/executions/nope", headers=ADMIN)
    try:
        message = json.loads(ws.receive(timeout=10))
    finally:
        with contextlib.suppress(ConnectionClosed):
            ws.close()
    assert message["type"] == "error" and "nope" in message["message"]


def test_malformed_requests_are_invalid_request(api):
    broken = api.post(
        f"{API}/workflows", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    error_of(broken, 400, "invalid_request")
    nul = api.post(f"{API}/workflows", json={**CREATE_WORKFLOW, "name": "bad\u0000name"})
    error_of(nul, 400, "invalid_request")


def test_validation_failures_are_validation_error(api):
    missing = error_of(
        api.post(f"{API}/workflows", json={"description": "no name"}), 422, "validation_error"
    )
    assert "name" in [e["field"] for e in missing["details"]["errors"]]
    cyclic = copy.deepcopy(CREATE_WORKFLOW)
    cyclic["tasks"]["fetch_data"]["depends_on"] = ["generate_report"]
    invalid = error_of(api.post(f"{API}/workflows", json=cyclic), 422, "validation_error")
    assert "cycle" in invalid["message"].lower()
    unknown = copy.deepcopy(CREATE_WORKFLOW)
    unknown["tasks"]["process_data"]["component"] = "nobody"
    error_of(api.post(f"{API}/workflows", json=unknown), 422, "validation_error")

    workflow_id = create_workflow(api)["workflow_id"]
    bad_input = copy.deepcopy(EXECUTE)
    bad_input["input"]["analysis_type"] = "superficial"  # not in the enum
    wrong = error_of(
        api.post(f"{API}/executions", json={**bad_input, "workflow_id": workflow_id}),
        422,
        "validation_error",
    )
    assert "input_data.analysis_type" in [e["field"] for e in wrong["details"]["errors"]]
    options = {**EXECUTE, "workflow_id": workflow_id, "execution_options": {"timeout": -1}}
    error_of(api.post(f"{API}/executions", json=options), 422, "validation_error")
    for query in ("status=unknown", "limit=0", "page=0", "sort_by=colour", "sort_order=up"):
        error_of(api.get(f"{API}/executions?{query}"), 422, "validation_error")
    error_of(api.get(f"{API}/workflows?sort_by=colour"), 422, "validation_error")
    error_of(
        api.post(
            f"{API}/templates",
            json={
                **CREATE_TEMPLATE,
                "workflow_id": workflow_id,
                "parameters": {"x": {"type": "colour"}},
            },
        ),
        422,
        "validation_error",
    )


def test_conflicts_are_409(api):
    workflow_id = create_workflow(api)["workflow_id"]
    error_of(api.post(f"{API}/workflows", json=CREATE_WORKFLOW), 409, "conflict")
    body = {**CREATE_TEMPLATE, "workflow_id": workflow_id}
    assert api.post(f"{API}/templates", json=body).status_code == 201
    error_of(api.post(f"{API}/templates", json=body), 409, "conflict")
    sleeper = create_workflow(api, offline("sleep 30", name="sleeper"))["workflow_id"]
    execution_id = execute(api, sleeper)["execution_id"]
    error_of(api.delete(f"{API}/workflows/{sleeper}"), 409, "conflict")  # still running
    assert api.post(f"{API}/executions/{execution_id}/cancel").status_code == 200
    wait_for(api, execution_id, finished)
    error_of(api.post(f"{API}/executions/{execution_id}/cancel"), 409, "conflict")
    error_of(api.post(f"{API}/executions/{execution_id}/resume"), 409, "conflict")
    assert api.delete(f"{API}/workflows/{sleeper}").status_code == 200


def test_authentication_and_permissions(api, server):
    base = f"http://{server}{API}"
    error_of(httpx.get(f"{base}/workflows"), 401, "authentication_failed")
    error_of(
        httpx.get(f"{base}/workflows", headers={"X-API-Key": "hmn_wrong"}),
        401,
        "authentication_failed",
    )
    error_of(
        httpx.get(f"{base}/workflows", headers={"Authorization": "Bearer hmn_wrong"}),
        401,
        "authentication_failed",
    )
    assert httpx.get(f"{base}/workflows", headers={"X-API-Key": ADMIN_KEY}).status_code == 200

    viewer = api.post("/api/v1/auth/keys", json={"name": "viewer", "role": "viewer"})
    assert viewer.status_code == 201, viewer.text
    as_viewer = {"X-API-Key": viewer.json()["key"]}
    assert httpx.get(f"{base}/workflows", headers=as_viewer).status_code == 200
    refused = httpx.post(f"{base}/workflows", json=CREATE_WORKFLOW, headers=as_viewer)
    error_of(refused, 403, "permission_denied")
    assert api.get(f"{API}/workflows").json()["total"] == 0

    for path in ("/ws/harmonia/executions/x", "/ws/harmonia/executions/x?api_key=hmn_wrong"):
        with pytest.raises(HandshakeRefused, match="401"):
            Client.connect(f"ws://{server}{path}")
    error_of(
        httpx.get(f"http://{server}/events/harmonia/executions/x"), 401, "authentication_failed"
    )


def test_unknown_urls_and_methods_answer_in_this_profile(api):
    error_of(api.get(f"{API}/nowhere"), 404, "not_found")
    error_of(api.get(f"{API}/workflows/x/versions"), 404, "not_found")
    error_of(api.patch(f"{API}/workflows", json={}), 405, "invalid_request")


def test_rate_limit_exceeded(settings, rt, clean):
    for key in rt.redis.scan_iter("*harmonia-limit*"):
        rt.redis.delete(key)
    app = admin_app(settings.with_(rate_limit="2 per minute"))
    try:
        client = app.test_client()
        for _ in range(2):
            assert client.get(f"{API}/workflows").status_code == 200
        refused = client.get(f"{API}/workflows")
        assert refused.status_code == 429
        body = refused.json
        assert set(body) == {"error"} and body["error"]["code"] == "rate_limit_exceeded"
        assert int(refused.headers["Retry-After"]) > 0
        assert FlaskClient(app).get(f"{API}/workflows").json["error"]["code"] == (
            "authentication_failed"
        )
    finally:
        app.extensions["harmonia"].close()
        for key in rt.redis.scan_iter("*harmonia-limit*"):
            rt.redis.delete(key)


def test_an_unavailable_database_is_service_unavailable(settings):
    app = admin_app(settings.with_(database_url=f"postgresql://x@127.0.0.1:{free_port()}/x"))
    try:
        response = app.test_client().get(f"{API}/workflows")
    finally:
        app.extensions["harmonia"].close()
    assert response.status_code == 503
    assert set(response.json) == {"error"}
    assert response.json["error"]["code"] == "service_unavailable"
    assert_retry_after(response)


def test_the_spec_documents_this_profile(api):
    spec = api.get("/openapi.json").json()
    paths = {path for path in spec["paths"] if path.startswith(API)}
    assert paths == {
        f"{API}/workflows",
        f"{API}/workflows/{{workflow_id}}",
        f"{API}/executions",
        f"{API}/executions/{{execution_id}}",
        f"{API}/executions/{{execution_id}}/cancel",
        f"{API}/executions/{{execution_id}}/pause",
        f"{API}/executions/{{execution_id}}/resume",
        f"{API}/templates",
        f"{API}/templates/{{template_id}}",
        f"{API}/templates/{{template_id}}/instantiate",
        f"{API}/state/checkpoints",
        f"{API}/state/checkpoints/{{checkpoint_id}}",
        f"{API}/state/restore",
    }
    get_workflow = spec["paths"][f"{API}/workflows/{{workflow_id}}"]["get"]["responses"]
    assert get_workflow["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Seed001Error"
    }


# -- the example client ---------------------------------------------------------------------------


def test_the_example_client_runs_to_completion(api, server):
    key = api.post("/api/v1/auth/keys", json={"name": "client", "role": "operator"}).json()["key"]
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), f"http://{server}", key],
        env={k: v for k, v in os.environ.items() if not k.startswith("HARMONIA_")},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Final status: completed" in result.stdout
