"""Seed 003's GraphQL API (the document's "GraphQL API" section) replayed with a real client, the
``gql`` library, against a live gunicorn server with a real worker.

- Every example of the document, its operation text copied as written, with its variables (only
  the document's ``"1"`` ids replaced by the ids the server made): the three queries and three
  mutations over HTTP, the three subscriptions at once on one WebSocket (``graphql-transport-ws``)
  while a run of sleeping tasks goes, each ending on its own when the run has finished.
- The WebSocket protocol as a raw client sees it: the close codes of ``transport.py`` (4406
  without the subprotocol, 4403 without a credential, 4401 before the ack, 4409 for a duplicate
  id, 4400 for an unreadable message), ping and pong, a query over the socket.
- Who may do what (a viewer reads, an operator runs, only an admin registers webhooks) and the
  errors in the spec's shape, with the codes Apollo's clients know.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession, SyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport, HTTPXTransport
from gql.transport.websockets import WebsocketsTransport

from tests.integration.api_support import ADMIN, ADMIN_KEY, assert_started_as_documented, timestamp
from tests.integration.helpers import unique

# -- the document's operations, as written --------------------------------------------------------

GET_WORKFLOW_DEFINITION = """\
query GetWorkflowDefinition($id: ID!) {
  workflowDefinition(id: $id) {
    id
    name
    description
    version
    createdAt
    updatedAt
    tasks {
      id
      name
      description
      dependencies
    }
    synchronizationPoints {
      id
      name
      description
      requiredTasks
    }
  }
}
"""

GET_WORKFLOW_EXECUTION = """\
query GetWorkflowExecution($id: ID!) {
  workflowExecution(id: $id) {
    id
    workflowDefinitionId
    status
    startTime
    endTime
    taskExecutions {
      id
      taskDefinitionId
      status
      startTime
      endTime
      attempts
      error
    }
    context {
      id
      data
      version
      createdAt
      updatedAt
    }
  }
}
"""

GET_PROGRESS_REPORT = """\
query GetProgressReport($id: ID!) {
  progressReport(workflowExecutionId: $id) {
    id
    workflowExecutionId
    completedTasks
    totalTasks
    estimatedCompletion
    blockers {
      id
      taskExecutionId
      description
      createdAt
      resolvedAt
    }
    milestones {
      id
      name
      description
      achieved
      achievedAt
    }
  }
}
"""

CREATE_WORKFLOW_DEFINITION = """\
mutation CreateWorkflowDefinition($input: CreateWorkflowDefinitionInput!) {
  createWorkflowDefinition(input: $input) {
    id
    name
    description
    version
    createdAt
    updatedAt
    tasks {
      id
      name
      description
      dependencies
    }
    synchronizationPoints {
      id
      name
      description
      requiredTasks
    }
  }
}
"""

START_WORKFLOW_EXECUTION = """\
mutation StartWorkflowExecution($input: StartWorkflowExecutionInput!) {
  startWorkflowExecution(input: $input) {
    id
    workflowDefinitionId
    status
    startTime
    endTime
    context {
      id
      data
      version
      createdAt
      updatedAt
    }
  }
}
"""

REGISTER_WEBHOOK = """\
mutation RegisterWebhook($input: RegisterWebhookInput!) {
  registerWebhook(input: $input) {
    id
    url
    events
    secret
    active
    createdAt
  }
}
"""

WORKFLOW_EXECUTION_UPDATES = """\
subscription WorkflowExecutionUpdates($id: ID!) {
  workflowExecutionUpdated(id: $id) {
    id
    status
    startTime
    endTime
    taskExecutions {
      id
      taskDefinitionId
      status
      startTime
      endTime
      attempts
      error
    }
  }
}
"""

TASK_EXECUTION_UPDATES = """\
subscription TaskExecutionUpdates($workflowExecutionId: ID!) {
  taskExecutionUpdated(workflowExecutionId: $workflowExecutionId) {
    id
    taskDefinitionId
    status
    startTime
    endTime
    attempts
    error
  }
}
"""

PROGRESS_REPORT_UPDATES = """\
subscription ProgressReportUpdates($workflowExecutionId: ID!) {
  progressReportUpdated(workflowExecutionId: $workflowExecutionId) {
    id
    workflowExecutionId
    completedTasks
    totalTasks
    estimatedCompletion
    blockers {
      id
      taskExecutionId
      description
      createdAt
      resolvedAt
    }
    milestones {
      id
      name
      description
      achieved
      achievedAt
    }
  }
}
"""

# -- the document's variables, as written ---------------------------------------------------------

CREATE_INPUT = {
    "input": {
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
}
START_INPUT = {"input": {"workflowDefinitionId": "1", "initialContext": '{"key":"value"}'}}
WEBHOOK_INPUT = {
    "input": {
        "url": "https://example.com/webhook",
        "events": ["workflow.execution.completed", "task.execution.failed"],
        "secret": "webhook-secret",
    }
}

DONE = {"COMPLETED", "FAILED", "CANCELLED"}
PROTOCOL = "graphql-transport-ws"
LIST_DEFINITIONS = "{ workflowDefinitions { total items { id } } }"

# -- clients --------------------------------------------------------------------------------------


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def api_key(server: str, role: str) -> str:
    """A new API key with ``role``, made by the admin."""
    body = {"name": unique(role), "role": role}
    response = httpx.post(f"http://{server}/api/v1/auth/keys", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["key"]


def login(server: str, role: str) -> str:
    """A JWT from the document's login, for a new user with ``role``."""
    user = {"username": unique(role), "password": "correct horse battery", "role": role}
    created = httpx.post(f"http://{server}/api/v1/auth/users", json=user, headers=ADMIN)
    assert created.status_code == 201, created.text
    credentials = {k: user[k] for k in ("username", "password")}
    response = httpx.post(f"http://{server}/api/auth/login", json=credentials)
    assert response.status_code == 200, response.text
    return response.json()["token"]


@contextmanager
def http(server: str, credential: str = ADMIN_KEY) -> Iterator[SyncClientSession]:
    transport = HTTPXTransport(
        url=f"http://{server}/graphql", headers=bearer(credential), timeout=30
    )
    with Client(transport=transport) as session:
        yield session


@asynccontextmanager
async def async_http(server: str, credential: str = ADMIN_KEY) -> AsyncIterator[AsyncClientSession]:
    transport = HTTPXAsyncTransport(
        url=f"http://{server}/graphql", headers=bearer(credential), timeout=30
    )
    async with Client(transport=transport) as session:
        yield session


@asynccontextmanager
async def socket(server: str, credential: str = ADMIN_KEY) -> AsyncIterator[AsyncClientSession]:
    """One WebSocket session (``graphql-transport-ws``), the credential in ``connection_init``."""
    transport = WebsocketsTransport(
        url=f"ws://{server}/graphql", init_payload={"Authorization": f"Bearer {credential}"}
    )
    async with Client(transport=transport) as session:
        yield session


def request(operation: str, variables: dict[str, Any] | None = None) -> GraphQLRequest:
    return GraphQLRequest(operation, variable_values=variables)


def refused(session: SyncClientSession, operation: str, variables=None) -> dict[str, Any]:
    """The one error an operation answers (gql raises it)."""
    with pytest.raises(TransportQueryError) as raised:
        session.execute(request(operation, variables))
    [error] = raised.value.errors
    return error


def post(server: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """``POST /graphql`` as it is, for the status and the body gql does not show."""
    return httpx.post(
        f"http://{server}/graphql", json=body, headers=ADMIN if headers is None else headers
    )


def wait_for(session: SyncClientSession, execution_id: str, timeout: float = 60) -> dict:
    """The document's GetWorkflowExecution, polled until the execution has finished."""
    deadline = time.monotonic() + timeout
    while True:
        found = session.execute(request(GET_WORKFLOW_EXECUTION, {"id": execution_id}))
        execution = found["workflowExecution"]
        if execution["status"] in DONE:
            return execution
        assert time.monotonic() < deadline, f"still {execution['status']}"
        time.sleep(0.1)


def sleepy(seconds: float) -> dict[str, Any]:
    """The document's workflow, each task sleeping ``seconds`` (so a subscriber sees it run)."""
    body = json.loads(json.dumps(CREATE_INPUT))
    for task in body["input"]["tasks"]:
        task.update(action="builtin.sleep", input={"seconds": seconds})
    return body


def create(session, variables=CREATE_INPUT) -> dict[str, Any]:
    found = session.execute(request(CREATE_WORKFLOW_DEFINITION, variables))
    return found["createWorkflowDefinition"]


def start_input(workflow_id: str) -> dict[str, Any]:
    return {"input": {**START_INPUT["input"], "workflowDefinitionId": workflow_id}}


# -- the document's queries and mutations ---------------------------------------------------------


def test_the_documents_queries_and_mutations_as_written(server, clean):
    operator = login(server, "operator")
    with http(server, operator) as session:
        workflow = create(session)
        assert workflow["id"] and workflow["version"] == "1.0.0"
        assert workflow["name"] == "Sample Workflow"
        assert workflow["description"] == "A sample workflow definition"
        assert timestamp(workflow["updatedAt"]) >= timestamp(workflow["createdAt"])
        assert workflow["tasks"] == [
            {"id": "task-1", "name": "Task 1", "description": "First task", "dependencies": []},
            {
                "id": "task-2",
                "name": "Task 2",
                "description": "Second task",
                "dependencies": ["task-1"],
            },
        ]
        [point] = workflow["synchronizationPoints"]
        assert point["id"] and {k: v for k, v in point.items() if k != "id"} == {
            "name": "All Tasks Completed",
            "description": "Wait for all tasks to complete",
            "requiredTasks": ["task-1", "task-2"],
        }
        found = session.execute(request(GET_WORKFLOW_DEFINITION, {"id": workflow["id"]}))
        assert found == {"workflowDefinition": workflow}

        started = session.execute(request(START_WORKFLOW_EXECUTION, start_input(workflow["id"])))
        started = started["startWorkflowExecution"]
        assert started["id"] and started["workflowDefinitionId"] == workflow["id"]
        assert_started_as_documented(started)

        execution = wait_for(session, started["id"])
        assert execution["id"] == started["id"]
        assert execution["workflowDefinitionId"] == workflow["id"]
        assert execution["status"] == "COMPLETED"
        assert timestamp(execution["endTime"]) >= timestamp(execution["startTime"])
        tasks = execution["taskExecutions"]
        assert [t["taskDefinitionId"] for t in tasks] == ["task-1", "task-2"]  # no sync point
        for task in tasks:
            assert task["id"] and task["status"] == "COMPLETED" and task["attempts"] == 1
            assert task["error"] is None
            assert timestamp(task["endTime"]) >= timestamp(task["startTime"])
        context = execution["context"]
        assert json.loads(context["data"]) == {
            "key": "value",
            "task-1-result": "success",
            "task-2-result": "success",
        }
        assert context["version"] == 3  # the initial context, then one result per task
        assert timestamp(context["updatedAt"]) >= timestamp(context["createdAt"])

        found = session.execute(request(GET_PROGRESS_REPORT, {"id": started["id"]}))
        report = found["progressReport"]
        assert report["id"] and report["workflowExecutionId"] == started["id"]
        assert report["completedTasks"] == 2 and report["totalTasks"] == 2
        assert report["blockers"] == []
        assert report["milestones"], report
        names = [m["name"] for m in report["milestones"]]
        assert "All Tasks Completed" in names, names
        for milestone in report["milestones"]:
            assert milestone["id"] and milestone["name"] and milestone["achieved"] is True
            timestamp(milestone["achievedAt"])

    # Registering a webhook is an admin's (the SSRF guard needs no DNS for example.com here).
    with http(server) as admin:
        hook = admin.execute(request(REGISTER_WEBHOOK, WEBHOOK_INPUT))["registerWebhook"]
        assert hook["id"] and timestamp(hook["createdAt"])
        assert {k: hook[k] for k in ("url", "events", "secret", "active")} == {
            **WEBHOOK_INPUT["input"],
            "active": True,
        }
        assert admin.execute(request("{ webhooks { id url } }"))["webhooks"] == [
            {"id": hook["id"], "url": "https://example.com/webhook"}
        ]
        deleted = admin.execute(request("mutation($id: ID!) { deleteWebhook(id: $id) }", hook))
        assert deleted == {"deleteWebhook": True}


# -- the document's subscriptions -----------------------------------------------------------------


async def collect(session: AsyncClientSession, operation: str, variables: dict) -> list[dict]:
    """Every update of a subscription, until the server completes it."""
    return [update async for update in session.subscribe(request(operation, variables))]


def test_the_documents_three_subscriptions_on_one_socket_follow_a_run(server, clean):
    async def replay() -> tuple[str, list, list, list]:
        async with socket(server) as ws, async_http(server) as session:
            workflow = await session.execute(request(CREATE_WORKFLOW_DEFINITION, sleepy(1.0)))
            workflow_id = workflow["createWorkflowDefinition"]["id"]
            started = await session.execute(
                request(START_WORKFLOW_EXECUTION, start_input(workflow_id))
            )
            run_id = started["startWorkflowExecution"]["id"]
            executions, tasks, reports = await asyncio.gather(
                collect(ws, WORKFLOW_EXECUTION_UPDATES, {"id": run_id}),
                collect(ws, TASK_EXECUTION_UPDATES, {"workflowExecutionId": run_id}),
                collect(ws, PROGRESS_REPORT_UPDATES, {"workflowExecutionId": run_id}),
            )
            return run_id, executions, tasks, reports

    run_id, executions, tasks, reports = asyncio.run(asyncio.wait_for(replay(), 60))

    updates = [e["workflowExecutionUpdated"] for e in executions]
    assert all(u["id"] == run_id for u in updates)
    last = updates[-1]
    assert last["status"] == "COMPLETED", updates
    assert timestamp(last["endTime"]) >= timestamp(last["startTime"])
    assert [t["taskDefinitionId"] for t in last["taskExecutions"]] == ["task-1", "task-2"]
    assert all(t["status"] == "COMPLETED" and t["attempts"] == 1 for t in last["taskExecutions"])
    assert "RUNNING" in [u["status"] for u in updates[:-1]], [u["status"] for u in updates]
    assert "COMPLETED" not in [u["status"] for u in updates[:-1]]

    seen: dict[str, list[str]] = {}  # task definition → its statuses, in the order sent
    for update in (t["taskExecutionUpdated"] for t in tasks):
        seen.setdefault(update["taskDefinitionId"], []).append(update["status"])
        if update["status"] == "COMPLETED":
            assert update["endTime"] and update["attempts"] == 1 and update["error"] is None
    assert set(seen) == {"task-1", "task-2"}, seen
    for task_id, statuses in seen.items():
        assert statuses[-1] == "COMPLETED", (task_id, statuses)
        assert "RUNNING" in statuses[: statuses.index("COMPLETED")], (task_id, statuses)

    progress = [r["progressReportUpdated"] for r in reports]
    assert all(p["workflowExecutionId"] == run_id and p["totalTasks"] == 2 for p in progress)
    assert progress[-1]["completedTasks"] == 2, progress
    assert any(p["completedTasks"] < 2 for p in progress[:-1]), progress
    counts = [p["completedTasks"] for p in progress]
    assert counts == sorted(counts), counts
    assert all(m["achieved"] for m in progress[-1]["milestones"])


def test_a_subscription_to_an_unknown_execution_is_not_found_and_the_socket_goes_on(server, clean):
    async def replay() -> tuple[dict, dict]:
        async with socket(server) as ws:
            with pytest.raises(TransportQueryError) as raised:
                await collect(ws, WORKFLOW_EXECUTION_UPDATES, {"id": "no-such-execution"})
            listed = await ws.execute(request(LIST_DEFINITIONS))
            return raised.value.errors[0], listed

    error, listed = asyncio.run(asyncio.wait_for(replay(), 30))
    assert error["extensions"]["code"] == "NOT_FOUND", error
    assert "no-such-execution" in error["message"], error
    assert listed == {"workflowDefinitions": {"total": 0, "items": []}}


# -- the WebSocket protocol, as a raw client sees it ----------------------------------------------


async def closed_with(ws) -> tuple[int, str]:
    """The code and reason the server closes the socket with (what it sent before is ignored)."""
    try:
        while True:
            await ws.recv()
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "the client closed, not the server"
        return closed.rcvd.code, closed.rcvd.reason


async def send(ws, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def receive(ws) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def raw(server: str, subprotocol: bool = True):
    return websockets.connect(
        f"ws://{server}/graphql", subprotocols=[PROTOCOL] if subprotocol else None
    )


async def acked(ws, credential: str = ADMIN_KEY) -> None:
    await send(
        ws, {"type": "connection_init", "payload": {"Authorization": f"Bearer {credential}"}}
    )
    assert await receive(ws) == {"type": "connection_ack"}


def subscribe(op_id: str, operation: str, variables=None) -> dict[str, Any]:
    return {
        "id": op_id,
        "type": "subscribe",
        "payload": {"query": operation, "variables": variables},
    }


def test_the_socket_closes_as_the_protocol_says(server, clean):
    async def replay() -> dict[str, tuple[int, str]]:
        codes = {}
        async with raw(server, subprotocol=False) as ws:
            codes["no subprotocol"] = await closed_with(ws)
        async with raw(server) as ws:
            assert ws.subprotocol == PROTOCOL
            await send(ws, {"type": "connection_init", "payload": bearer("hmn_not-a-key")})
            codes["wrong credential"] = await closed_with(ws)
        async with raw(server) as ws:
            await send(ws, {"type": "connection_init"})
            codes["no credential"] = await closed_with(ws)
        async with raw(server) as ws:
            await send(ws, subscribe("1", LIST_DEFINITIONS))
            codes["subscribe before init"] = await closed_with(ws)
        async with raw(server) as ws:
            await acked(ws)
            await ws.send("not json")
            codes["not json"] = await closed_with(ws)
        async with raw(server) as ws:
            await acked(ws)
            await send(ws, {"type": "connection_init", "payload": bearer(ADMIN_KEY)})
            codes["second init"] = await closed_with(ws)
        return codes

    codes = asyncio.run(asyncio.wait_for(replay(), 30))
    assert {what: code for what, (code, _) in codes.items()} == {
        "no subprotocol": 4406,
        "wrong credential": 4403,
        "no credential": 4403,
        "subscribe before init": 4401,
        "not json": 4400,
        "second init": 4429,
    }, codes
    assert PROTOCOL in codes["no subprotocol"][1]


def test_the_socket_answers_pings_queries_and_refuses_a_duplicate_id(server, clean):
    viewer = api_key(server, "viewer")
    with http(server) as admin:
        workflow_id = create(admin, sleepy(30))["id"]  # a run that lasts until it is cancelled
        started = admin.execute(request(START_WORKFLOW_EXECUTION, start_input(workflow_id)))
        run_id = started["startWorkflowExecution"]["id"]

    async def replay() -> tuple[list[dict], tuple[int, str]]:
        async with raw(server) as ws:
            await acked(ws, viewer)  # reading is a viewer's
            await send(ws, {"type": "ping"})
            assert await receive(ws) == {"type": "pong"}
            await send(ws, subscribe("q", GET_WORKFLOW_DEFINITION, {"id": workflow_id}))
            answers = [await receive(ws), await receive(ws)]
            await send(ws, subscribe("s", WORKFLOW_EXECUTION_UPDATES, {"id": run_id}))
            first = await receive(ws)
            assert first["id"] == "s" and first["type"] == "next", first
            assert first["payload"]["data"]["workflowExecutionUpdated"]["id"] == run_id
            await send(ws, subscribe("s", WORKFLOW_EXECUTION_UPDATES, {"id": run_id}))
            return answers, await closed_with(ws)

    try:
        answers, (code, reason) = asyncio.run(asyncio.wait_for(replay(), 30))
    finally:
        with http(server) as admin:
            cancel = "mutation($id: ID!) { cancelWorkflowExecution(id: $id) { status } }"
            admin.execute(request(cancel, {"id": run_id}))
    [answer, complete] = answers
    assert answer["id"] == "q" and answer["type"] == "next", answer
    assert answer["payload"]["data"]["workflowDefinition"]["id"] == workflow_id
    assert "errors" not in answer["payload"]
    assert complete == {"id": "q", "type": "complete"}
    assert code == 4409 and "s" in reason, (code, reason)


# -- who may do what ------------------------------------------------------------------------------


def test_without_a_credential_the_answer_is_401_in_graphqls_shape(server, clean):
    for headers in ({}, bearer("hmn_not-a-key")):
        response = post(server, {"query": LIST_DEFINITIONS}, headers=headers)
        assert response.status_code == 401, response.text
        body = response.json()
        assert set(body) == {"errors"}, body
        [error] = body["errors"]
        assert error["message"] and error["extensions"]["code"] == "UNAUTHENTICATED", body


def test_a_viewer_reads_an_operator_runs_and_only_an_admin_registers_webhooks(server, clean):
    with http(server, api_key(server, "viewer")) as viewer:
        assert viewer.execute(request(LIST_DEFINITIONS))["workflowDefinitions"]["total"] == 0
        error = refused(viewer, CREATE_WORKFLOW_DEFINITION, CREATE_INPUT)
        assert error["extensions"]["code"] == "FORBIDDEN", error
        assert error["path"] == ["createWorkflowDefinition"]
        assert viewer.execute(request(LIST_DEFINITIONS))["workflowDefinitions"]["total"] == 0

    with http(server, login(server, "operator")) as operator:
        workflow_id = create(operator)["id"]
        error = refused(operator, REGISTER_WEBHOOK, WEBHOOK_INPUT)
        assert error["extensions"]["code"] == "FORBIDDEN", error
        assert refused(operator, "{ webhooks { id } }")["extensions"]["code"] == "FORBIDDEN"
    with http(server) as admin:
        assert admin.execute(request("{ webhooks { id } }")) == {"webhooks": []}
        found = admin.execute(request(GET_WORKFLOW_DEFINITION, {"id": workflow_id}))
        assert found["workflowDefinition"]["name"] == "Sample Workflow"


# -- errors ---------------------------------------------------------------------------------------


def test_an_unknown_field_or_a_syntax_error_is_400_with_the_codes_and_locations(server, clean):
    unknown = post(server, {"query": "{ workflowDefinitions { total nonsense } }"})
    assert unknown.status_code == 400, unknown.text
    [error] = unknown.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
    assert "nonsense" in error["message"]
    assert error["locations"] == [{"line": 1, "column": 31}], error
    assert "data" not in unknown.json()

    broken = post(server, {"query": "{ workflowDefinitions { total "})
    assert broken.status_code == 400, broken.text
    [error] = broken.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED", error
    assert error["locations"], error


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param(
            {"tasks": [{"name": "Task 1", "dependencies": ["task-9"]}]}, id="unknown-dependency"
        ),
        pytest.param(
            {
                "tasks": [
                    {"name": "Task 1", "dependencies": ["task-2"]},
                    {"name": "Task 2", "dependencies": ["task-1"]},
                ],
                "synchronizationPoints": [],
            },
            id="cycle",
        ),
    ],
)
def test_invalid_input_is_bad_user_input_and_creates_nothing(server, clean, change):
    variables = {"input": {**CREATE_INPUT["input"], **change}}
    response = post(server, {"query": CREATE_WORKFLOW_DEFINITION, "variables": variables})
    assert response.status_code in {200, 400}, response.text
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["path"] == ["createWorkflowDefinition"], error
    assert body["data"] is None
    with http(server) as admin:
        assert admin.execute(request(LIST_DEFINITIONS))["workflowDefinitions"]["total"] == 0


def test_an_unknown_id_is_not_found_at_its_path(server, clean):
    with http(server) as admin:
        error = refused(admin, START_WORKFLOW_EXECUTION, start_input("no-such-workflow"))
        assert error["extensions"]["code"] == "NOT_FOUND", error
        assert error["path"] == ["startWorkflowExecution"], error
        assert error["locations"], error
        missing = post(server, {"query": GET_WORKFLOW_EXECUTION, "variables": {"id": "nope"}})
        assert missing.status_code == 200, missing.text
        assert missing.json()["data"] == {"workflowExecution": None}
        [error] = missing.json()["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND" and error["path"] == ["workflowExecution"]


# -- request errors and the start time ----------------------------------------------------------


@pytest.mark.parametrize("variables", [None, {}, {"id": None}], ids=["absent", "empty", "null"])
def test_a_missing_required_variable_is_named_with_its_location(server, clean, variables):
    body = {"query": GET_WORKFLOW_DEFINITION}
    if variables is not None:
        body["variables"] = variables
    response = post(server, body)
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert "$id" in error["message"] and "GraphQL request:" not in error["message"], error
    assert error["locations"] == [{"line": 1, "column": 29}], error
    assert error["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}


def test_a_variable_of_the_wrong_type_is_a_request_error(server, clean):
    response = post(server, {"query": GET_WORKFLOW_DEFINITION, "variables": {"id": {"a": 1}}})
    body = response.json()
    [error] = body["errors"]
    assert "$id" in error["message"] and error["locations"], error
    assert error["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}
    assert response.status_code == 400 and "data" not in body, response.text


def test_a_started_execution_shows_when_it_started(server, clean):
    with http(server) as admin:
        workflow_id = create(admin)["id"]
        started = admin.execute(request(START_WORKFLOW_EXECUTION, start_input(workflow_id)))
        execution = started["startWorkflowExecution"]
        wait_for(admin, execution["id"])  # no run left behind for the next test
    assert execution["status"] == "RUNNING"
    assert execution["startTime"] is not None, execution
    assert timestamp(execution["startTime"]) <= timestamp(execution["context"]["updatedAt"])
