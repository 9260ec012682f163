"""The GraphQL API's parts without services: the limits on hostile operations (the document's
own run within them in ``tests/integration/test_graphql.py``), the per-page batch loader, the
error format, and the updates rendered once per process."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from graphql import GraphQLError

from app.profiles.seed003.graphql.context import Batch
from app.profiles.seed003.graphql.errors import format_error
from app.profiles.seed003.graphql.executor import prepare
from app.profiles.seed003.graphql.subscriptions import SharedRenders
from app.services.errors import InvalidRequest, RunNotFound


def problems(query: str, variables: dict | None = None) -> list[str]:
    """What ``prepare`` (HTTP's and the socket's way in) refuses the operation for."""
    prepared = prepare({"query": query, "variables": variables})
    return [e["message"] for e in prepared] if isinstance(prepared, list) else []


def test_depth_counts_fragments_where_they_are_used_and_not_introspection():
    deep = "items { workflowDefinition { executions { " * 3 + "total" + " } } }" * 3
    query = (
        f'query {{ workflowDefinition(id: "1") {{ ...F }} }} '
        f"fragment F on WorkflowDefinition {{ executions {{ {deep} }} }}"
    )
    assert any("levels deep; the limit is 10" in p for p in problems(query))
    of_types = "ofType { " * 6 + "name" + " }" * 6
    introspection = "{ __schema { types { fields { type { " + of_types + " } } } } }"
    assert problems(introspection) == []


def test_a_fragment_cycle_is_reported_once_and_does_not_hang():
    query = (
        "{ workflowDefinitions { ...A } } "
        "fragment A on WorkflowDefinitionPage { ...B } "
        "fragment B on WorkflowDefinitionPage { ...A }"
    )
    found = problems(query)
    assert found == ["Cannot spread fragment 'A' within itself via 'B'."]


def test_cost_follows_the_limit_given_in_variables():
    query = "query($n: Int!) { workflowExecutions(limit: $n) { items { taskExecutions { id } } } }"
    assert problems(query, {"n": 10}) == []
    assert any("maximum cost of 1000" in p for p in problems(query, {"n": 100}))


def test_variables_are_checked_before_the_limits_read_them():
    query = "query($n: Int!) { workflowExecutions(limit: $n) { total } }"
    for variables in ({}, {"n": None}, {"n": "many"}):
        (problem,) = prepare({"query": query, "variables": variables})
        assert problem["message"].startswith("Variable '$n'"), problem
        assert problem["extensions"] == {"code": "BAD_USER_INPUT"}
        assert problem["locations"] == [{"line": 1, "column": 7}]


def test_a_batch_reads_every_expected_key_in_one_fetch():
    fetched: list[list[str]] = []

    def fetch(keys):
        fetched.append(keys)
        return {key: key.upper() for key in keys if key != "missing"}

    batch = Batch(fetch)
    batch.expect(["a", "b", "c", "missing"])
    batch.put("c", "given")
    assert batch.load("b") == "B"
    assert [batch.load(k) for k in ("a", "c", "missing")] == ["A", "given", None]
    assert fetched == [["a", "b", "missing"]]
    assert batch.load("d") == "D"  # not expected: read on its own
    assert fetched[-1] == ["d"] and batch.queries == 2


def test_domain_errors_keep_their_message_and_say_their_code():
    wrapped = GraphQLError("x", path=["workflowExecution"], original_error=RunNotFound("r1"))
    formatted = format_error(wrapped)
    assert formatted["message"] == "Run with id 'r1' not found"
    assert formatted["extensions"] == {"code": "NOT_FOUND", "status": 404}
    assert formatted["path"] == ["workflowExecution"]
    problem = [{"field": "input.name", "message": "Missing data.", "type": "missing"}]
    formatted = format_error(GraphQLError("x", original_error=InvalidRequest("bad", problem)))
    assert formatted["extensions"] == {"code": "BAD_USER_INPUT", "status": 400, "fields": problem}


def test_a_failure_of_ours_shows_no_detail():
    formatted = format_error(GraphQLError("boom", original_error=KeyError("secret internals")))
    assert formatted["message"] == "Internal server error"
    assert formatted["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in str(formatted)


def test_an_update_is_rendered_once_for_every_socket_that_sends_it():
    renders = SharedRenders()
    calls: list[int] = []
    started = threading.Event()

    def render() -> str:
        calls.append(1)
        started.set()
        time.sleep(0.05)  # the others arrive while it renders
        return '{"data":1}'

    key = ("subscription { x }", None, "{}", "run-1", 42)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(renders.text, key, render)
        started.wait(1)
        texts = [first, *(pool.submit(renders.text, key, render) for _ in range(7))]
        assert {t.result() for t in texts} == {'{"data":1}'}
    assert len(calls) == 1
    assert renders.text(None, render) == '{"data":1}' and len(calls) == 2  # "now": never shared
    assert renders.text((*key[:-1], 43), render) and len(calls) == 3  # after another event
