"""``/api/v1/templates`` (seeds 000/001): typed parameters, ``${params.x}`` placeholders,
instantiation into ordinary workflows, and the refusal to run a workflow with unbound ones."""

from __future__ import annotations

import re

import pytest

from tests.integration.api_support import assert_error, problems
from tests.integration.helpers import (
    create_workflow,
    execute,
    steps,
    unique,
    wait_for_run,
)

TEMPLATE_KEYS = {
    "id",
    "template_id",
    "name",
    "description",
    "workflow_id",
    "workflow_definition_id",
    "parameters",
    "metadata",
    "definition",
    "created_at",
    "updated_at",
}
INSTANTIATED_KEYS = {
    "id",
    "workflow_id",
    "name",
    "description",
    "version",
    "workflow_data",
    "dialect",
    "status",
    "template_id",
    "parameter_values",
    "created_at",
    "updated_at",
}

# Required, defaulted, enum, integer and a nested object with a required nested property.
PARAMETERS = {
    "source": {"type": "string", "required": True, "description": "where to read from"},
    "format": {"type": "string", "enum": ["json", "csv"], "default": "json"},
    "count": {"type": "integer", "default": 3, "minimum": 1},
    "options": {
        "type": "object",
        "default": {"depth": 1},
        "properties": {
            "depth": {"type": "integer", "required": True},
            "normalize": {"type": "boolean", "default": True},
        },
    },
}
DEFINITION = {
    "tasks": {
        "show": {
            "action": "builtin.echo",
            "input": {
                "source": "${params.source}",
                "format": "${params.format}",
                "count": "${params.count}",
                "options": "${params.options}",
                "depth": "${params.options.depth}",
                "label": "load ${params.source} as ${params.format} x${params.count}",
            },
        },
        "after": {
            "action": "builtin.echo",
            "depends_on": ["show"],
            "input": {"seen": "${tasks.show.output.count}"},
        },
    }
}


def echo(value) -> dict:
    """An inline definition: one echo task whose input is ``{"x": value}``."""
    return {"tasks": {"a": {"action": "builtin.echo", "input": {"x": value}}}}


def create_template(client, body: dict) -> dict:
    body = {"name": unique("tpl"), **body}
    response = client.post("/api/v1/templates", json=body)
    assert response.status_code == 201, response.json
    return response.json


def etl_template(client, **extra) -> dict:
    return create_template(client, {"parameters": PARAMETERS, "definition": DEFINITION, **extra})


def instantiate(client, template_id: str, body: dict | None = None):
    return client.post(f"/api/v1/templates/{template_id}/instantiate", json=body or {})


def listing(client, **query) -> dict:
    response = client.get("/api/v1/templates", query_string=query)
    assert response.status_code == 200, response.json
    return response.json


# -- create and read ----------------------------------------------------------------------------


def test_seed_000_template_from_a_workflow_is_created_and_read_back(client):
    workflow = create_workflow(
        client,
        {
            "tasks": {
                "fetch": {
                    "action": "cli.execute_command",
                    "input": {"command": "echo ${params.data_source} ${params.format}"},
                },
                "process": {
                    "action": "builtin.echo",
                    "depends_on": ["fetch"],
                    "input": {"options": "${params.processing_options}"},
                },
            }
        },
    )
    parameters = {
        "data_source": {"type": "string", "required": True, "description": "Source URL"},
        "format": {"type": "string", "default": "json"},
        "processing_options": {"type": "object", "default": {"normalize": True}},
    }
    response = client.post(
        "/api/v1/templates",
        json={
            "name": "data-processing-template",
            "description": "Reusable data processing workflow",
            "workflow_definition_id": workflow["id"],
            "parameters": parameters,
        },
    )
    assert response.status_code == 201, response.json
    created = response.json
    assert set(created) == TEMPLATE_KEYS
    assert created["template_id"] == created["id"]
    assert created["name"] == "data-processing-template"
    assert created["parameters"] == parameters
    # A version-1 workflow: its lineage id and version id are the same.
    assert created["workflow_definition_id"] == workflow["id"]
    assert created["workflow_id"] == workflow["id"]
    assert created["definition"] == workflow["workflow_data"]

    fetched = client.get(f"/api/v1/templates/{created['id']}")
    assert fetched.status_code == 200, fetched.json
    assert fetched.json["parameters"] == parameters
    assert fetched.json["workflow_definition_id"] == workflow["id"]
    assert fetched.json["definition"] == workflow["workflow_data"]
    assert fetched.json["description"] == "Reusable data processing workflow"


def test_template_from_a_later_workflow_version_records_lineage_and_version(client):
    first = create_workflow(client, echo("${params.x}"))
    second = client.put(f"/api/v1/workflows/{first['id']}", json=echo("v2 ${params.x}"))
    assert second.status_code == 200, second.json
    assert second.json["version"] == 2 and second.json["id"] != first["id"]
    template = create_template(
        client, {"workflow_id": second.json["id"], "parameters": {"x": {"type": "string"}}}
    )
    assert template["workflow_id"] == first["id"]  # the lineage
    assert template["workflow_definition_id"] == second.json["id"]  # the version
    assert template["definition"]["tasks"]["a"]["input"] == {"x": "v2 ${params.x}"}


# -- instantiate --------------------------------------------------------------------------------


def test_instantiation_substitutes_typed_values_and_the_workflow_runs(live):
    template = etl_template(live, description="etl")
    response = instantiate(
        live,
        template["id"],
        {
            "name": unique("etl-run"),
            "parameter_values": {"source": "s3://b", "options": {"depth": 5}},
        },
    )
    assert response.status_code == 201, response.json
    workflow = response.json
    assert set(workflow) >= INSTANTIATED_KEYS
    assert workflow["template_id"] == template["id"]
    assert workflow["version"] == 1 and workflow["status"] == "active"
    assert workflow["description"] == "etl"  # the template's, when none is given
    bound = {
        "source": "s3://b",
        "format": "json",
        "count": 3,
        "options": {"depth": 5, "normalize": True},
    }
    assert workflow["parameter_values"] == bound  # defaults applied, nested ones too
    expected = {
        "source": "s3://b",
        "format": "json",
        "count": 3,  # a whole-string placeholder takes the value's type
        "options": {"depth": 5, "normalize": True},
        "depth": 5,
        "label": "load s3://b as json x3",  # interpolated inside a longer string
    }
    tasks = workflow["workflow_data"]["tasks"]
    assert tasks["show"]["input"] == expected
    assert tasks["after"]["input"] == {"seen": "${tasks.show.output.count}"}  # left for run time
    fetched = live.get(f"/api/v1/workflows/{workflow['id']}").json
    assert fetched["workflow_data"] == workflow["workflow_data"]
    assert fetched["template_id"] == template["id"] and fetched["parameter_values"] == bound
    # The template itself keeps its placeholders.
    again = live.get(f"/api/v1/templates/{template['id']}").json
    assert again["definition"] == DEFINITION

    run = wait_for_run(live, execute(live, workflow["id"]))
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["id"])
    assert run_steps["show"]["output_data"] == expected
    assert run_steps["after"]["output_data"] == {"seen": 3}


def test_instantiation_without_a_name_uses_the_template_name_and_a_suffix(client):
    template = etl_template(client)
    names = set()
    for _ in range(2):
        response = instantiate(client, template["id"], {"parameter_values": {"source": "x"}})
        assert response.status_code == 201, response.json
        assert re.fullmatch(re.escape(template["name"]) + r"-[0-9a-f]{8}", response.json["name"])
        names.add(response.json["name"])
    assert len(names) == 2


def test_default_instance_name_of_a_255_character_template_still_fits(client):
    template = create_template(client, {"name": "n" * 255, "definition": echo(1)})
    response = instantiate(client, template["id"])
    assert response.status_code == 201, response.json
    assert len(response.json["name"]) <= 255, len(response.json["name"])
    assert re.fullmatch(r"n+-[0-9a-f]{8}", response.json["name"])


@pytest.mark.parametrize(
    ("values", "field", "type_", "message"),
    [
        ({}, "parameter_values.source", "missing", "is required"),
        (
            {"source": "s", "count": "three"},
            "parameter_values.count",
            None,
            "is not of type 'integer'",
        ),
        ({"source": "s", "format": "xml"}, "parameter_values.format", None, "is not one of"),
        (
            {"source": "s", "colour": "red"},
            "parameter_values.colour",
            "unknown",
            "unknown parameter",
        ),
        (
            {"source": "s", "options": {"depth": "deep"}},
            "parameter_values.options.depth",
            None,
            "is not of type 'integer'",
        ),
        (
            {"source": "s", "options": {"normalize": False}},
            "parameter_values.options.depth",
            "missing",
            "is required",
        ),
    ],
    ids=[
        "missing-required",
        "wrong-type",
        "not-in-enum",
        "undeclared",
        "nested-wrong-type",
        "nested-missing",
    ],
)
def test_a_bad_parameter_value_is_400_naming_it(client, values, field, type_, message):
    template = etl_template(client)
    response = instantiate(client, template["id"], {"parameter_values": values})
    body = assert_error(response, 400, field=field)
    found = problems(response)
    assert list(found) == [field], found
    assert message in found[field]
    if message == "is required":
        assert found[field] == "is required"
    if message == "unknown parameter":
        assert found[field].startswith("unknown parameter")
    if type_ is not None:
        assert body["errors"][0]["type"] == type_
    assert listing_workflows(client)["total"] == 0  # nothing was created


def test_every_bad_parameter_value_is_named_at_once(client):
    template = etl_template(client)
    values = {"count": "three", "format": "xml", "colour": "red", "options": {"depth": "deep"}}
    response = instantiate(client, template["id"], {"parameter_values": values})
    assert_error(response, 400)
    found = problems(response)
    assert set(found) == {
        "parameter_values.source",
        "parameter_values.count",
        "parameter_values.format",
        "parameter_values.colour",
        "parameter_values.options.depth",
    }, found
    assert found["parameter_values.source"] == "is required"
    assert "is not of type 'integer'" in found["parameter_values.count"]
    assert "is not one of" in found["parameter_values.format"]
    assert found["parameter_values.colour"].startswith("unknown parameter")
    assert "is not of type 'integer'" in found["parameter_values.options.depth"]


def listing_workflows(client) -> dict:
    response = client.get("/api/v1/workflows")
    assert response.status_code == 200, response.json
    return response.json


# -- declarations checked at creation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "definition", "field", "type_"),
    [
        ({"p": {"type": "float"}}, echo("${params.p}"), "parameters.p.type", None),
        (
            {"count": {"type": "integer", "default": "three"}},
            echo("${params.count}"),
            "parameters.count.default",
            None,
        ),
        (
            {"format": {"type": "string", "enum": ["json", "csv"], "default": "xml"}},
            echo("${params.format}"),
            "parameters.format.default",
            None,
        ),
        (
            {
                "opts": {
                    "type": "object",
                    "properties": {"depth": {"type": "integer", "default": "x"}},
                }
            },
            echo("${params.opts}"),
            "parameters.opts.properties.depth.default",
            None,
        ),
        ({"p": {"type": "string"}}, echo("${params.q}"), "definition.tasks.a.input.x", "unknown"),
        (
            {"count": {"type": "integer"}},
            echo("${params.count * 2}"),
            "definition.tasks.a.input.x",
            "expression",
        ),
        (
            {"p": {"type": "string"}},
            {"tasks": {"a": {"action": "builtin.echo", "depends_on": ["ghost"]}}},
            "definition.tasks.a.depends_on[0]",
            None,
        ),
    ],
    ids=[
        "unknown-type",
        "default-wrong-type",
        "default-not-in-enum",
        "nested-default-wrong-type",
        "undeclared-placeholder",
        "computed-placeholder",
        "invalid-definition",
    ],
)
def test_a_bad_declaration_is_400_naming_the_field(client, parameters, definition, field, type_):
    body = {"name": unique("bad"), "parameters": parameters, "definition": definition}
    response = client.post("/api/v1/templates", json=body)
    error = assert_error(response, 400, field=field)
    if type_ is not None:
        assert type_ in [e["type"] for e in error["errors"] if e["field"] == field], error
    assert listing(client)["total"] == 0


def test_every_declaration_problem_is_named_at_once(client):
    parameters = {
        "a": {"type": "float"},
        "b": {"type": "integer", "default": "x"},
        "c": {"type": "string", "enum": ["x"], "default": "y"},
    }
    response = client.post(
        "/api/v1/templates",
        json={"name": unique("bad"), "parameters": parameters, "definition": echo(1)},
    )
    assert_error(response, 400)
    assert {"parameters.a.type", "parameters.b.default", "parameters.c.default"} <= set(
        problems(response)
    )


def test_a_workflow_source_with_an_undeclared_placeholder_is_400(client):
    workflow = create_workflow(client, echo("${params.missing}"))
    response = client.post(
        "/api/v1/templates",
        json={"name": unique("t"), "workflow_id": workflow["id"], "parameters": {}},
    )
    error = assert_error(response, 400)
    assert any("missing" in e["message"] for e in error["errors"]), error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": ["not", "an", "object"], "definition": echo(1)}, "parameters"),
        ({"definition": "tasks"}, "definition"),
        ({"definition": echo(1), "colour": "blue"}, "colour"),
        ({"definition": echo(1), "name": 42}, "name"),
    ],
    ids=["parameters-not-object", "definition-not-object", "unknown-field", "name-not-string"],
)
def test_wrong_field_types_are_422(client, body, field):
    response = client.post("/api/v1/templates", json={"name": unique("t"), **body})
    assert_error(response, 422, field=field)


def test_missing_name_is_422(client):
    assert_error(client.post("/api/v1/templates", json={"definition": echo(1)}), 422, field="name")


# -- 404, 409 and the source rule ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("put", "", {"description": "x"}),
        ("delete", "", None),
        ("post", "/instantiate", {"parameter_values": {}}),
    ],
    ids=["get", "put", "delete", "instantiate"],
)
def test_unknown_template_is_404(client, method, suffix, body):
    response = getattr(client, method)(f"/api/v1/templates/no-such-template{suffix}", json=body)
    assert_error(response, 404, detail="no-such-template")


def test_unknown_or_deleted_source_workflow_is_404(client):
    response = client.post(
        "/api/v1/templates", json={"name": unique("t"), "workflow_id": "no-such-workflow"}
    )
    assert_error(response, 404, detail="no-such-workflow")
    workflow = create_workflow(client, echo(1))
    assert client.delete(f"/api/v1/workflows/{workflow['id']}").status_code == 200
    response = client.post(
        "/api/v1/templates", json={"name": unique("t"), "workflow_id": workflow["id"]}
    )
    assert_error(response, 404, detail=workflow["id"])
    assert listing(client)["total"] == 0


def test_duplicate_name_is_409_on_create_and_on_rename(client):
    first = create_template(client, {"name": "shared", "definition": echo(1)})
    response = client.post("/api/v1/templates", json={"name": "shared", "definition": echo(2)})
    assert_error(response, 409, detail="shared")
    other = create_template(client, {"name": "other", "definition": echo(3)})
    response = client.put(f"/api/v1/templates/{other['id']}", json={"name": "shared"})
    assert_error(response, 409, detail="shared")
    assert client.get(f"/api/v1/templates/{other['id']}").json["name"] == "other"
    assert listing(client, name="shared")["items"][0]["id"] == first["id"]
    # Keeping its own name is not a conflict.
    same = client.put(f"/api/v1/templates/{first['id']}", json={"name": "shared"})
    assert same.status_code == 200, same.json


def test_both_or_neither_source_is_400(client):
    workflow = create_workflow(client, echo(1))
    both = client.post(
        "/api/v1/templates",
        json={"name": unique("t"), "workflow_id": workflow["id"], "definition": echo(1)},
    )
    assert_error(both, 400, field="definition")
    neither = client.post("/api/v1/templates", json={"name": unique("t")})
    assert_error(neither, 400, field="workflow_id")
    assert listing(client)["total"] == 0


# -- list, update, delete -----------------------------------------------------------------------


def test_list_paginates_filters_by_name_and_leaves_out_definitions(client):
    ids = {create_template(client, {"definition": echo(i)})["id"] for i in range(5)}
    named = create_template(client, {"name": "needle", "definition": echo(9)})
    pages = [listing(client, page=n, page_size=2) for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 2, 0]
    for number, page in enumerate(pages, start=1):
        assert (page["page"], page["page_size"], page["total"], page["total_pages"]) == (
            number,
            2,
            6,
            3,
        )
    seen = [item["id"] for page in pages for item in page["items"]]
    assert sorted(seen) == sorted(ids | {named["id"]})
    for item in pages[0]["items"]:
        assert "definition" not in item
        assert set(item) == TEMPLATE_KEYS - {"definition"}
    found = listing(client, name="needle")
    assert found["total"] == 1 and [i["id"] for i in found["items"]] == [named["id"]]
    assert listing(client, name="need")["total"] == 0  # exact, not a prefix


@pytest.mark.parametrize(
    ("order", "expected"),
    [("asc", ["apple", "mango", "zebra"]), ("desc", ["zebra", "mango", "apple"])],
    ids=["asc", "desc"],
)
def test_list_sorts_by_name(client, order, expected):
    for name in ("mango", "zebra", "apple"):
        create_template(client, {"name": name, "definition": echo(name)})
    page = listing(client, sort_by="name", sort_order=order)
    assert [item["name"] for item in page["items"]] == expected


def test_list_rejects_an_unknown_sort_field(client):
    assert_error(client.get("/api/v1/templates?sort_by=colour"), 422, field="sort_by")


def test_update_changes_fields_and_keeps_the_rest(client):
    template = etl_template(client, description="old", metadata={"team": "data"})
    parameters = {**PARAMETERS, "count": {"type": "integer", "default": 7}}
    response = client.put(
        f"/api/v1/templates/{template['id']}",
        json={"name": "renamed", "description": "new", "parameters": parameters},
    )
    assert response.status_code == 200, response.json
    updated = response.json
    assert (updated["name"], updated["description"]) == ("renamed", "new")
    assert updated["parameters"] == parameters
    assert updated["definition"] == DEFINITION and updated["metadata"] == {"team": "data"}
    workflow = instantiate(client, template["id"], {"parameter_values": {"source": "s"}}).json
    assert workflow["parameter_values"]["count"] == 7
    assert workflow["workflow_data"]["tasks"]["show"]["input"]["count"] == 7

    definition = echo("${params.source}-${params.format}")
    replaced = client.put(f"/api/v1/templates/{template['id']}", json={"definition": definition})
    assert replaced.status_code == 200, replaced.json
    assert replaced.json["definition"] == definition
    assert replaced.json["name"] == "renamed" and replaced.json["parameters"] == parameters


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"definition": echo("${params.undeclared}")}, "definition.tasks.a.input.x"),
        ({"parameters": {"source": {"type": "string"}}}, "definition.tasks.show.input.count"),
        (
            {"parameters": {**PARAMETERS, "count": {"type": "integer", "default": "x"}}},
            "parameters.count.default",
        ),
    ],
    ids=["undeclared-placeholder", "parameter-still-used", "bad-default"],
)
def test_an_update_is_revalidated_and_a_bad_one_changes_nothing(client, body, field):
    template = etl_template(client)
    response = client.put(f"/api/v1/templates/{template['id']}", json=body)
    assert_error(response, 400, field=field)
    after = client.get(f"/api/v1/templates/{template['id']}").json
    assert after["definition"] == DEFINITION and after["parameters"] == PARAMETERS
    assert after["updated_at"] == template["updated_at"]


def test_update_can_switch_the_source_to_a_workflow(client):
    template = create_template(client, {"definition": echo(1)})
    workflow = create_workflow(client, echo("${params.p}"))
    response = client.put(
        f"/api/v1/templates/{template['id']}",
        json={"workflow_id": workflow["id"], "parameters": {"p": {"type": "string"}}},
    )
    assert response.status_code == 200, response.json
    assert response.json["workflow_definition_id"] == workflow["id"]
    assert response.json["definition"] == workflow["workflow_data"]


def test_delete_removes_the_template_but_keeps_its_workflows(client):
    template = etl_template(client)
    workflow = instantiate(client, template["id"], {"parameter_values": {"source": "s"}}).json
    response = client.delete(f"/api/v1/templates/{template['id']}")
    assert response.status_code == 200, response.json
    assert set(response.json) == {"message"} and template["id"] in response.json["message"]
    assert_error(client.get(f"/api/v1/templates/{template['id']}"), 404)
    assert_error(client.delete(f"/api/v1/templates/{template['id']}"), 404)
    assert listing(client)["total"] == 0
    kept = client.get(f"/api/v1/workflows/{workflow['id']}")
    assert kept.status_code == 200, kept.json
    assert kept.json["workflow_data"] == workflow["workflow_data"]
    assert kept.json["parameter_values"] == workflow["parameter_values"]


# -- unbound placeholders are not run -----------------------------------------------------------


def test_executing_a_workflow_with_unbound_parameters_is_400_and_creates_no_run(client):
    workflow = create_workflow(
        client,
        {
            "tasks": {
                "a": {"action": "builtin.echo", "input": {"msg": "hi ${params.who}"}},
                "b": {
                    "action": "builtin.echo",
                    "depends_on": ["a"],
                    "input": {"n": "${params.count}", "up": "${tasks.a.output.msg}"},
                },
            }
        },
    )
    response = client.post(f"/api/v1/workflows/{workflow['id']}/execute", json={"input_data": {}})
    body = assert_error(response, 400, detail="unbound template parameters")
    assert "who" in body["detail"] and "count" in body["detail"]
    assert sorted((e["field"], e["type"]) for e in body["errors"]) == [
        ("tasks.a.input.msg", "unbound"),
        ("tasks.b.input.n", "unbound"),
    ]
    runs = client.get("/api/v1/runs")
    assert runs.status_code == 200 and runs.json["total"] == 0


def test_a_value_for_an_input_property_becomes_its_default_and_the_run_uses_it(live):
    workflow = create_workflow(
        live,
        {
            "input": {"type": "object", "properties": {"who": {"type": "string"}}},
            "tasks": {"a": {"action": "builtin.echo", "input": {"x": "${workflow.input.who}"}}},
        },
    )
    template = create_template(
        live,
        {
            "workflow_id": workflow["id"],
            "parameters": {"who": {"type": "string", "required": True}},
        },
    )
    made = instantiate(live, template["id"], {"parameter_values": {"who": "Ada"}}).json
    schema = made["workflow_data"]["input"]
    assert schema["properties"]["who"] == {"type": "string", "default": "Ada"}
    run = wait_for_run(live, execute(live, made["id"]))
    assert run["status"] == "COMPLETED", run
    assert steps(live, run["id"])["a"]["output_data"] == {"x": "Ada"}
    overridden = wait_for_run(live, execute(live, made["id"], {"who": "Grace"}))
    assert steps(live, overridden["id"])["a"]["output_data"] == {"x": "Grace"}
