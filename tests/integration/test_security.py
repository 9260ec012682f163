"""The rest of the security surface: streams refuse strangers, rate limits, CORS, headers, what
is open, and secrets kept out of answers and logs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask.testing import FlaskClient
from simple_websocket import Client
from simple_websocket.errors import ConnectionError as HandshakeRefused

from tests.integration.api_support import (
    ADMIN,
    ADMIN_KEY,
    admin_app,
    assert_error,
    gunicorn_api,
    ws_collect,
)
from tests.integration.conftest import settings_env
from tests.integration.helpers import create_workflow, execute, wait_for_run
from tests.integration.test_live_events import close, sse_collect

NOOP = {"tasks": {"t": {"action": "builtin.noop"}}}


@pytest.fixture(scope="module")
def logged_server(settings, worker, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """gunicorn with its access log on, as an operator would run it."""
    log = tmp_path_factory.mktemp("api") / "api.log"
    env = {**settings_env(settings), "HARMONIA_ACCESS_LOG": "true"}
    with gunicorn_api(settings, env, log) as address:
        yield address, log


def finished_run(client) -> str:
    run_id = execute(client, create_workflow(client, NOOP)["id"])
    wait_for_run(client, run_id)
    return run_id


# -- streams --------------------------------------------------------------------------------------


def test_websockets_refuse_clients_without_a_valid_key(live, logged_server):
    server, _ = logged_server
    run_id = finished_run(live)
    for path in (f"/ws/executions/{run_id}", f"/ws/harmonia/executions/{run_id}", "/ws/events"):
        for credentials in ("", "?api_key=hmn_wrong"):
            with pytest.raises(HandshakeRefused, match="401"):
                Client.connect(f"ws://{server}{path}{credentials}")
    got = ws_collect(f"ws://{server}/ws/executions/{run_id}?api_key={ADMIN_KEY}", timeout=10)
    assert got and got[-1]["type"] == "workflow_completed"
    ws = Client.connect(f"ws://{server}/ws/events", headers=ADMIN)  # a header works too
    close(ws)


def test_sse_refuses_clients_without_a_valid_key(live, logged_server):
    server, log = logged_server
    run_id = finished_run(live)
    for path in (f"/events/executions/{run_id}", f"/events/harmonia/executions/{run_id}"):
        refused = httpx.get(f"http://{server}{path}", timeout=10)
        assert refused.status_code == 401
        # In the error body of the profile the path belongs to (seed 000 or 001).
        assert refused.json()["error"]["message"].startswith("Authentication required")
        wrong = httpx.get(f"http://{server}{path}", headers={"X-API-Key": "nope"}, timeout=10)
        assert wrong.status_code == 401
    url = f"http://{server}/events/executions/{run_id}?api_key={ADMIN_KEY}"
    events = sse_collect(url, headers={"Authorization": ""})
    assert events[-1]["type"] == "workflow_completed"
    # The key in the query string stays out of the access log; the request id is in it.
    time.sleep(0.5)
    text = log.read_text()
    assert ADMIN_KEY not in text
    assert f"/events/executions/{run_id}" in text and "req=req-" in text


# -- rate limits ----------------------------------------------------------------------------------


@pytest.fixture
def limited(settings, rt, clean):
    """An API with small limits, and no counts left over from earlier tests."""
    for key in rt.redis.scan_iter("*harmonia-limit*"):
        rt.redis.delete(key)
    app = admin_app(settings.with_(rate_limit="5 per minute", login_rate_limit="3 per minute"))
    yield app
    app.extensions["harmonia"].close()


def test_rate_limits_count_per_identity_and_answer_429_with_retry_after(limited):
    admin = limited.test_client()
    key = admin.post("/api/v1/auth/keys", json={"name": "other", "role": "viewer"}).json["key"]
    for _ in range(4):  # the key creation was the first of five
        assert admin.get("/api/v1/runs").status_code == 200
    refused = admin.get("/api/v1/runs")
    body = assert_error(refused, 429)
    assert "5 per 1 minute" in body["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == "5"
    # Another identity has its own budget.
    other = FlaskClient(limited)
    assert other.get("/api/v1/runs", headers={"X-API-Key": key}).status_code == 200
    # Liveness probes are never limited.
    assert admin.get("/health").status_code == 200


def test_login_attempts_are_limited_per_address(limited):
    anonymous = FlaskClient(limited)
    attempt = {"username": "nobody", "password": "guessing"}
    for _ in range(3):
        assert anonymous.post("/api/v1/auth/login", json=attempt).status_code == 401
    assert_error(anonymous.post("/api/v1/auth/login", json=attempt), 429)


def test_the_dashboards_login_form_is_limited_too(limited):
    browser = FlaskClient(limited)
    form = browser.get("/ui/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    attempt = {"csrf_token": token, "username": "nobody", "password": "guessing"}
    for _ in range(3):
        assert browser.post("/ui/login", data=attempt).status_code == 401
    refused = browser.post("/ui/login", data=attempt)
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert "Too many attempts" in refused.get_data(as_text=True)


# -- CORS, headers, what is open ------------------------------------------------------------------


def test_cors_is_off_by_default_and_allows_only_configured_origins(client, settings):
    origin = {"Origin": "https://ui.example"}
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/runs", headers=origin).headers
    app = admin_app(settings.with_(cors_origins=("https://ui.example",)))
    try:
        cors = FlaskClient(app)
        preflight = cors.options(
            "/api/v1/runs",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://ui.example"
        assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
        answer = cors.get("/api/v1/runs", headers={**origin, **ADMIN})
        assert answer.headers["Access-Control-Allow-Origin"] == "https://ui.example"
        assert "X-Request-ID" in answer.headers["Access-Control-Expose-Headers"]
        stranger = cors.get("/api/v1/runs", headers={"Origin": "https://evil.example", **ADMIN})
        assert "Access-Control-Allow-Origin" not in stranger.headers
    finally:
        app.extensions["harmonia"].close()


def test_html_pages_carry_security_headers_and_every_answer_nosniff(client):
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "<script>" not in page.get_data(as_text=True)  # no inline script: CSP holds
    for response in (client.get("/api/v1/runs"), FlaskClient(client.application).get("/x")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_docs_need_a_key_unless_configured_open_and_readiness_the_other_way(client, settings):
    anonymous = FlaskClient(client.application)
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert_error(anonymous.get(path), 401)
    assert anonymous.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/health/ready").status_code in (200, 503)
    app = admin_app(settings.with_(public_docs=True, public_ready=False))
    try:
        other = FlaskClient(app)
        spec = other.get("/openapi.json")
        assert spec.status_code == 200
        assert {"bearerAuth", "apiKeyHeader"} <= set(spec.json["components"]["securitySchemes"])
        assert spec.json["paths"]["/health"]["get"]["security"] == []
        assert spec.json["paths"]["/api/v1/auth/login"]["post"]["security"] == []
        assert other.get("/docs").status_code == 200
        assert_error(other.get("/health/ready"), 401)
    finally:
        app.extensions["harmonia"].close()


def test_refusals_carry_the_request_id_they_were_sent_with(client):
    anonymous = FlaskClient(client.application)
    response = anonymous.get("/api/v1/runs", headers={"X-Request-ID": "trace-42"})
    assert assert_error(response, 401)["request_id"] == "trace-42"
    viewer = client.post("/api/v1/auth/keys", json={"name": "v", "role": "viewer"}).json["key"]
    refused = anonymous.post(
        "/api/v1/workflows", json=NOOP, headers={"X-API-Key": viewer, "X-Request-ID": "trace-43"}
    )
    assert assert_error(refused, 403)["request_id"] == "trace-43"


def test_agent_credentials_never_come_back(client):
    body = {
        "name": "secretive",
        "url": "http://127.0.0.1:9",
        "auth_type": "bearer",
        "auth_config": {"token": "agent-token-value"},
    }
    created = client.post("/api/v1/agents", json=body)
    assert created.status_code == 201
    for response in (
        created,
        client.get(f"/api/v1/agents/{created.json['id']}"),
        client.get("/api/v1/agents"),
        client.get("/api/v1/events"),
    ):
        assert "agent-token-value" not in response.get_data(as_text=True)
