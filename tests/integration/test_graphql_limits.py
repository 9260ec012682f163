"""``/graphql`` bounded: reads batched per page (SQL statements counted on the real database),
depth, width and cost limits, list limits, and the IDE with its bundled assets. Through the HTTP
door (the app's WSGI stack, in process so the statements can be counted); the examples, the
subscriptions and the roles run against a live server in ``test_graphql.py``."""

from __future__ import annotations

import re
import time

import pytest
from flask.testing import FlaskClient

from tests.integration.api_support import ADMIN
from tests.integration.helpers import statements

TASKS = 500
MANY_TASKS = {
    "name": "Five hundred",
    "tasks": [{"name": f"Task {n}", "action": "builtin.noop"} for n in range(1, TASKS + 1)],
}
CREATE = """mutation($input: CreateWorkflowDefinitionInput!) {
  createWorkflowDefinition(input: $input) { id }
}"""
START = """mutation($id: ID!) {
  startWorkflowExecution(input: {workflowDefinitionId: $id, initialContext: {n: 1}}) { id }
}"""
EXECUTION = """query($id: ID!) {
  workflowExecution(id: $id) {
    id workflowDefinitionId status
    taskExecutions { id taskDefinitionId status startTime endTime attempts error }
    context { version data }
    workflowDefinition { name version }
  }
}"""
EXECUTIONS = """query($limit: Int!) {
  workflowExecutions(limit: $limit) {
    total
    items {
      id status workflowDefinitionId
      taskExecutions { id status attempts }
      context { version }
      workflowDefinition { name tasks { id } }
    }
  }
}"""


@pytest.fixture
def anonymous_client(app, clean) -> FlaskClient:
    return FlaskClient(app)


def graphql(client, query: str, variables: dict | None = None, status: int = 200) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_json()


def data(client, query: str, variables: dict | None = None) -> dict:
    body = graphql(client, query, variables)
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_finished(client, run_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = data(
            client, "query($id: ID!) { workflowExecution(id: $id) { status } }", {"id": run_id}
        )
        if found["workflowExecution"]["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish")


def test_an_execution_of_500_tasks_resolves_in_a_bounded_number_of_statements(live, rt):
    workflow = data(live, CREATE, {"input": MANY_TASKS})["createWorkflowDefinition"]["id"]
    run = data(live, START, {"id": workflow})["startWorkflowExecution"]["id"]
    wait_finished(live, run)

    with statements(rt) as seen:
        found = data(live, EXECUTION, {"id": run})["workflowExecution"]
    assert len(found["taskExecutions"]) == TASKS
    assert {t["status"] for t in found["taskExecutions"]} == {"COMPLETED"}
    assert found["context"]["version"] == TASKS + 1
    # The caller's key, the run with its tasks (one statement), the workflow version.
    assert len(seen) <= 6, seen


def test_a_page_of_executions_costs_the_same_statements_whatever_its_size(live, rt):
    workflow = data(live, CREATE, {"input": {"name": "Small", "tasks": [{"name": "A"}]}})
    workflow_id = workflow["createWorkflowDefinition"]["id"]
    runs = [
        data(live, START, {"id": workflow_id})["startWorkflowExecution"]["id"] for _ in range(12)
    ]
    for run in runs:
        wait_finished(live, run)

    counts = {}
    for limit in (2, 12):
        with statements(rt) as seen:
            page = data(live, EXECUTIONS, {"limit": limit})["workflowExecutions"]
        assert len(page["items"]) == limit
        assert page["total"] == 12
        assert all(item["taskExecutions"][0]["status"] == "COMPLETED" for item in page["items"])
        counts[limit] = len(seen)
    assert counts[12] == counts[2], counts
    assert counts[12] <= 8, counts


def nested(depth: int) -> str:
    """workflowDefinition → executions → items → workflowDefinition → … ``depth`` levels."""
    inner = "total"
    levels = 1
    while levels < depth:
        inner = f"items {{ workflowDefinition {{ executions {{ {inner} }} }} }}"
        levels += 3
    return f'{{ workflowDefinition(id: "x") {{ executions {{ {inner} }} }} }}'


def test_a_depth_bomb_is_refused_before_it_runs(client, rt):
    with statements(rt) as seen:
        body = graphql(client, nested(40), status=400)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    messages = [e["message"] for e in body["errors"]]
    assert any(re.search(r"nested \d+ levels deep; the limit is 10", m) for m in messages)
    assert not any("workflow" in s.lower() for s in seen), seen  # nothing was read


def test_a_wide_query_is_refused(client):
    aliases = " ".join(f"a{n}: workflowDefinitions {{ total }}" for n in range(1500))
    body = graphql(client, f"{{ {aliases} }}", status=400)
    messages = [e["message"] for e in body["errors"]]
    assert any("selects more than 1000 fields, the limit" in m for m in messages), messages
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


def test_a_fragment_bomb_is_refused_without_expanding_it(client):
    fragments = ["fragment F0 on WorkflowDefinitionPage { total }"]
    for n in range(1, 30):
        fragments.append(f"fragment F{n} on WorkflowDefinitionPage {{ ...F{n - 1} ...F{n - 1} }}")
    query = "{ workflowDefinitions { ...F29 } } " + " ".join(fragments)
    started = time.monotonic()
    body = graphql(client, query, status=400)
    assert time.monotonic() - started < 5
    assert any("more than 1000 fields" in e["message"] for e in body["errors"]), body


def test_a_costly_query_is_refused_with_its_cost(client):
    query = "{ workflowExecutions(limit: 100) { items { events(limit: 100) { id } } } }"
    body = graphql(client, query, status=400)
    (problem,) = body["errors"]
    assert "maximum cost of 1000" in problem["message"], problem
    assert problem["extensions"]["cost"]["requestedQueryCost"] > 1000


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_list_sizes_are_bounded(client, limit):
    body = graphql(client, f"{{ workflowDefinitions(limit: {limit}) {{ total }} }}")
    (problem,) = body["errors"]
    assert problem["extensions"]["code"] == "BAD_USER_INPUT"
    assert problem["path"] == ["workflowDefinitions"]
    assert "limit must be between 1 and 100" in problem["message"]


def test_too_many_tokens_is_a_parse_failure(client):
    query = "{ " + " ".join("__typename" for _ in range(12_000)) + " }"
    body = graphql(client, query, status=400)
    (problem,) = body["errors"]
    assert problem["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "more than 10000 tokens" in problem["message"], problem


def test_introspection_is_on_and_deep_enough_for_the_ide(client):
    from graphql import get_introspection_query

    body = data(client, get_introspection_query(descriptions=True))
    names = {t["name"] for t in body["__schema"]["types"]}
    assert {"WorkflowDefinition", "WorkflowExecution", "ProgressReport", "Webhook"} <= names
    assert body["__schema"]["subscriptionType"]["name"] == "Subscription"


def test_the_ide_is_served_with_local_assets(client, anonymous_client):
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "graphiql" in html.lower()
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', html) if a != "data:,"]
    assert assets and all(a.startswith("/static/") for a in assets), assets  # no CDN
    for asset in assets:
        assert anonymous_client.get(asset).status_code == 200, asset
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    # Like the REST docs: the page needs a credential unless HARMONIA_PUBLIC_DOCS=true.
    refused = anonymous_client.get("/graphql")
    assert refused.status_code == 401
    assert refused.get_json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_malformed_requests_get_a_graphql_shaped_400(client):
    for body in (
        '"just a string"',
        "{not json",
        '{"query": 5}',
        '{"query": "{ __typename }", "variables": [1]}',
    ):
        response = client.post("/graphql", data=body, content_type="application/json")
        assert response.status_code == 400, body
        (problem,) = response.get_json()["errors"]
        assert problem["extensions"]["code"] == "BAD_REQUEST"
    response = client.get("/graphql?query={__typename}", headers=ADMIN)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_a_subscription_over_http_is_refused(client):
    body = graphql(
        client,
        'subscription { progressReportUpdated(workflowExecutionId: "x") { id } }',
        status=400,
    )
    assert "subscription" in body["errors"][0]["message"].lower()
