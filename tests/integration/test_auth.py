"""Who may do what: API keys, users and their tokens, and each role against a matrix of routes.

Every route answers 401 without credentials (``/health``, login and the docs' bundled scripts
excepted), 403 to a role below the one it needs, and the route's own answer otherwise.
"""

from __future__ import annotations

import time

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from app.api.operations import declared, operation_of
from app.api.security import required_role, route_role
from app.models import Role
from app.profiles import profile_of_request
from tests.integration.api_support import ADMIN_KEY, assert_error
from tests.integration.helpers import create_workflow, execute, unique

AUTH = "/api/v1/auth"
NOOP = {"tasks": {"t": {"action": "builtin.noop"}}}


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def new_key(client, role: str, **extra) -> dict:
    response = client.post(f"{AUTH}/keys", json={"name": unique(role), "role": role, **extra})
    assert response.status_code == 201, response.json
    return response.json


def new_user(client, role: str, password: str = "correct horse battery") -> dict:
    body = {"username": unique(role), "password": password, "role": role}
    response = client.post(f"{AUTH}/users", json=body)
    assert response.status_code == 201, response.json
    return response.json


def login(anonymous: FlaskClient, username: str, password: str, path: str = f"{AUTH}/login"):
    return anonymous.post(path, json={"username": username, "password": password})


@pytest.fixture
def anonymous(app, clean) -> FlaskClient:
    return FlaskClient(app)


# -- the role matrix ------------------------------------------------------------------------------


@pytest.fixture
def matrix(live):
    """A workflow, a run and an agent to act on, and one request per kind of operation."""
    workflow = create_workflow(live, NOOP)
    run_id = execute(live, workflow["id"])
    agent = live.post("/api/v1/agents", json={"name": unique("ag"), "url": "http://127.0.0.1:9"})
    assert agent.status_code == 201
    return {
        "read": [
            ("GET", "/api/v1/workflows", None, 200),
            ("GET", f"/api/v1/runs/{run_id}", None, 200),
            ("GET", "/api/v1/agents", None, 200),
            ("GET", "/api/v1/checkpoints", None, 200),
            ("GET", f"{AUTH}/me", None, 200),
        ],
        "run": [
            ("POST", "/api/v1/workflows", {"name": unique("wf"), **NOOP}, 201),
            ("POST", f"/api/v1/workflows/{workflow['id']}/execute", {}, 202),
        ],
        "control": [
            ("PUT", f"/api/v1/runs/{run_id}/state", {"state": {"k": 1}}, 200),
            ("POST", f"/api/v1/runs/{run_id}/checkpoints", {}, 201),
        ],
        "admin": [
            ("POST", "/api/v1/agents", {"name": unique("ag"), "url": "http://127.0.0.1:9"}, 201),
            ("PUT", f"/api/v1/agents/{agent.json['id']}", {"description": "d"}, 200),
            ("POST", f"{AUTH}/keys", {"name": "k", "role": "viewer"}, 201),
            ("GET", f"{AUTH}/users", None, 200),
        ],
    }


ALLOWED = {
    "viewer": {"read"},
    "operator": {"read", "run", "control"},
    "admin": {"read", "run", "control", "admin"},
}


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_each_role_gets_exactly_what_it_may(live, matrix, role):
    anonymous = FlaskClient(live.application)
    key = new_key(live, role)["key"]
    for kind, requests in matrix.items():
        for method, path, body, status in requests:
            response = anonymous.open(path, method=method, json=body, headers=bearer(key))
            if kind in ALLOWED[role]:
                assert response.status_code == status, (role, method, path, response.json)
            else:
                detail = f"Role '{role}' may not {method}"
                assert_error(response, 403, detail=detail)


def test_without_credentials_every_kind_of_operation_is_401(live, matrix):
    anonymous = FlaskClient(live.application)
    for requests in matrix.values():
        for method, path, body, _ in requests:
            response = anonymous.open(path, method=method, json=body)
            assert_error(response, 401, detail="Authentication required")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def profile_owning(app, path: str):
    with app.test_request_context(path):
        return profile_of_request(app)


def test_every_route_in_the_app_is_guarded(app, anonymous):
    """No route is forgotten: each rule answers 401 to an anonymous request unless the policy
    names it open, and the policy's open list is exactly what answers without credentials."""
    open_routes, open_sockets = set(), set()
    for rule in app.url_map.iter_rules():
        if rule.websocket and route_role(app, rule.endpoint, "GET") is None:
            # Authenticated inside its protocol (GraphQL's connection_init: test_graphql.py).
            open_sockets.add(rule.rule)
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", "1").replace(f"<int:{name}>", "1")
            path = path.replace(f"<path:{name}>", "x.js")
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            needed = route_role(app, rule.endpoint, method)
            response = anonymous.open(path, method=method, json={})
            if needed is None:
                open_routes.add(rule.rule)
                assert response.status_code != 401, (method, path)
            elif rule.endpoint.startswith("ui."):  # the dashboard: a person is sent to log in
                assert response.status_code == 302, (method, path)
                assert response.headers["Location"].startswith("/ui/login?next=")
            elif profile_owning(app, path) is None:
                assert_error(response, 401)
            else:  # in the profile's own error body (checked in its test module)
                assert response.status_code == 401, (method, path, response.json)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert open_routes == {
        "/health",
        "/health/ready",
        "/metrics",
        "/api/v1/auth/login",
        "/api/auth/login",
        "/ui/login",
        "/static/<path:filename>",
        "/docs/assets/<path:filename>",
    }
    assert open_sockets == {"/graphql"}


def test_the_policy_needs_admin_for_identities_and_agents_and_operator_for_changes(app):
    settings = app.extensions["harmonia"].settings

    def needs(endpoint: str, method: str, **changes):
        kind = operation_of(app.view_functions.get(endpoint), endpoint, method)
        return required_role(kind, settings.with_(**changes))

    assert needs("auth.ApiKeys", "GET") is Role.ADMIN
    assert needs("auth.Me", "GET") is Role.VIEWER
    assert needs("agents.AgentById", "DELETE") is Role.ADMIN
    assert needs("agents.AgentHealth", "GET") is Role.VIEWER
    assert needs("runs.RunCancel", "POST") is Role.OPERATOR
    assert needs("workflows.WorkflowExecute", "POST") is Role.OPERATOR
    assert needs("__flask_sock.run_socket", "GET") is Role.VIEWER
    assert needs("api-docs.openapi_json", "GET") is Role.VIEWER
    assert needs("api-docs.openapi_json", "GET", public_docs=True) is None
    assert needs("system.Ready", "GET", public_ready=False) is Role.VIEWER
    assert needs("system.Metrics", "GET", public_ready=False) is Role.VIEWER
    assert needs("system.Ready", "GET") is None


def test_every_write_route_declares_its_operation(app):
    """The policy is keyed by what a route does: a write that declares nothing would be
    admin-only by default (fail closed), so every one must say whether it runs, controls or
    administers."""
    undeclared = [
        f"{method} {rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods - {"OPTIONS", "HEAD", "GET"})
        if declared(app.view_functions.get(rule.endpoint), rule.endpoint, method) is None
    ]
    assert undeclared == []


# -- API keys -------------------------------------------------------------------------------------


def test_a_key_is_shown_once_listed_without_its_secret_and_works_in_each_header(client, anonymous):
    created = new_key(client, "operator")
    key = created.pop("key")
    assert key.startswith("hmn_") and created["prefix"] == key[:12]
    assert created["created_by"] == "HARMONIA_ADMIN_API_KEY"
    listed = client.get(f"{AUTH}/keys").json
    assert key not in str(listed) and key not in str(
        client.get(f"{AUTH}/keys/{created['id']}").json
    )
    assert [k["id"] for k in listed["items"]] == [created["id"]]

    for headers in (bearer(key), {"X-API-Key": key}, {"Authorization": f"bearer  {key}"}):
        me = anonymous.get(f"{AUTH}/me", headers=headers)
        assert me.status_code == 200, (headers, me.json)
        assert me.json == {
            "kind": "api_key",
            "id": created["id"],
            "name": created["name"],
            "role": "operator",
        }
    # ?api_key= is for the streams only (it ends up in logs and browser history elsewhere).
    assert_error(anonymous.get(f"{AUTH}/me?api_key={key}"), 401)
    assert client.get(f"{AUTH}/keys/{created['id']}").json["last_used_at"] is not None


def test_a_revoked_key_is_refused_at_once_and_an_unknown_one_too(client, anonymous):
    created = new_key(client, "admin")
    assert anonymous.get("/api/v1/workflows", headers=bearer(created["key"])).status_code == 200
    revoked = client.delete(f"{AUTH}/keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    response = anonymous.get("/api/v1/workflows", headers=bearer(created["key"]))
    assert_error(response, 401, detail="has been revoked")
    assert client.delete(f"{AUTH}/keys/{created['id']}").status_code == 200  # idempotent
    assert_error(anonymous.get("/", headers=bearer("hmn_nope")), 401, detail="Invalid API key")
    assert_error(client.delete(f"{AUTH}/keys/nope"), 404)
    assert client.get(f"{AUTH}/keys?revoked=true").json["total"] == 1
    assert client.get(f"{AUTH}/keys?revoked=false").json["total"] == 0


def test_an_expired_key_is_refused(client, anonymous, rt):
    created = new_key(client, "viewer", expires_in_days=1)
    assert anonymous.get("/api/v1/runs", headers=bearer(created["key"])).status_code == 200
    with rt.db.engine.begin() as connection:  # a day later
        connection.execute(
            text("UPDATE api_keys SET expires_at = :past WHERE id = :id"),
            {"past": "2020-01-01 00:00:00", "id": created["id"]},
        )
    response = anonymous.get("/api/v1/runs", headers=bearer(created["key"]))
    assert_error(response, 401, detail="has expired")
    past = client.post(
        f"{AUTH}/keys", json={"name": "x", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"}
    )
    assert_error(past, 422, field="expires_at")


def test_key_requests_are_validated(client):
    assert_error(client.post(f"{AUTH}/keys", json={"name": "x", "role": "root"}), 422, field="role")
    assert_error(client.post(f"{AUTH}/keys", json={"role": "viewer"}), 422, field="name")
    both = {"name": "x", "role": "viewer", "expires_in_days": 1, "expires_at": "2999-01-01T00:00Z"}
    assert_error(client.post(f"{AUTH}/keys", json=both), 422, field="expires_at")


def test_a_malformed_authorization_header_is_401_not_500(anonymous):
    for value in ("Basic dXNlcjpwdw==", "Bearer", "Bearer  ", "Token abc", "Bearer a.b.c"):
        response = anonymous.get("/api/v1/runs", headers={"Authorization": value})
        assert_error(response, 401)


# -- users and tokens -----------------------------------------------------------------------------


def test_a_user_logs_in_on_both_paths_and_the_token_works_until_it_expires(client, anonymous, rt):
    user = new_user(client, "operator")
    assert "password" not in user and "password_hash" not in user
    for path in (f"{AUTH}/login", "/api/auth/login"):
        response = login(anonymous, user["username"], "correct horse battery", path)
        assert response.status_code == 200, response.json
        assert response.headers["Cache-Control"] == "no-store"
        token = response.json["access_token"]
        assert response.json["token_type"] == "bearer" and response.json["token"] == token
        assert response.json["expires_in"] == rt.settings.token_ttl
        assert response.json["user"] == {
            "id": user["id"],
            "username": user["username"],
            "role": "operator",
        }
        me = anonymous.get(f"{AUTH}/me", headers=bearer(token))
        assert me.json == {
            "kind": "user",
            "id": user["id"],
            "name": user["username"],
            "role": "operator",
        }
    assert client.get(f"{AUTH}/users/{user['id']}").json["last_login_at"]

    claims = jwt.decode(token, rt.settings.secret_key, algorithms=["HS256"])
    claims["exp"] = int(time.time()) - 5
    expired = jwt.encode(claims, rt.settings.secret_key, algorithm="HS256")
    assert_error(anonymous.get("/api/v1/runs", headers=bearer(expired)), 401, detail="expired")
    claims["exp"] = int(time.time()) + 600
    forged = jwt.encode(claims, "not-the-server-secret-" * 3, algorithm="HS256")
    assert_error(anonymous.get("/api/v1/runs", headers=bearer(forged)), 401, detail="Invalid token")
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert_error(
        anonymous.get("/api/v1/runs", headers=bearer(unsigned)), 401, detail="Invalid token"
    )


def test_wrong_passwords_and_unknown_users_get_the_same_401(client, anonymous):
    user = new_user(client, "viewer")
    wrong = login(anonymous, user["username"], "not the password")
    unknown = login(anonymous, "nobody-here", "not the password")
    for response in (wrong, unknown):
        assert_error(response, 401, detail="Invalid username or password")
    assert_error(anonymous.post(f"{AUTH}/login", json={"username": "x"}), 422, field="password")


def test_changing_a_password_disabling_or_deleting_a_user_refuses_their_tokens(client, anonymous):
    user = new_user(client, "viewer")
    first = login(anonymous, user["username"], "correct horse battery").json["access_token"]
    assert anonymous.get("/api/v1/runs", headers=bearer(first)).status_code == 200

    changed = client.put(f"{AUTH}/users/{user['id']}", json={"password": "a new password"})
    assert changed.status_code == 200
    assert_error(anonymous.get("/api/v1/runs", headers=bearer(first)), 401, detail="revoked")
    assert_error(login(anonymous, user["username"], "correct horse battery"), 401)
    second = login(anonymous, user["username"], "a new password").json["access_token"]
    assert anonymous.get("/api/v1/runs", headers=bearer(second)).status_code == 200

    # A role change applies to the next request.
    assert_error(anonymous.post("/api/v1/workflows", json=NOOP, headers=bearer(second)), 403)
    client.put(f"{AUTH}/users/{user['id']}", json={"role": "operator"})
    created = anonymous.post(
        "/api/v1/workflows", json={"name": unique("wf"), **NOOP}, headers=bearer(second)
    )
    assert created.status_code == 201, created.json

    client.put(f"{AUTH}/users/{user['id']}", json={"disabled": True})
    assert_error(anonymous.get("/api/v1/runs", headers=bearer(second)), 401, detail="disabled")
    assert_error(login(anonymous, user["username"], "a new password"), 401, detail="disabled")

    client.put(f"{AUTH}/users/{user['id']}", json={"disabled": False})
    third = login(anonymous, user["username"], "a new password").json["access_token"]
    assert client.delete(f"{AUTH}/users/{user['id']}").status_code == 200
    assert_error(anonymous.get("/api/v1/runs", headers=bearer(third)), 401, detail="no longer")
    assert_error(client.get(f"{AUTH}/users/{user['id']}"), 404)


def test_users_are_validated_and_listed_without_secrets(client):
    user = new_user(client, "admin")
    again = {"username": user["username"], "password": "another password", "role": "viewer"}
    assert_error(client.post(f"{AUTH}/users", json=again), 409, detail="already exists")
    short = {"username": unique("u"), "password": "short", "role": "viewer"}
    assert_error(client.post(f"{AUTH}/users", json=short), 422, field="password")
    odd = {"username": "has space", "password": "long enough", "role": "viewer"}
    assert_error(client.post(f"{AUTH}/users", json=odd), 422, field="username")
    listed = client.get(f"{AUTH}/users?role=admin").json
    assert [u["id"] for u in listed["items"]] == [user["id"]]
    assert "password" not in str(listed) and "$argon2" not in str(listed)


def test_secrets_are_stored_hashed(client, rt):
    key = new_key(client, "viewer")["key"]
    new_user(client, "viewer", password="a very secret phrase")
    with rt.db.engine.connect() as connection:
        stored = [str(row) for row in connection.execute(text("SELECT * FROM api_keys"))]
        stored += [str(row) for row in connection.execute(text("SELECT * FROM users"))]
    assert key not in "".join(stored) and "a very secret phrase" not in "".join(stored)
    assert "$argon2id$" in "".join(stored)


def test_the_bootstrap_key_is_an_admin_that_cannot_be_listed_or_revoked(client):
    assert client.get(f"{AUTH}/me").json == {
        "kind": "api_key",
        "id": "bootstrap",
        "name": "HARMONIA_ADMIN_API_KEY",
        "role": "admin",
    }
    assert client.get(f"{AUTH}/keys").json["total"] == 0
    assert_error(client.delete(f"{AUTH}/keys/bootstrap"), 404)
    assert ADMIN_KEY not in str(client.get(f"{AUTH}/me").json)
