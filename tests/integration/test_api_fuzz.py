"""Every operation in ``/openapi.json`` (the profiles' included), driven by schemathesis: no
answer is a 500, and every answer matches what the spec documents for it (status code, content
type, body schema).

The app under test is the real one (real database and Redis), with two fences so generated
requests can only touch this machine: its Celery messages go to a queue no worker consumes (a
generated workflow or invocation is written, never run), and every URL in a request body is
rewritten to a closed loopback port before it is sent (the API calls an agent's URL itself for
its health). Shell tasks are disabled as well. Every request carries the admin key, so every
operation is reached (tests/integration/test_security.py covers who is refused).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api_support import ADMIN, admin_app, free_port

NOWHERE = "fuzz-nowhere"  # a Celery queue nothing consumes
CLOSED = f"http://127.0.0.1:{free_port()}/"  # nothing listens here
EXAMPLES = 10  # per operation and generation mode


@pytest.fixture(scope="module")
def fenced_app(settings):
    app = admin_app(settings.with_(default_queue=NOWHERE, enable_shell=False))
    yield app
    app.extensions["harmonia"].close()


def _loopback(value: Any) -> Any:
    """The same value with every URL pointing at a closed loopback port."""
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        return CLOSED
    if isinstance(value, dict):
        return {key: _loopback(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_loopback(item) for item in value]
    return value


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _exercise(operation, mode: GenerationMode, sent: list[int]) -> list[str]:
    """Drive one operation with generated requests; the problems found, described."""
    found: list[str] = []
    checks = CHECKS
    examples = EXAMPLES
    if operation.path == "/health/ready":
        # Its documented 503 means "no worker answered a ping" (none listens to this app's
        # queue); each request waits a second for that ping, so one request is enough.
        checks, examples = CHECKS[1:], 1
    elif operation.path.startswith("/api/v1/ops/"):
        # Each request waits up to a second for Celery's workers to answer (a generated
        # hostname never does): a few requests per operation reach every branch.
        examples = 3

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case) -> None:
        if case.body is not NOT_SET:
            case.body = _loopback(case.body)
        sent[0] += 1
        try:
            case.call_and_validate(headers=ADMIN, checks=checks)
        except Exception as exc:  # a failed check: recorded, so every operation is still driven
            found.append(f"{operation.label} [{mode.value}]: {str(exc).strip()[:600]}")

    try:
        run()
    except Unsatisfiable:  # nothing to break: an operation without parameters has no negatives
        assert mode == GenerationMode.NEGATIVE, operation.label
    except Exception as exc:  # schemathesis reports some failures once the run ends
        found.append(f"{operation.label} [{mode.value}]: {str(exc).strip()[:600]}")
    return found


def test_no_operation_answers_500_or_breaks_its_documented_schema(fenced_app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fenced_app, headers=ADMIN)
    operations = [result.ok() for result in schema.get_all_operations()]
    sent = [0]
    problems: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            problems.extend(_exercise(operation, mode, sent))
    print(f"schemathesis: {len(operations)} operations, {sent[0]} requests")
    assert len(operations) >= 50
    # The profiles' paths are driven too, each checked against its own documented error body.
    paths = {operation.path for operation in operations}
    assert {
        "/api/workflows",
        "/api/executions/{execution_id}",
        "/api/state/{execution_id}",
    } <= paths
    assert {"/api/harmonia/workflows", "/api/harmonia/state/restore"} <= paths
    assert {
        "/api/plans/{plan_id}/execute",
        "/api/synthesis/executions",
        "/api/synthesis/executions/{execution_id}/steps/{step_id}",
        "/api/integrations/{integration_id}/capabilities/{capability_id}",
        "/api/events",
        "/api/events/subscriptions/{subscription_id}",
    } <= paths
    assert {
        "/api/v2/workflows/{workflow_id}",
        "/api/v2/executions/{execution_id}/tasks",
        "/api/v2/tasks/{task_execution_id}/retry",
        "/api/v2/webhooks/test",
    } <= paths
    assert not problems, "\n\n".join(problems[:20])
