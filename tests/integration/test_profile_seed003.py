"""Seed 003 ("Workflow Orchestration API") replayed literally against a live gunicorn server with
a real worker, a real notifier and a real webhook receiver: JWT login, both versioning forms
(``/api/v2/...`` and the media type on ``/api/...``), the document's bodies, codes and fields."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import httpx
import pytest

from tests.integration.api_support import ADMIN, assert_started_as_documented, timestamp
from tests.integration.webhook_support import receiver

MEDIA = "application/vnd.workflow-orchestration.v1+json"

# -- the document's examples, as written --------------------------------------------------------

CREATE_WORKFLOW = {
    "name": "Sample Workflow",
    "description": "A sample workflow definition",
    "tasks": [
        {"name": "Task 1", "description": "First task"},
        {"name": "Task 2", "description": "Second task", "dependencies": ["task-1"]},
    ],
    "synchronizationPoints": [
        {
            "name": "All Tasks Completed",
            "description": "Wait for all tasks to complete",
            "requiredTasks": ["task-1", "task-2"],
        }
    ],
}
UPDATE_WORKFLOW = {
    "name": "Updated Workflow",
    "description": "An updated workflow definition",
    "tasks": [
        {"name": "Task 1", "description": "Updated first task"},
        {"name": "Task 2", "description": "Updated second task", "dependencies": ["task-1"]},
        {"name": "Task 3", "description": "New task", "dependencies": ["task-2"]},
    ],
    "synchronizationPoints": [
        {
            "name": "All Tasks Completed",
            "description": "Wait for all tasks to complete",
            "requiredTasks": ["task-1", "task-2", "task-3"],
        }
    ],
}
START = {"workflowDefinitionId": "1", "initialContext": {"key": "value"}}
REGISTER_WEBHOOK = {
    "url": "https://example.com/webhook",
    "events": ["workflow.execution.completed", "task.execution.failed"],
    "secret": "webhook-secret",
}
UPDATE_WEBHOOK = {
    "url": "https://example.com/updated-webhook",
    "events": [
        "workflow.execution.completed",
        "task.execution.failed",
        "workflow.execution.started",
    ],
    "active": True,
}
TEST_WEBHOOK = {
    "url": "https://example.com/webhook",
    "event": "workflow.execution.completed",
    "payload": {"id": "1", "status": "COMPLETED"},
    "secret": "webhook-secret",
}
TASK_KEYS = {
    "id",
    "name",
    "description",
    "resourceRequirements",
    "dependencies",
    "timeout",
    "retryPolicy",
}
TASK_EXECUTION_KEYS = {
    "id",
    "taskDefinitionId",
    "status",
    "startTime",
    "endTime",
    "attempts",
    "error",
    "resources",
}
DONE = {"COMPLETED", "FAILED", "CANCELLED"}


@pytest.fixture
def token(server, clean):
    """A JWT from the document's login, for a user made by the admin."""
    with httpx.Client(base_url=f"http://{server}", headers=ADMIN, timeout=30) as admin:
        body = {"username": "ada", "password": "correct horse battery", "role": "operator"}
        assert admin.post("/api/v1/auth/users", json=body).status_code == 201
    response = httpx.post(
        f"http://{server}/api/auth/login",
        json={"username": "ada", "password": "correct horse battery"},
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def v2(server, token):
    """URL-based versioning: ``/api/v2/...``."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://{server}/api/v2", headers=headers, timeout=60) as c:
        yield c


@pytest.fixture
def v1(server, token):
    """Header-based versioning: ``/api/...`` with the document's media type."""
    headers = {"Authorization": f"Bearer {token}", "Accept": MEDIA}
    with httpx.Client(base_url=f"http://{server}/api", headers=headers, timeout=60) as c:
        yield c


@pytest.fixture
def admin(server, clean):
    headers = {**ADMIN, "Accept": MEDIA}
    with httpx.Client(base_url=f"http://{server}/api", headers=headers, timeout=60) as c:
        yield c


def create(client, body=None) -> dict[str, Any]:
    response = client.post("/workflows", json=body or CREATE_WORKFLOW)
    assert response.status_code == 201, response.text
    return response.json()


def start(client, workflow_id: str, context=None) -> dict[str, Any]:
    body = {**START, "workflowDefinitionId": workflow_id}
    if context is not None:
        body["initialContext"] = context
    response = client.post("/executions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(client, execution_id: str, statuses=DONE, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = client.get(f"/executions/{execution_id}").json()
        if execution["status"] in statuses:
            return execution
        assert time.monotonic() < deadline, f"still {execution['status']}"
        time.sleep(0.1)


# -- workflow definitions -------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["v2", "v1"])
def test_workflow_definitions_as_documented_in_both_versioning_forms(form, request):
    client = request.getfixturevalue(form)
    response = client.post("/workflows", json=CREATE_WORKFLOW)
    assert response.status_code == 201, response.text
    if form == "v1":
        assert response.headers["content-type"].startswith(MEDIA)
    workflow = response.json()
    assert set(workflow) == {
        "id",
        "name",
        "description",
        "version",
        "createdAt",
        "updatedAt",
        "tasks",
        "synchronizationPoints",
    }
    assert workflow["version"] == "1.0.0"
    timestamp(workflow["createdAt"])
    assert [set(t) for t in workflow["tasks"]] == [TASK_KEYS, TASK_KEYS]
    assert workflow["tasks"][0] == {
        "id": "task-1",
        "name": "Task 1",
        "description": "First task",
        "resourceRequirements": None,
        "dependencies": [],
        "timeout": None,
        "retryPolicy": None,
    }
    assert workflow["tasks"][1]["dependencies"] == ["task-1"]
    assert workflow["synchronizationPoints"] == [
        {
            "id": "sync-1",
            "name": "All Tasks Completed",
            "description": "Wait for all tasks to complete",
            "requiredTasks": ["task-1", "task-2"],
            "timeout": None,
        }
    ]
    workflow_id = workflow["id"]
    assert client.get(f"/workflows/{workflow_id}").json() == workflow
    listed = client.get("/workflows", params={"limit": 10, "offset": 0}).json()
    assert isinstance(listed, list) and [w["id"] for w in listed] == [workflow_id]

    updated = client.put(f"/workflows/{workflow_id}", json=UPDATE_WORKFLOW)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["id"] == workflow_id and body["version"] == "1.0.1"
    assert body["createdAt"] == workflow["createdAt"]
    assert timestamp(body["updatedAt"]) > timestamp(workflow["updatedAt"])
    assert body["name"] == "Updated Workflow"
    assert [t["id"] for t in body["tasks"]] == ["task-1", "task-2", "task-3"]
    assert body["synchronizationPoints"][0]["requiredTasks"] == ["task-1", "task-2", "task-3"]

    deleted = client.delete(f"/workflows/{workflow_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"/workflows/{workflow_id}").status_code == 404


# -- executions -----------------------------------------------------------------------------------


def test_an_execution_runs_with_its_context_and_task_executions(v2, v1):
    workflow_id = create(v2)["id"]
    started = start(v1, workflow_id)
    assert set(started) == {
        "id",
        "workflowDefinitionId",
        "status",
        "startTime",
        "endTime",
        "taskExecutions",
        "context",
    }
    assert started["workflowDefinitionId"] == workflow_id
    assert_started_as_documented(started)

    execution = wait_for(v2, started["id"])
    assert execution["status"] == "COMPLETED"
    timestamp(execution["startTime"])
    timestamp(execution["endTime"])
    tasks = execution["taskExecutions"]
    assert [t["taskDefinitionId"] for t in tasks] == ["task-1", "task-2"]  # not the sync point
    for task in tasks:
        assert set(task) == TASK_EXECUTION_KEYS
        assert task["status"] == "COMPLETED" and task["attempts"] == 1
        assert task["error"] is None and task["resources"] is None
    context = execution["context"]
    assert context["id"] == started["id"]
    assert json.loads(context["data"]) == {
        "key": "value",
        "task-1-result": "success",
        "task-2-result": "success",
    }
    assert context["version"] == 3  # the initial context, then one result per task
    assert timestamp(context["updatedAt"]) >= timestamp(context["createdAt"])

    listed = v2.get(f"/executions/{started['id']}/tasks").json()
    assert listed == tasks
    assert v2.get(f"/executions/{started['id']}/tasks", params={"status": "FAILED"}).json() == []
    first = v2.get(f"/executions/{started['id']}/tasks", params={"limit": 1}).json()
    assert [t["taskDefinitionId"] for t in first] == ["task-1"]


def test_cancel_answers_the_execution_as_documented(v2):
    body = copy.deepcopy(CREATE_WORKFLOW)
    body["tasks"][1]["action"] = "builtin.sleep"
    body["tasks"][1]["input"] = {"seconds": 30}
    execution_id = start(v2, create(v2, body)["id"])["id"]
    deadline = time.monotonic() + 30
    while v2.get(f"/executions/{execution_id}/tasks", params={"status": "RUNNING"}).json() == []:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelled = v2.post(f"/executions/{execution_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    assert wait_for(v2, execution_id)["status"] == "CANCELLED"
    again = v2.post(f"/executions/{execution_id}/cancel")
    assert again.status_code == 409, again.text


def test_a_failed_task_execution_is_retried_by_its_own_id(v2):
    body = copy.deepcopy(CREATE_WORKFLOW)
    body["tasks"][1]["action"] = "builtin.fail"
    body["tasks"][1]["input"] = {"message": "boom"}
    execution_id = start(v2, create(v2, body)["id"])["id"]
    execution = wait_for(v2, execution_id)
    assert execution["status"] == "FAILED"
    failed = next(t for t in execution["taskExecutions"] if t["status"] == "FAILED")
    assert failed["taskDefinitionId"] == "task-2" and "boom" in failed["error"]
    done = next(t for t in execution["taskExecutions"] if t["status"] == "COMPLETED")
    refused = v2.post(f"/tasks/{done['id']}/retry")
    assert refused.status_code == 409, refused.text
    retried = v2.post(f"/tasks/{failed['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["id"] == failed["id"] and set(retried.json()) == TASK_EXECUTION_KEYS
    again = wait_for(v2, execution_id)
    assert again["status"] == "FAILED"  # it fails again, on its second attempt
    assert next(t for t in again["taskExecutions"] if t["id"] == failed["id"])["attempts"] == 2
    assert v2.post("/tasks/nope/retry").status_code == 404


# -- webhooks -------------------------------------------------------------------------------------


def test_webhooks_as_documented_and_delivered_with_the_documents_event_names(admin, v2, notifier):
    listed = admin.get("/webhooks")
    assert listed.status_code == 200 and listed.json() == []
    created = admin.post("/webhooks", json=REGISTER_WEBHOOK)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert set(hook) == {"id", "url", "events", "secret", "active", "createdAt"}
    assert {k: hook[k] for k in ("url", "events", "secret", "active")} == {
        **REGISTER_WEBHOOK,
        "active": True,
    }
    assert admin.get("/webhooks").json() == [hook]
    updated = admin.put(f"/webhooks/{hook['id']}", json=UPDATE_WEBHOOK)
    assert updated.status_code == 200, updated.text
    assert updated.json() == {**hook, **UPDATE_WEBHOOK, "secret": "webhook-secret"}
    deleted = admin.delete(f"/webhooks/{hook['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert admin.get("/webhooks").json() == []

    with receiver() as endpoint:
        tested = admin.post("/webhooks/test", json={**TEST_WEBHOOK, "url": endpoint.url})
        assert tested.status_code == 200, tested.text
        assert tested.json() == {
            "success": True,
            "statusCode": 200,
            "message": "Webhook delivered successfully",
        }
        [request] = endpoint.wait_for(1)
        assert request.json["data"] == TEST_WEBHOOK["payload"]

        registered = admin.post(
            "/webhooks",
            json={**REGISTER_WEBHOOK, "url": endpoint.url, "events": UPDATE_WEBHOOK["events"]},
        ).json()
        execution_id = start(v2, create(v2)["id"])["id"]
        wait_for(v2, execution_id)
        got = endpoint.wait_for(3)
        kinds = [r.headers["X-Harmonia-Event"] for r in got[1:]]
        assert kinds == ["workflow.execution.started", "workflow.execution.completed"]
        assert got[-1].json["data"]["execution_id"] == execution_id
        assert admin.delete(f"/webhooks/{registered['id']}").status_code == 204


# -- errors and authentication --------------------------------------------------------------------


def test_errors_and_authentication(server, v2, v1):
    missing = v2.get("/workflows/nope")
    assert missing.status_code == 404 and missing.json()["status_code"] == 404
    invalid = v2.post("/workflows", json={"description": "no name"})
    assert invalid.status_code == 422, invalid.text
    assert invalid.json()["errors"][0]["field"] in {"name", "tasks"}
    cycle = copy.deepcopy(CREATE_WORKFLOW)
    cycle["tasks"][0]["dependencies"] = ["task-2"]
    refused = v2.post("/workflows", json=cycle)
    assert refused.status_code == 400, refused.text
    create(v2)
    assert v2.post("/workflows", json=CREATE_WORKFLOW).status_code == 409
    unknown = v1.post("/executions", json={**START, "workflowDefinitionId": "nope"})
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith(MEDIA)
    anonymous = httpx.get(f"http://{server}/api/v2/workflows")
    assert anonymous.status_code == 401
    bad_login = httpx.post(
        f"http://{server}/api/auth/login", json={"username": "ada", "password": "wrong"}
    )
    assert bad_login.status_code == 401
    # Without the media type, /api/workflows is seed 000's and /api/v1/workflows the canonical.
    plain = httpx.get(f"http://{server}/api/workflows", headers=v2.headers)
    assert "workflows" in plain.json()
    canonical = httpx.get(f"http://{server}/api/v1/workflows", headers=v2.headers)
    assert "items" in canonical.json()
    versioned = httpx.get(
        f"http://{server}/api/v1/workflows", headers={**v2.headers, "Accept": MEDIA}
    )
    assert isinstance(versioned.json(), list)


# -- progress -------------------------------------------------------------------------------------


def _sleep(name: str, after: list[str] | None = None) -> dict[str, Any]:
    task = {"name": name, "action": "builtin.sleep", "input": {"seconds": 1}}
    return {**task, "dependencies": after} if after else task


def test_progress_reports_an_eta_that_comes_nearer_and_its_milestones(v2, v1):
    body = {
        "name": "Chain",
        "description": "three steps of a second",
        "tasks": [_sleep("A"), _sleep("B", ["task-1"]), _sleep("C", ["task-2"])],
        "synchronizationPoints": [{"name": "Half way", "requiredTasks": ["task-1", "task-2"]}],
    }
    execution_id = start(v2, create(v2, body)["id"])["id"]
    remaining: dict[int, float] = {}  # completed tasks → seconds the ETA was away
    deadline = time.monotonic() + 60
    while True:
        response = v1.get(f"/executions/{execution_id}/progress")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(MEDIA)
        report = response.json()
        assert report["id"] and report["workflowExecutionId"] == execution_id
        assert report["totalTasks"] == 3  # the synchronization point is a milestone
        done = report["completedTasks"]
        if report["estimatedCompletion"] and done < 3:
            eta = timestamp(report["estimatedCompletion"]).timestamp()
            remaining.setdefault(done, eta - time.time())
        if v2.get(f"/executions/{execution_id}").json()["status"] in DONE:
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert {1, 2} <= set(remaining), remaining
    assert remaining[1] > remaining[2] > 0
    final = v2.get(f"/executions/{execution_id}/progress").json()
    assert final["completedTasks"] == 3 and final["blockers"] == []
    names = [m["name"] for m in final["milestones"]]
    assert names[0] == "Initialization" and names[-1] == "Completion" and "Half way" in names
    for milestone in final["milestones"]:
        assert set(milestone) == {"id", "name", "description", "achieved", "achievedAt"}
        assert milestone["achieved"] is True
        timestamp(milestone["achievedAt"])


def test_a_failed_task_is_a_blocker_until_its_retry_succeeds(v2, tmp_path):
    marker = tmp_path / "second-time"
    body = {
        "name": "Flaky",
        "tasks": [
            {
                "name": "Flaky",
                "action": "cli.execute_command",
                "input": {
                    "command": f"test -f {marker} || (touch {marker}; exit 3)",
                    "shell": True,
                },
                "retryPolicy": 0,
            },
            {"name": "After", "dependencies": ["task-1"]},
        ],
    }
    execution_id = start(v2, create(v2, body)["id"])["id"]
    assert wait_for(v2, execution_id)["status"] == "FAILED"
    report = v2.get(f"/executions/{execution_id}/progress").json()
    [blocker] = report["blockers"]
    assert set(blocker) == {"id", "taskExecutionId", "description", "createdAt", "resolvedAt"}
    assert blocker["resolvedAt"] is None
    failed = next(
        t for t in v2.get(f"/executions/{execution_id}/tasks").json() if t["status"] == "FAILED"
    )
    assert blocker["taskExecutionId"] == failed["id"]
    assert v2.post(f"/tasks/{failed['id']}/retry").status_code == 200
    assert wait_for(v2, execution_id)["status"] == "COMPLETED"
    [resolved] = v2.get(f"/executions/{execution_id}/progress").json()["blockers"]
    assert resolved["id"] == blocker["id"]
    assert timestamp(resolved["resolvedAt"]) >= timestamp(resolved["createdAt"])
