"""``/api/v1/agents`` per seed 002: CRUD, defaults, write-only auth_config, real health checks."""

from __future__ import annotations

import pytest

from tests.integration.api_support import assert_error, free_port, http_server, timestamp

AGENT_KEYS = {
    "id",
    "name",
    "url",
    "description",
    "auth_type",
    "timeout_ms",
    "retry_config",
    "status",
    "created_at",
    "updated_at",
}
DEFAULT_RETRY = {
    "max_retries": 3,
    "initial_delay_ms": 1000,
    "max_delay_ms": 30000,
    "backoff_multiplier": 2.0,
}
SECRET = "s3cret-token-never-shown"


def create_agent(client, **fields) -> dict:
    body = {"name": "data-processor", "url": "http://data-processor:8080", **fields}
    response = client.post("/api/v1/agents", json=body)
    assert response.status_code == 201, response.json
    return response.json


def agents(client, **query) -> dict:
    response = client.get("/api/v1/agents", query_string=query)
    assert response.status_code == 200, response.json
    return response.json


# -- create and read ----------------------------------------------------------------------------


def test_create_applies_seed_002_defaults(client):
    agent = create_agent(client, description="Processes data transformations")
    assert set(agent) == AGENT_KEYS
    assert agent["name"] == "data-processor"
    assert agent["url"] == "http://data-processor:8080"
    assert agent["description"] == "Processes data transformations"
    assert (agent["auth_type"], agent["timeout_ms"], agent["status"]) == ("none", 30000, "active")
    assert agent["retry_config"] == DEFAULT_RETRY
    timestamp(agent["created_at"])
    fetched = client.get(f"/api/v1/agents/{agent['id']}")
    assert fetched.status_code == 200
    assert {k: v for k, v in fetched.json.items() if not k.endswith("_at")} == {
        k: v for k, v in agent.items() if not k.endswith("_at")
    }
    assert timestamp(fetched.json["created_at"]) == timestamp(agent["created_at"])


def test_given_values_override_defaults_and_partial_retry_config_is_completed(client):
    agent = create_agent(client, timeout_ms=60000, retry_config={"max_retries": 5})
    assert agent["timeout_ms"] == 60000
    assert agent["retry_config"] == {**DEFAULT_RETRY, "max_retries": 5}


def test_auth_config_is_write_only(client):
    """Stored to authenticate calls, never returned: not on create, read, list or update."""
    created = client.post(
        "/api/v1/agents",
        json={
            "name": "secured",
            "url": "http://secured:8080",
            "auth_type": "bearer",
            "auth_config": {"token": SECRET},
        },
    )
    assert created.status_code == 201
    agent_id = created.json["id"]
    responses = [
        created,
        client.get(f"/api/v1/agents/{agent_id}"),
        client.get("/api/v1/agents"),
        client.put(f"/api/v1/agents/{agent_id}", json={"auth_config": {"token": SECRET + "2"}}),
        client.get("/api/v1/agents?status=active"),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        assert SECRET not in response.get_data(as_text=True)
        assert "auth_config" not in response.get_data(as_text=True)
    assert created.json["auth_type"] == "bearer"


def test_duplicate_name_is_400_and_not_written(client):
    create_agent(client)
    response = client.post("/api/v1/agents", json={"name": "data-processor", "url": "http://x:1"})
    assert_error(response, 400, detail="Agent name 'data-processor' already exists")
    assert agents(client)["total"] == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timeout_ms": 999}, "timeout_ms"),
        ({"timeout_ms": 300001}, "timeout_ms"),
        ({"timeout_ms": "slow"}, "timeout_ms"),
        ({"auth_type": "basic"}, "auth_type"),
        ({"url": "not a url"}, "url"),
        ({"name": ""}, "name"),
        ({"retry_config": {"max_retries": 11}}, "retry_config.max_retries"),
        ({"retry_config": {"initial_delay_ms": 99}}, "retry_config.initial_delay_ms"),
        ({"retry_config": {"backoff_multiplier": 0.5}}, "retry_config.backoff_multiplier"),
        ({"retry_config": {"jitter": True}}, "retry_config.jitter"),
        ({"owner": "me"}, "owner"),
    ],
    ids=[
        "timeout_too_small",
        "timeout_too_large",
        "timeout_not_int",
        "auth_type_unknown",
        "url_invalid",
        "name_empty",
        "max_retries_over_10",
        "initial_delay_under_100",
        "multiplier_under_1",
        "retry_unknown_key",
        "unknown_field",
    ],
)
def test_invalid_fields_are_422_naming_the_field(client, fields, field):
    body = {"name": "a", "url": "http://a:8080", **fields}
    assert_error(client.post("/api/v1/agents", json=body), 422, field=field)
    assert agents(client)["total"] == 0


@pytest.mark.parametrize("missing", ["name", "url"])
def test_required_fields_are_422_when_missing(client, missing):
    body = {"name": "a", "url": "http://a:8080"}
    del body[missing]
    assert_error(client.post("/api/v1/agents", json=body), 422, field=missing)


# -- list ---------------------------------------------------------------------------------------


def test_list_filters_by_status_and_hides_deleted_by_default(client):
    active = create_agent(client, name="active-one")
    inactive = create_agent(client, name="inactive-one")
    deleted = create_agent(client, name="deleted-one")
    client.put(f"/api/v1/agents/{inactive['id']}", json={"status": "inactive"})
    client.delete(f"/api/v1/agents/{deleted['id']}")

    def names(**query):
        return sorted(item["name"] for item in agents(client, **query)["items"])

    assert names() == ["active-one", "inactive-one"]
    assert names(status="active") == ["active-one"]
    assert names(status="inactive") == ["inactive-one"]
    assert names(status="deleted") == ["deleted-one"]
    assert agents(client, status="active")["items"][0]["id"] == active["id"]
    assert_error(client.get("/api/v1/agents?status=sleeping"), 422, field="status")


def test_list_paginates(client):
    for i in range(3):
        create_agent(client, name=f"agent-{i}")
    first, second = agents(client, page_size=2), agents(client, page=2, page_size=2)
    assert (first["total"], first["total_pages"], len(first["items"])) == (3, 2, 2)
    assert (second["page"], len(second["items"])) == (2, 1)
    assert {a["name"] for a in first["items"] + second["items"]} == {
        "agent-0",
        "agent-1",
        "agent-2",
    }
    assert_error(client.get("/api/v1/agents?page_size=101"), 422, field="page_size")


# -- update and delete --------------------------------------------------------------------------


def test_update_changes_only_the_fields_given(client):
    agent = create_agent(client, description="before", retry_config={"max_retries": 4})
    response = client.put(
        f"/api/v1/agents/{agent['id']}",
        json={"description": "after", "timeout_ms": 60000, "retry_config": {"max_delay_ms": 5000}},
    )
    assert response.status_code == 200, response.json
    updated = response.json
    assert updated["description"] == "after" and updated["timeout_ms"] == 60000
    assert (updated["name"], updated["url"], updated["auth_type"], updated["status"]) == (
        agent["name"],
        agent["url"],
        "none",
        "active",
    )
    assert updated["retry_config"] == {**DEFAULT_RETRY, "max_retries": 4, "max_delay_ms": 5000}
    assert timestamp(updated["updated_at"]) >= timestamp(agent["updated_at"])
    assert client.get(f"/api/v1/agents/{agent['id']}").json["description"] == "after"


def test_update_to_a_taken_name_or_bad_value_is_rejected(client):
    create_agent(client, name="first")
    second = create_agent(client, name="second")
    assert_error(
        client.put(f"/api/v1/agents/{second['id']}", json={"name": "first"}),
        400,
        detail="already exists",
    )
    assert_error(
        client.put(f"/api/v1/agents/{second['id']}", json={"timeout_ms": 10}),
        422,
        field="timeout_ms",
    )
    assert_error(
        client.put(f"/api/v1/agents/{second['id']}", json={"status": "deleted"}),
        422,
        field="status",
    )
    assert client.get(f"/api/v1/agents/{second['id']}").json["name"] == "second"


def test_update_unknown_agent_is_404(client):
    assert_error(client.put("/api/v1/agents/nope", json={"description": "x"}), 404, detail="nope")


def test_delete_answers_a_message_then_the_agent_is_gone(client):
    agent = create_agent(client)
    response = client.delete(f"/api/v1/agents/{agent['id']}")
    assert response.status_code == 200
    assert response.json == {"message": f"Agent '{agent['id']}' deleted successfully"}
    assert_error(client.get(f"/api/v1/agents/{agent['id']}"), 404, detail=agent["id"])
    assert_error(client.delete(f"/api/v1/agents/{agent['id']}"), 404)
    assert_error(client.get(f"/api/v1/agents/{agent['id']}/health"), 404)
    assert agents(client)["total"] == 0


# -- health -------------------------------------------------------------------------------------


def test_health_of_a_live_agent(client):
    with http_server({"/health": (200, {"status": "ok"})}) as server:
        agent = create_agent(
            client, url=server.url, auth_type="bearer", auth_config={"token": SECRET}
        )
        response = client.get(f"/api/v1/agents/{agent['id']}/health")
    assert response.status_code == 200, response.json
    assert response.json["healthy"] is True
    assert response.json["status_code"] == 200
    assert response.json["response_time_ms"] > 0
    assert response.json["error"] is None
    [seen] = server.requests
    assert (seen.method, seen.path) == ("GET", "/health")
    assert seen.headers["Authorization"] == f"Bearer {SECRET}"  # the agent's own auth is used


def test_health_of_an_agent_answering_an_error(client):
    with http_server({"/health": (503, {"status": "starting"})}) as server:
        agent = create_agent(client, url=server.url)
        response = client.get(f"/api/v1/agents/{agent['id']}/health")
    assert response.status_code == 200
    assert response.json["healthy"] is False
    assert response.json["status_code"] == 503
    assert "503" in response.json["error"]


def test_health_of_an_unreachable_agent(client):
    agent = create_agent(client, url=f"http://127.0.0.1:{free_port()}", timeout_ms=2000)
    response = client.get(f"/api/v1/agents/{agent['id']}/health")
    assert response.status_code == 200
    health = response.json
    assert set(health) == {"healthy", "status_code", "response_time_ms", "error"}
    assert health["healthy"] is False
    assert health["status_code"] is None and health["response_time_ms"] is None
    assert health["error"] and "onnect" in health["error"]
