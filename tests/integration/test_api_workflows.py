"""``/api/v1/workflows`` per seed 002: create, read, list, versions, delete, execute, plan."""

from __future__ import annotations

import pytest

from tests.integration.api_support import assert_error, timestamp
from tests.integration.helpers import create_workflow, unique

WORKFLOW_KEYS = {
    "id",
    "name",
    "description",
    "version",
    "workflow_data",
    "status",
    "created_at",
    "updated_at",
}


def seed_002_body(name: str) -> dict:
    """Seed 002's create example (two steps), with the agents it names registered first."""
    return {
        "name": name,
        "description": "ETL pipeline for data processing",
        "start_step": "extract",
        "steps": {
            "extract": {
                "id": "extract",
                "agent_name": "DataExtractorAgent",
                "next_step": "transform",
                "input_mapping": {"source_url": "${workflow.input.data_source}"},
            },
            "transform": {
                "id": "transform",
                "agent_name": "DataTransformerAgent",
                "next_step": None,
                "input_mapping": {"raw_data": "${extract.output.data}"},
            },
        },
    }


def register_seed_agents(client) -> None:
    for name in ("DataExtractorAgent", "DataTransformerAgent"):
        response = client.post("/api/v1/agents", json={"name": name, "url": "http://agent:8080"})
        assert response.status_code == 201, response.json


def echo_steps(*ids: str) -> dict:
    """A seed-002 chain of builtin echo steps: ids[0] → ids[1] → ..."""
    steps = {}
    for index, sid in enumerate(ids):
        steps[sid] = {
            "id": sid,
            "component": "builtin",
            "action": "echo",
            "next_step": ids[index + 1] if index + 1 < len(ids) else None,
            "input_mapping": {"step": sid},
        }
    return {"start_step": ids[0], "steps": steps}


def listing(client, **query) -> dict:
    response = client.get("/api/v1/workflows", query_string=query)
    assert response.status_code == 200, response.json
    return response.json


# -- create and read ----------------------------------------------------------------------------


def test_create_answers_seed_002_shape_and_get_returns_the_same(client):
    register_seed_agents(client)
    body = seed_002_body("data-processing-pipeline")
    response = client.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.json
    created = response.json
    assert set(created) >= WORKFLOW_KEYS
    assert created["name"] == "data-processing-pipeline"
    assert created["description"] == "ETL pipeline for data processing"
    assert created["version"] == 1
    assert created["status"] == "active"
    assert created["workflow_data"] == {"start_step": "extract", "steps": body["steps"]}

    fetched = client.get(f"/api/v1/workflows/{created['id']}")
    assert fetched.status_code == 200
    assert {k: fetched.json[k] for k in WORKFLOW_KEYS - {"created_at", "updated_at"}} == {
        k: created[k] for k in WORKFLOW_KEYS - {"created_at", "updated_at"}
    }
    # The same instant, with its zone, whichever call (and database) produced it.
    for key in ("created_at", "updated_at"):
        assert timestamp(fetched.json[key]) == timestamp(created[key])


def test_duplicate_name_is_rejected_and_nothing_is_written(client):
    first = create_workflow(client, {"name": "orders", **echo_steps("a")})
    response = client.post("/api/v1/workflows", json={"name": "orders", **echo_steps("b")})
    assert_error(response, 400, detail="already exists")
    page = listing(client)
    assert page["total"] == 1 and page["items"][0]["id"] == first["id"]


def test_get_unknown_workflow_is_404_with_seed_002_error_body(client):
    response = client.get("/api/v1/workflows/does-not-exist")
    body = assert_error(response, 404, detail="does-not-exist")
    assert body["error"] == "Not Found"
    assert body["errors"] == []
    assert body["request_id"].startswith("req-")


def test_client_request_id_is_echoed_on_errors_and_successes(client):
    error = client.get("/api/v1/workflows/nope", headers={"X-Request-ID": "trace-abc-123"})
    assert error.headers["X-Request-ID"] == "trace-abc-123"
    assert error.json["request_id"] == "trace-abc-123"
    ok = client.get("/api/v1/workflows", headers={"X-Request-ID": "trace-def-456"})
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "trace-def-456"
    generated = [client.get("/api/v1/workflows").headers["X-Request-ID"] for _ in range(2)]
    assert generated[0] != generated[1]


# -- list: pagination, filters, sorting ---------------------------------------------------------


def test_list_paginates_with_totals(client):
    ids = {create_workflow(client, echo_steps("a"))["id"] for _ in range(5)}
    pages = [listing(client, page=n, page_size=2) for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    for number, page in enumerate(pages, start=1):
        assert (page["page"], page["page_size"], page["total"], page["total_pages"]) == (
            number,
            2,
            5,
            3,
        )
    seen = [item["id"] for page in pages for item in page["items"]]
    assert sorted(seen) == sorted(ids)  # every workflow exactly once
    default = listing(client)
    assert (default["page"], default["page_size"], default["total_pages"]) == (1, 20, 1)
    far = listing(client, page=10**20)  # far past the end: empty, not an error
    assert far["items"] == [] and far["total"] == 5


def test_list_filters_by_status_and_exact_name(client):
    active = create_workflow(client, {"name": "alpha", **echo_steps("a")})
    paused = create_workflow(client, {"name": "alphabet", **echo_steps("a")})
    gone = create_workflow(client, {"name": "beta", **echo_steps("a")})
    assert (
        client.put(f"/api/v1/workflows/{paused['id']}", json={"status": "inactive"}).status_code
        == 200
    )
    assert client.delete(f"/api/v1/workflows/{gone['id']}").status_code == 200

    def names(**query):
        return sorted(item["name"] for item in listing(client, **query)["items"])

    assert names() == ["alpha", "alphabet"]  # deleted ones are hidden by default
    assert names(status="active") == ["alpha"]
    assert names(status="inactive") == ["alphabet"]
    assert names(status="deleted") == ["beta"]
    assert names(name="alpha") == ["alpha"]  # exact match, not a prefix
    assert names(name="alp") == []
    assert listing(client, name="alpha")["items"][0]["id"] == active["id"]


@pytest.mark.parametrize(
    ("order", "expected"),
    [("asc", ["apple", "mango", "zebra"]), ("desc", ["zebra", "mango", "apple"])],
    ids=["asc", "desc"],
)
def test_list_sorts_by_name(client, order, expected):
    for name in ("mango", "zebra", "apple"):
        create_workflow(client, {"name": name, **echo_steps("a")})
    page = listing(client, sort_by="name", sort_order=order)
    assert [item["name"] for item in page["items"]] == expected


def test_list_sorts_by_version(client):
    old = create_workflow(client, {"name": "one-version", **echo_steps("a")})
    changed = create_workflow(client, {"name": "three-versions", **echo_steps("a")})
    for steps in (echo_steps("a", "b"), echo_steps("a", "b", "c")):
        changed = client.put(f"/api/v1/workflows/{changed['id']}", json=steps).json
    assert changed["version"] == 3
    desc = listing(client, sort_by="version", sort_order="desc")["items"]
    assert [(i["name"], i["version"]) for i in desc] == [("three-versions", 3), ("one-version", 1)]
    asc = listing(client, sort_by="version", sort_order="asc")["items"]
    assert [i["id"] for i in asc] == [old["id"], changed["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": 101}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"sort_by": "colour"}, "sort_by"),
        ({"sort_order": "sideways"}, "sort_order"),
        ({"status": "archived"}, "status"),
    ],
    ids=[
        "page_size_over_100",
        "page_size_zero",
        "page_zero",
        "page_not_int",
        "sort_by_unknown",
        "sort_order_unknown",
        "status_unknown",
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(client, query, field):
    assert_error(client.get("/api/v1/workflows", query_string=query), 422, field=field)


# -- update and versions ------------------------------------------------------------------------


def test_update_description_only_keeps_the_version(client):
    workflow = create_workflow(client, {"description": "old", **echo_steps("a", "b")})
    response = client.put(f"/api/v1/workflows/{workflow['id']}", json={"description": "new"})
    assert response.status_code == 200, response.json
    updated = response.json
    assert (updated["id"], updated["version"], updated["description"]) == (workflow["id"], 1, "new")
    assert updated["workflow_data"] == workflow["workflow_data"]
    assert client.get(f"/api/v1/workflows/{workflow['id']}").json["description"] == "new"
    versions = client.get(f"/api/v1/workflows/{workflow['id']}/versions").json
    assert versions["total"] == 1


def test_a_definition_change_is_a_new_version_even_outside_the_structure(client):
    workflow = create_workflow(
        client, {"tasks": {"a": {"action": "builtin.echo", "input": {"x": "${variables.x}"}}}}
    )
    changed = client.put(f"/api/v1/workflows/{workflow['id']}", json={"variables": {"x": 1}})
    assert changed.status_code == 200, changed.json
    assert changed.json["version"] == 2 and changed.json["id"] != workflow["id"]
    old = client.get(f"/api/v1/workflows/{workflow['id']}").json
    assert "variables" not in old["workflow_data"]  # what its runs ran is unchanged
    renamed = client.put(f"/api/v1/workflows/{changed.json['id']}", json={"description": "d"})
    assert renamed.json["version"] == 2  # name, description and status change in place


def test_update_steps_makes_version_2_and_retires_version_1(client):
    v1 = create_workflow(client, {"name": "pipeline", **echo_steps("extract", "load")})
    response = client.put(
        f"/api/v1/workflows/{v1['id']}", json=echo_steps("extract", "validate", "load")
    )
    assert response.status_code == 200, response.json
    v2 = response.json
    assert v2["version"] == 2 and v2["id"] != v1["id"]
    assert (v2["name"], v2["status"]) == ("pipeline", "active")
    assert set(v2["workflow_data"]["steps"]) == {"extract", "validate", "load"}

    old = client.get(f"/api/v1/workflows/{v1['id']}").json
    assert (old["version"], old["status"]) == (1, "inactive")
    assert set(old["workflow_data"]["steps"]) == {"extract", "load"}  # history is kept as it was

    page = listing(client)  # the list shows each workflow once: its latest version
    assert [(i["id"], i["version"]) for i in page["items"]] == [(v2["id"], 2)]

    for any_version in (v1["id"], v2["id"]):
        versions = client.get(f"/api/v1/workflows/{any_version}/versions").json
        assert [(i["version"], i["status"]) for i in versions["items"]] == [
            (2, "active"),
            (1, "inactive"),
        ]
        assert (versions["total"], versions["total_pages"]) == (2, 1)


def test_versions_paginate_newest_first(client):
    workflow = create_workflow(client, echo_steps("a"))
    for extra in ("b", "c", "d"):
        workflow = client.put(
            f"/api/v1/workflows/{workflow['id']}", json=echo_steps("a", extra)
        ).json
    first = client.get(f"/api/v1/workflows/{workflow['id']}/versions?page_size=3").json
    second = client.get(f"/api/v1/workflows/{workflow['id']}/versions?page=2&page_size=3").json
    assert [i["version"] for i in first["items"]] == [4, 3, 2]
    assert [i["version"] for i in second["items"]] == [1]
    assert (first["total"], first["total_pages"]) == (4, 2)


def test_versions_of_unknown_workflow_is_404(client):
    assert_error(client.get("/api/v1/workflows/nope/versions"), 404, detail="nope")


# -- delete and execute -------------------------------------------------------------------------


def test_delete_hides_the_workflow_and_blocks_execution(client):
    workflow = create_workflow(client, echo_steps("a"))
    response = client.delete(f"/api/v1/workflows/{workflow['id']}")
    assert response.status_code == 200
    assert response.json == {"message": f"Workflow '{workflow['id']}' deleted successfully"}
    assert listing(client)["total"] == 0
    execute = client.post(f"/api/v1/workflows/{workflow['id']}/execute", json={"input_data": {}})
    assert_error(execute, 404, detail=workflow["id"])
    assert_error(client.delete(f"/api/v1/workflows/{workflow['id']}"), 404)
    assert_error(client.put(f"/api/v1/workflows/{workflow['id']}", json={"description": "x"}), 404)
    assert client.get("/api/v1/runs").json["total"] == 0


def test_deleting_unknown_workflow_is_404(client):
    assert_error(client.delete("/api/v1/workflows/nope"), 404, detail="nope")


def test_executing_an_inactive_workflow_is_400(client):
    workflow = create_workflow(client, echo_steps("a"))
    client.put(f"/api/v1/workflows/{workflow['id']}", json={"status": "inactive"})
    response = client.post(f"/api/v1/workflows/{workflow['id']}/execute", json={"input_data": {}})
    assert_error(response, 400, detail="not active")
    assert client.get("/api/v1/runs").json["total"] == 0  # no run row was written


def test_executing_a_retired_version_is_400(client):
    v1 = create_workflow(client, echo_steps("a"))
    client.put(f"/api/v1/workflows/{v1['id']}", json=echo_steps("a", "b"))
    response = client.post(f"/api/v1/workflows/{v1['id']}/execute", json={"input_data": {}})
    assert_error(response, 400, detail="not active")


def test_execute_unknown_workflow_is_404(client):
    response = client.post("/api/v1/workflows/nope/execute", json={"input_data": {}})
    assert_error(response, 404, detail="nope")


# -- plan ---------------------------------------------------------------------------------------


def test_plan_of_a_non_series_parallel_dag_reports_its_barrier_edge(client):
    workflow = create_workflow(
        client,
        {
            "tasks": {
                "A": {"action": "builtin.noop"},
                "B": {"action": "builtin.noop"},
                "C": {"action": "builtin.noop", "depends_on": ["A"]},
                "D": {"action": "builtin.noop", "depends_on": ["A", "B"]},
            }
        },
    )
    response = client.get(f"/api/v1/workflows/{workflow['id']}/plan")
    assert response.status_code == 200, response.json
    plan = response.json
    assert (plan["workflow_definition_id"], plan["version"]) == (workflow["id"], 1)
    assert (plan["task_count"], plan["series_parallel"]) == (4, False)
    # C must also wait for B so that {A, B} → {C, D} is series-parallel: one added edge.
    assert plan["barrier_edges"] == [{"from": "B", "to": "C"}]
    assert plan["barrier_edge_count"] == 1
    stages = plan["structure"]["series"]
    assert [set(stage["parallel"]) for stage in stages] == [{"A", "B"}, {"C", "D"}]


def test_plan_of_a_seed_002_chain_needs_no_barrier(client):
    workflow = create_workflow(client, echo_steps("extract", "transform", "load"))
    plan = client.get(f"/api/v1/workflows/{workflow['id']}/plan").json
    assert plan["series_parallel"] is True
    assert plan["barrier_edges"] == [] and plan["barrier_edge_count"] == 0
    assert plan["structure"] == {"series": ["extract", "transform", "load"]}


def test_plan_of_unknown_workflow_is_404(client):
    assert_error(client.get(f"/api/v1/workflows/{unique('nope')}/plan"), 404)
