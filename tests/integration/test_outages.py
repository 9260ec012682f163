"""A dependency that is down: the API answers 503 naming it (never a 500), and is ready again
once the dependency returns, without a restart.

The app here is pointed at a database port where nothing listens, the way a Postgres outage looks
to it; tests/chaos cuts a live system's connections for the full picture.
"""

from __future__ import annotations

import pytest

from app.cli import free_port
from tests.integration.api_support import admin_app, assert_error, assert_retry_after


@pytest.fixture
def no_database(settings):
    application = admin_app(
        settings.with_(database_url=f"postgresql://x@127.0.0.1:{free_port()}/x")
    )
    yield application.test_client()
    application.extensions["harmonia"].close()


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "/api/v1/workflows", {"name": "w", "tasks": {"t": {"action": "builtin.noop"}}}),
        ("post", "/api/v1/workflows/some-id/execute", {"input_data": {}}),
        ("post", "/api/v1/runs/some-id/cancel", {}),
        ("get", "/api/v1/runs", None),
    ],
    ids=["create-workflow", "execute", "cancel", "list-runs"],
)
def test_writes_and_reads_answer_503_naming_the_database(no_database, method, path, body):
    response = getattr(no_database, method)(path, json=body)
    error = assert_error(response, 503, field="database")
    assert error["detail"].startswith("The database is unavailable; nothing was changed")
    assert_retry_after(response)


def test_graphql_answers_503_in_its_own_shape(no_database):
    response = no_database.post("/graphql", json={"query": "{ workflowDefinitions { total } }"})
    assert response.status_code == 503, response.get_json()
    (problem,) = response.get_json()["errors"]
    assert problem["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert problem["message"].startswith("A backing service is unavailable")
    assert problem["path"] == ["workflowDefinitions"]
    assert_retry_after(response)


def test_readiness_names_the_database_and_recovers_without_a_restart(no_database, client, worker):
    down = no_database.get("/health/ready")
    assert down.status_code == 503
    checks = down.json["checks"]
    assert checks["database"]["status"] == "unhealthy"
    assert checks["redis"]["status"] == "healthy"
    # The same code against a database that answers: ready.
    up = client.get("/health/ready")
    assert up.status_code == 200, up.json
    assert all(check["status"] == "healthy" for check in up.json["checks"].values())


def test_readiness_says_no_worker_is_online(settings):
    # A Redis database no worker consumes from: to this API, every worker is gone.
    elsewhere = settings.redis_url.rsplit("/", 1)[0] + "/14"
    lonely = admin_app(settings.with_(redis_url=elsewhere))
    try:
        response = lonely.test_client().get("/health/ready")
    finally:
        lonely.extensions["harmonia"].close()
    assert response.status_code == 503
    workers = response.json["checks"]["workers"]
    assert workers["status"] == "unhealthy" and "no worker online" in workers["message"]
