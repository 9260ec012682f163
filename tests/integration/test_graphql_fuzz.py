"""Every query and mutation field of ``/graphql``, driven by schemathesis from the schema's own
introspection: no answer is a 500, and no error is one of ours (``INTERNAL_SERVER_ERROR``):
GraphQL answers 200 with errors, so a failed resolver would not show as a status.

The app is fenced as ``test_api_fuzz.py`` fences it: its Celery messages go to a queue no
worker consumes and shell tasks are off, so generated workflows are written, never run.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from tests.integration.api_support import ADMIN, admin_app

NOWHERE = "fuzz-nowhere"
EXAMPLES = 15  # per field

# The JSON scalar takes any value; a few shapes are enough to reach the resolvers.
schemathesis.graphql.scalar(
    "JSON",
    st.one_of(
        st.just(nodes.String('{"key": "value"}')),
        st.builds(nodes.String, st.text(max_size=20)),
        st.builds(nodes.Int, st.integers(-5, 5)),
    ),
)


@pytest.fixture(scope="module")
def fenced_app(settings):
    app = admin_app(settings.with_(default_queue=NOWHERE, enable_shell=False))
    yield app
    app.extensions["harmonia"].close()


def no_internal_error(ctx, response, case) -> None:
    """No 500, and no INTERNAL_SERVER_ERROR inside a 200 (a resolver of ours that failed).
    Other errors are answers: a generated id names nothing (NOT_FOUND), an input is refused
    (BAD_USER_INPUT); schemathesis's own not_a_server_error counts any resolver error."""
    assert response.status_code < 500, (response.status_code, response.content[:500])
    body = json.loads(response.content or b"{}")
    codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
    if "INTERNAL_SERVER_ERROR" in codes:
        raise AssertionError(f"internal error for {case.body}: {body['errors']}")


def _exercise(operation, sent: list[int]) -> list[str]:
    found: list[str] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case) -> None:
        sent[0] += 1
        try:
            case.call_and_validate(headers=ADMIN, checks=[no_internal_error])
        except Exception as exc:  # recorded, so every field is still driven
            found.append(f"{operation.label}: {str(exc).strip()[:600]}")

    try:
        run()
    except Exception as exc:
        found.append(f"{operation.label}: {str(exc).strip()[:600]}")
    return found


def test_no_field_answers_500_or_an_internal_error(fenced_app):
    schema = schemathesis.graphql.from_wsgi("/graphql", fenced_app, headers=ADMIN)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert {"Query.workflowExecution", "Mutation.createWorkflowDefinition"} <= labels, labels
    problems: list[str] = []
    sent = [0]
    for operation in operations:
        problems.extend(_exercise(operation, sent))
    print(f"schemathesis: {len(operations)} GraphQL fields, {sent[0]} requests")
    assert len(operations) >= 18
    assert not problems, "\n\n".join(problems[:20])
