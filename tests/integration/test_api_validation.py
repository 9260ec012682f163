"""Bad input gets a clear 4xx naming the field: never a 500, never a half-written row."""

from __future__ import annotations

import pytest

from tests.integration.api_support import assert_error, problems
from tests.integration.helpers import create_workflow, unique

NOOP = {"action": "builtin.noop"}


@pytest.fixture
def nothing_written(client):
    """After the test, no workflow, version or run was written by the rejected requests."""
    yield
    assert client.get("/api/v1/workflows", query_string={"status": "deleted"}).json["total"] == 0
    for status in ("active", "inactive"):
        page = client.get("/api/v1/workflows", query_string={"status": status}).json
        assert all(item["name"].startswith("kept-") for item in page["items"]), page["items"]
    assert client.get("/api/v1/runs").json["total"] == 0


def post_workflow(client, body):
    return client.post("/api/v1/workflows", json={"name": unique("bad"), **body})


# -- the request itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ['{"name": "x",', "{name: 'x'}", '{"name": "x"}}', "\x00"],
    ids=["truncated", "single_quotes", "trailing_brace", "binary"],
)
def test_malformed_json_is_400(client, nothing_written, raw):
    response = client.post("/api/v1/workflows", data=raw, content_type="application/json")
    body = assert_error(response, 400)
    assert "json" in body["detail"].lower()


WRONG_TYPES = {
    "name_int": ({"name": 123}, "name"),
    "name_empty": ({"name": ""}, "name"),
    "name_too_long": ({"name": "n" * 256}, "name"),
    "name_null": ({"name": None}, "name"),
    "description_int": ({"description": 5}, "description"),
    "tasks_string": ({"tasks": "all of them"}, "tasks"),
    "steps_int": ({"steps": 7, "start_step": "a"}, "steps"),
    "start_step_int": ({"start_step": 5, "steps": {"a": NOOP}}, "start_step"),
    "status_unknown": ({"status": "paused"}, "status"),
    "input_schema_string": ({"input_schema": "object"}, "input_schema"),
    "variables_list": ({"variables": ["a"]}, "variables"),
}


@pytest.mark.parametrize(("fields", "field"), WRONG_TYPES.values(), ids=WRONG_TYPES)
def test_wrong_types_are_422_naming_the_field(client, nothing_written, fields, field):
    body = {"name": "x", "tasks": {"a": NOOP}, **fields}
    body = assert_error(client.post("/api/v1/workflows", json=body), 422, field=field)
    assert body["error"] == "Validation Error"


def test_unknown_top_level_field_is_422_naming_it(client, nothing_written):
    response = post_workflow(client, {"tasks": {"a": NOOP}, "colour": "blue"})
    assert_error(response, 422, field="colour")
    assert problems(response)["colour"] == "Unknown field."


@pytest.mark.parametrize("raw", ["[1, 2]", "null", '"a string"'], ids=["list", "null", "string"])
def test_body_that_is_not_an_object_is_422(client, nothing_written, raw):
    response = client.post("/api/v1/workflows", data=raw, content_type="application/json")
    assert_error(response, 422)


def test_oversize_body_is_413(client, app, nothing_written, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    big = {f"t{i}": NOOP for i in range(100)}  # ~3 KB
    response = post_workflow(client, {"tasks": big})
    assert_error(response, 413, detail="2048")
    assert post_workflow(client, {"name": "kept-small", "tasks": {"a": NOOP}}).status_code == 201


def raw_body(value: str, extra: str = "") -> str:
    """A workflow body as JSON text, with ``value`` as a task input (a later key wins)."""
    task = '{"action": "builtin.echo", "input": {"v": ' + value + "}}"
    return '{"name": "x", "tasks": {"a": ' + task + "}" + extra + "}"


UNSTORABLE = {
    "nan": (raw_body("NaN"), "tasks.a.input.v"),
    "overflowing_number": (raw_body("1e400"), "tasks.a.input.v"),
    "infinity": (raw_body("1", ', "variables": {"limit": -Infinity}'), "variables.limit"),
    "nul_in_name": (raw_body("1", ', "name": "x\\u0000y"'), "name"),
    "nul_in_description": (raw_body("1", ', "description": "\\u0000"'), "description"),
    "nul_in_definition": (raw_body('["ok", "\\u0000"]'), "tasks.a.input.v[1]"),
}


@pytest.mark.parametrize(("raw", "field"), UNSTORABLE.values(), ids=UNSTORABLE)
def test_values_no_database_can_store_are_400_naming_the_field(client, nothing_written, raw, field):
    response = client.post("/api/v1/workflows", data=raw, content_type="application/json")
    assert_error(response, 400, field=field)


def test_absurdly_nested_body_is_400(client, nothing_written):
    raw = raw_body("[" * 5000 + "]" * 5000)
    response = client.post("/api/v1/workflows", data=raw, content_type="application/json")
    assert_error(response, 400, detail="nested too deeply")


def nested(levels: int) -> dict:
    """An object ``levels`` deep (``{}`` is one level)."""
    value: dict = {}
    for _ in range(levels - 1):
        value = {"v": value}
    return value


def test_body_nested_deeper_than_the_limit_is_400_naming_where(client, settings, nothing_written):
    limit = settings.max_json_depth
    # The body is level 1, so variables nested ``limit`` deep make it one level too deep.
    response = post_workflow(client, {"tasks": {"a": NOOP}, "variables": nested(limit)})
    field = "variables" + ".v" * (limit - 1)
    message = f"nested deeper than {limit} levels"
    body = assert_error(
        response, 400, field=field, detail=f"Malformed JSON body: {field}: {message}"
    )
    assert body["errors"] == [{"field": field, "message": message, "type": "too_large"}]
    at_limit = {"name": "kept-deep", "tasks": {"a": NOOP}, "variables": nested(limit - 1)}
    assert post_workflow(client, at_limit).status_code == 201


def test_nul_in_path_or_query_is_a_clean_4xx(client, nothing_written):
    assert_error(client.get("/api/v1/workflows/a%00b"), 404)
    assert_error(
        client.get("/api/v1/workflows", query_string={"name": "a\x00b"}), 422, field="name"
    )
    assert_error(
        client.get("/api/v1/runs", query_string={"workflow_id": "\x00"}), 422, field="workflow_id"
    )


# -- definition problems: every one at once, each with a field path -------------------------------


def test_every_definition_problem_is_reported_at_once(client, nothing_written):
    response = post_workflow(
        client,
        {
            "tasks": {
                "a": {"action": "builtin.noop", "depends_on": ["c"]},
                "b": {"action": "builtin.noop", "depends_on": ["a"]},
                "c": {"action": "builtin.noop", "depends_on": ["b"]},
                "d": {"action": "builtin.noop", "depends_on": ["ghost"]},
                "e": {"component": "teleporter", "action": "beam"},
                "f": {"component": "builtin", "action": "levitate"},
                "g": {"action": "builtin.echo", "input": {"x": "${workflow.input.}"}},
                "h": {"action": "builtin.echo", "input": {"x": "${tasks.f.output.y}"}},
                "i": {"action": "cli.execute_command", "input": {}},
            },
            "input_schema": {"type": "object", "properties": {"n": {"type": 5}}},
        },
    )
    body = assert_error(response, 400)
    assert body["detail"].startswith("Invalid workflow definition")
    found = problems(response)
    assert "cycle: a → b → c → a" in found["tasks"]
    assert "unknown dependency 'ghost'" in found["tasks.d.depends_on[0]"]
    assert "unknown component 'teleporter'" in found["tasks.e.component"]
    assert "unknown action 'levitate'" in found["tasks.f.action"]
    assert "bad expression" in found["tasks.g.input"]
    assert "not upstream of 'h'" in found["tasks.h.input"]
    assert found["tasks.i.input.command"] == "is required"
    assert "not a valid JSON Schema" in found["input_schema.properties.n.type"]
    assert len(body["errors"]) == 8


def step(sid, next_step=None, **spec):
    return {"id": sid, **echo(sid), "next_step": next_step, "input_mapping": {}, **spec}


def tasks(**specs) -> dict:
    return {"tasks": specs}


def steps(**specs) -> dict:
    """Seed-002 steps starting at ``a``."""
    return {"start_step": "a", "steps": specs}


def noop(*deps: str) -> dict:
    return {**NOOP, "depends_on": list(deps)}


def echo(value) -> dict:
    return {"action": "builtin.echo", "input": {"v": value}}


def agent_step(name) -> dict:
    return {"steps": [{"type": "agent", "parameters": {"agent_name": name}}]}


NOT_STRING = "must be a non-empty string"
DEFINITION_PROBLEMS = {
    "cycle": (tasks(a=noop("b"), b=noop("a")), "tasks", "cycle: a → b → a"),
    "cycle_seed_002": (steps(a=step("a", "b"), b=step("b", "a")), "tasks", "cycle: a → b → a"),
    "unknown_dependency": (tasks(a=noop("zz")), "tasks.a.depends_on[0]", "unknown dependency"),
    "unknown_next_step": (steps(a=step("a", "zz")), "steps.a.next_step", "unknown step 'zz'"),
    "duplicate_id_in_list": (
        {"tasks": [{"id": "a"}, {"id": "b"}, {"id": "a"}]},
        "tasks[2].id",
        "duplicate task id 'a'",
    ),
    "unreachable_step": (
        steps(a=step("a"), orphan=step("orphan")),
        "steps.orphan",
        "unreachable from start_step",
    ),
    "non_ancestor_reference": (
        steps(a=step("a", "b", input_mapping={"v": "${b.output.x}"}), b=step("b")),
        "steps.a.input",
        "not upstream of 'a'",
    ),
    "unknown_component": (
        tasks(a={"component": "warp", "action": "go"}),
        "tasks.a.component",
        "unknown component",
    ),
    "unknown_action": (
        tasks(a={"component": "api", "action": "http_teleport"}),
        "tasks.a.action",
        "unknown action",
    ),
    "bad_expression": (tasks(a=echo("${1 +}")), "tasks.a.input", "bad expression"),
    "bad_condition": (
        tasks(a={**NOOP, "condition": "${a.b(}"}),
        "tasks.a.condition",
        "bad expression",
    ),
    "bad_json_schema": (
        {**tasks(a=NOOP), "input_schema": {"type": "bogus"}},
        "input_schema.type",
        "JSON Schema",
    ),
    "missing_required_parameter": (
        tasks(a={"action": "api.http_get", "input": {}}),
        "tasks.a.input.url",
        "is required",
    ),
    "parameter_of_wrong_type": (
        tasks(a={"action": "builtin.sleep", "input": {"seconds": "soon"}}),
        "tasks.a.input.seconds",
        "is not of type 'number'",
    ),
    "unknown_agent": (
        steps(a={"id": "a", "agent_name": "GhostAgent", "input_mapping": {}}),
        "steps.a.agent_name",
        "Agent 'GhostAgent' not found or inactive",
    ),
    "next_step_nested_list": (steps(a=step("a", [["b"]])), "steps.a.next_step", "a step id"),
    "plan_agent_name_number": (agent_step(42), "steps[0].parameters.agent_name", NOT_STRING),
    "plan_agent_name_list": (agent_step(["x"]), "steps[0].parameters.agent_name", NOT_STRING),
    "unknown_field_beside_valid_steps": ({**steps(a=step("a")), "x": 1}, "x", "Unknown field"),
    "no_tasks": (tasks(), "tasks", "at least one task"),
    "no_structure": ({"description": "none"}, "tasks", "a definition needs 'tasks'"),
}


@pytest.mark.parametrize(
    ("definition", "field", "message"), DEFINITION_PROBLEMS.values(), ids=DEFINITION_PROBLEMS
)
def test_definition_problem_names_its_field(client, nothing_written, definition, field, message):
    response = post_workflow(client, definition)
    assert response.status_code in (400, 422), response.json
    assert_error(response, response.status_code, field=field)
    assert message in problems(response)[field]


def test_over_long_expression_is_400_naming_its_field(client, settings, nothing_written):
    limit = settings.max_expression_length
    body = "tasks.a.output." + "x" * (limit + 1 - len("tasks.a.output."))
    definition = tasks(a=noop(), b={**echo(["ok", "${" + body + "}"]), "depends_on": ["a"]})
    response = post_workflow(client, definition)
    message = f"expression is {limit + 1} characters, over the limit of {limit}"
    assert_error(response, 400, field="tasks.b.input.v[1]")
    assert response.json["errors"] == [
        {"field": "tasks.b.input.v[1]", "message": message, "type": "too_large"}
    ]


def test_inactive_agent_is_rejected_like_an_unknown_one(client, nothing_written):
    agent = client.post("/api/v1/agents", json={"name": "Sleepy", "url": "http://sleepy:1"}).json
    client.put(f"/api/v1/agents/{agent['id']}", json={"status": "inactive"})
    response = post_workflow(
        client,
        {
            "start_step": "a",
            "steps": {"a": {"id": "a", "agent_name": "Sleepy", "input_mapping": {}}},
        },
    )
    assert_error(
        response, 400, field="steps.a.agent_name", detail="Agent 'Sleepy' not found or inactive"
    )


def test_rejected_update_leaves_the_workflow_as_it_was(client, nothing_written):
    kept = create_workflow(client, {"name": "kept-wf", "description": "same", "tasks": {"a": NOOP}})
    other = create_workflow(client, {"name": "kept-other", "tasks": {"a": NOOP}})
    bad_steps = client.put(
        f"/api/v1/workflows/{kept['id']}", json={"tasks": {"a": {**NOOP, "depends_on": ["a"]}}}
    )
    assert_error(bad_steps, 400, field="tasks.a.depends_on[0]")
    taken = client.put(f"/api/v1/workflows/{kept['id']}", json={"name": other["name"]})
    assert_error(taken, 400, detail="already exists")
    wrong_type = client.put(f"/api/v1/workflows/{kept['id']}", json={"description": ["x"]})
    assert_error(wrong_type, 422, field="description")
    versions = client.get(f"/api/v1/workflows/{kept['id']}/versions").json
    assert versions["total"] == 1
    current = versions["items"][0]
    assert (current["name"], current["description"], current["status"]) == (
        "kept-wf",
        "same",
        "active",
    )
    assert current["workflow_data"] == kept["workflow_data"]


# -- execute input -------------------------------------------------------------------------------


@pytest.fixture
def typed_workflow(client):
    return create_workflow(
        client,
        {
            "name": "kept-typed",
            "tasks": {"a": {"action": "builtin.echo", "input": {"n": "${workflow.input.n}"}}},
            "input_schema": {
                "type": "object",
                "required": ["n"],
                "properties": {
                    "n": {"type": "integer", "minimum": 1},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    )


@pytest.mark.parametrize(
    ("input_data", "field", "message"),
    [
        ({"n": "three"}, "input_data.n", "is not of type 'integer'"),
        ({"n": 0}, "input_data.n", "less than the minimum"),
        ({}, "input_data.n", "required"),
        ({"n": 1, "tags": ["ok", 7]}, "input_data.tags.1", "is not of type 'string'"),
    ],
    ids=["wrong_type", "below_minimum", "missing", "nested_item"],
)
def test_input_failing_the_schema_is_400_naming_the_field(
    client, typed_workflow, nothing_written, input_data, field, message
):
    response = client.post(
        f"/api/v1/workflows/{typed_workflow['id']}/execute", json={"input_data": input_data}
    )
    assert_error(response, 400, field=field, detail="Input validation failed")
    assert message in problems(response)[field]


@pytest.mark.parametrize(
    "input_data", [[1, 2], "text", 42, True], ids=["list", "string", "number", "boolean"]
)
def test_input_data_that_is_not_an_object_is_rejected(
    client, typed_workflow, nothing_written, input_data
):
    response = client.post(
        f"/api/v1/workflows/{typed_workflow['id']}/execute", json={"input_data": input_data}
    )
    assert response.status_code == 422, response.json
    assert_error(response, 422, field="input_data")
    assert response.json["errors"][0]["message"] == "Must be a JSON object."


def test_unknown_execute_field_is_422(client, typed_workflow, nothing_written):
    response = client.post(
        f"/api/v1/workflows/{typed_workflow['id']}/execute",
        json={"input_data": {"n": 1}, "priority": "high"},
    )
    assert_error(response, 422, field="priority")


# -- unknown ids ----------------------------------------------------------------------------------


UNKNOWN_IDS = {
    "run": "/api/v1/runs/{}",
    "run_steps": "/api/v1/runs/{}/steps",
    "run_step": "/api/v1/runs/{}/steps/extract",
    "run_logs": "/api/v1/runs/{}/logs",
    "run_logs_of_step": "/api/v1/runs/{}/logs?step_id=extract",
    "agent": "/api/v1/agents/{}",
    "agent_health": "/api/v1/agents/{}/health",
    "workflow_plan": "/api/v1/workflows/{}/plan",
    "workflow_versions": "/api/v1/workflows/{}/versions",
}


@pytest.mark.parametrize("path", UNKNOWN_IDS.values(), ids=UNKNOWN_IDS)
def test_unknown_id_is_404(client, path):
    assert_error(client.get(path.format("no-such-id")), 404, detail="no-such-id")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "DONE"}, "status"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2024-01-01T00:00:00"}, "created_before"),  # no zone: ambiguous
        ({"sort_by": "name"}, "sort_by"),
        ({"page_size": 1000}, "page_size"),
    ],
    ids=["status", "created_after", "created_before_without_zone", "sort_by", "page_size"],
)
def test_bad_run_list_parameters_are_422(client, query, field):
    assert_error(client.get("/api/v1/runs", query_string=query), 422, field=field)


def test_unknown_route_and_wrong_method_use_the_error_format(client):
    assert_error(client.get("/api/v1/nothing-here"), 404)
    assert_error(client.delete("/api/v1/runs"), 405)
