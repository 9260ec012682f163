"""Definition validation reports every problem at once, each with a field path (DESIGN §3)."""

from __future__ import annotations

import pytest

from app.engine.validation import (
    Catalogue,
    InvalidDefinition,
    InvalidInput,
    Limits,
    load_definition,
    validate_input,
)

AGENTS = {"DataLoaderAgent": "active", "prometheus": "active", "Dormant": "inactive"}
CATALOGUE = Catalogue(agent_status=lambda name: AGENTS.get(name), aliases={"ergon": "cli"})
LOADER = {"agent_name": "DataLoaderAgent"}
URL = "https://x.test"


def problems(doc, limits: Limits | None = None) -> list[tuple[str, str]]:
    with pytest.raises(InvalidDefinition) as info:
        load_definition(doc, CATALOGUE, limits)
    return [(p.field, p.message) for p in info.value.problems]


def echo(**spec):
    return {"action": "builtin.echo", **spec}


# -- every problem at once ---------------------------------------------------------------------


def test_every_problem_is_reported_at_once():
    doc = {
        "tasks": {
            "a": echo(depends_on=["ghost"]),
            "b": {"component": "nosuch", "action": "x"},
            "c": {"action": "builtin.sleep"},
            "d": echo(input={"x": "${tasks.e.output.y}"}),
            "e": echo(input={"x": "${tasks.a.output.x +}"}),
        },
        "input_schema": {"type": "objekt"},
    }
    fields = [field for field, _ in problems(doc)]
    assert sorted(fields) == [
        "input_schema.type",
        "tasks.a.depends_on[0]",
        "tasks.b.component",
        "tasks.c.input.seconds",
        "tasks.d.input",
        "tasks.e.input",
    ]


def test_error_message_summarises_the_first_problems():
    doc = {"tasks": {f"t{i}": echo(depends_on=["ghost"]) for i in range(7)}}
    with pytest.raises(InvalidDefinition) as info:
        load_definition(doc, CATALOGUE)
    assert len(info.value.problems) == 7
    assert str(info.value).startswith(
        "Invalid workflow definition: tasks.t0.depends_on[0]: unknown dependency 'ghost'; "
    )
    assert str(info.value).endswith("(and 2 more)")


# -- graph problems ----------------------------------------------------------------------------


GHOST = ["a", "ghost"]
UNKNOWN_DEPENDENCY = {
    "task-map": ({"tasks": {"a": echo(depends_on=["ghost"])}}, "tasks.a.depends_on[0]"),
    "task-list": ({"tasks": [{"id": "a"}, {"dependencies": GHOST}]}, "tasks[1].dependencies[1]"),
    "sync-point": (
        {"tasks": [{"id": "a"}], "synchronizationPoints": [{"requiredTasks": GHOST}]},
        "synchronizationPoints[0].requiredTasks[1]",
    ),
    "plan": ({"steps": [{"type": "builtin.noop", "depends_on": GHOST}]}, "steps[0].depends_on[1]"),
}


@pytest.mark.parametrize(("doc", "field"), UNKNOWN_DEPENDENCY.values(), ids=UNKNOWN_DEPENDENCY)
def test_unknown_dependency(doc, field):
    assert (field, "unknown dependency 'ghost'") in problems(doc)


def test_cycle_is_named_in_run_order():
    after = {"a": "c", "b": "a", "c": "b", "d": "c"}
    doc = {"tasks": {tid: echo(depends_on=[dep]) for tid, dep in after.items()}}
    assert problems(doc) == [("tasks", "cycle: a → b → c → a")]


def test_two_step_cycle_in_step_map():
    doc = {
        "start_step": "a",
        "steps": {"a": {**LOADER, "next_step": "b"}, "b": {**LOADER, "next_step": "a"}},
    }
    assert ("tasks", "cycle: a → b → a") in problems(doc)


def test_self_dependency():
    assert problems({"tasks": {"a": echo(depends_on=["a"])}}) == [
        ("tasks.a.depends_on[0]", "task 'a' depends on itself")
    ]


DUPLICATES = {
    "task-list": ({"tasks": [{"id": "a"}, {"id": "b"}, {"id": "a"}]}, "tasks[2].id"),
    "sync-point-reuses-task-id": (
        {"tasks": [{"id": "a"}], "synchronizationPoints": [{"id": "a"}]},
        "synchronizationPoints[0].id",
    ),
    "plan": ({"steps": [{"id": "a", "type": "builtin.noop"}] * 2}, "steps[1].id"),
}


@pytest.mark.parametrize(("doc", "field"), DUPLICATES.values(), ids=DUPLICATES)
def test_duplicate_id_in_list_dialects(doc, field):
    assert (field, "duplicate task id 'a'") in problems(doc)


def test_unreachable_step():
    doc = {
        "start_step": "a",
        "steps": {"a": LOADER, "orphan": {**LOADER, "next_step": "tail"}, "tail": LOADER},
    }
    assert problems(doc) == [
        ("steps.orphan", "step 'orphan' is unreachable from start_step 'a'"),
        ("steps.tail", "step 'tail' is unreachable from start_step 'a'"),
    ]


# -- the "only ancestors" rule -----------------------------------------------------------------

CHAIN = {"a": echo(), "b": echo(depends_on=["a"]), "side": echo()}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("${tasks.a.output.x}", id="direct-parent"),
        pytest.param("${steps.a.output.x}", id="steps-root"),
        pytest.param("${a.output.x}", id="seed-002-form"),
        pytest.param("${tasks.a.output.n + 1}", id="jinja-expression"),
        pytest.param("items: ${tasks.a.output.items[0]}", id="interpolated"),
    ],
)
def test_reading_an_ancestor_is_allowed(value):
    doc = {"tasks": {**CHAIN, "c": echo(depends_on=["b"], input={"v": value})}}
    assert load_definition(doc, CATALOGUE).tasks["c"].input == {"v": value}


NOT_UPSTREAM = {
    "unrelated-task": ("input", "tasks.side.output.y", "side"),
    "itself": ("input", "tasks.c.output.y", "c"),
    "jinja-subscript": ("input", "tasks['side'].output.y == 1", "side"),
    "condition-seed-002-form": ("condition", "side.output.ok", "side"),
}


@pytest.mark.parametrize(("where", "body", "tid"), NOT_UPSTREAM.values(), ids=NOT_UPSTREAM)
def test_reading_a_task_that_is_not_upstream(where, body, tid):
    expression = f"${{{body}}}"
    spec = echo(condition=expression) if where == "condition" else echo(input={"v": [expression]})
    doc = {"tasks": {**CHAIN, "c": {**spec, "depends_on": ["b"]}}}
    message = f"'{expression}' reads task '{tid}', which is not upstream of 'c' (add it to its "
    assert problems(doc) == [(f"tasks.c.{where}", message + "dependencies)")]


def test_reading_a_task_that_does_not_exist():
    doc = {"tasks": {"a": echo(input={"v": "${tasks.ghost.output.y}"})}}
    assert problems(doc) == [
        ("tasks.a.input", "'${tasks.ghost.output.y}' reads unknown task 'ghost'")
    ]


def test_a_downstream_reader_in_step_map_is_not_upstream():
    doc = {
        "start_step": "a",
        "steps": {
            "a": {**LOADER, "next_step": "b", "input_mapping": {"v": "${b.output.x}"}},
            "b": LOADER,
        },
    }
    assert [f for f, m in problems(doc) if "not upstream of 'a'" in m] == ["steps.a.input"]


# -- actions, agents and their inputs ----------------------------------------------------------


ACTION_PROBLEMS = {
    "unknown-component": (
        {"component": "nosuch", "action": "x"},
        "component",
        "unknown component 'nosuch' (built-in: agent, api, builtin, cli, mcp; or the name of a "
        "registered agent)",
    ),
    "inactive-agent-component": (
        {"component": "Dormant", "action": "x"},
        "component",
        "Agent 'Dormant' is inactive",
    ),
    "unknown-capability": (
        {"component": "cli", "action": "frobnicate", "input": {}},
        "action",
        "unknown action 'frobnicate' for 'cli' (known: execute_command, execute_script)",
    ),
    "missing-required-parameter": ({"action": "builtin.sleep"}, "input.seconds", "is required"),
    "unknown-parameter": (
        {"component": "ergon", "action": "execute_command", "input": {"command": "ls", "x": 1}},
        "input.x",
        "unknown parameter (expected one of: command, env, shell, timeout, working_directory)",
    ),
    "literal-of-wrong-type": (
        {"action": "builtin.sleep", "input": {"seconds": "soon"}},
        "input.seconds",
        "'soon' is not of type 'number'",
    ),
    "input-not-object": ({"action": "api.http_get", "input": [URL]}, "input", "must be an object"),
    "unknown-agent": ({"agent_name": "Ghost"}, "agent_name", "Agent 'Ghost' not found or inactive"),
    "inactive-agent": (
        {"agent_name": "Dormant"},
        "agent_name",
        "Agent 'Dormant' not found or inactive",
    ),
}


@pytest.mark.parametrize(
    ("spec", "field", "message"), ACTION_PROBLEMS.values(), ids=ACTION_PROBLEMS
)
def test_action_problems(spec, field, message):
    assert problems({"tasks": {"t": spec}}) == [(f"tasks.t.{field}", message)]


def test_seed_002_unknown_agent_is_reported_per_step():
    doc = {
        "start_step": "extract",
        "steps": {
            "extract": {"agent_name": "DataExtractorAgent", "next_step": "load"},
            "load": {"agent_name": "DataLoaderAgent"},
        },
    }
    assert problems(doc) == [
        ("steps.extract.agent_name", "Agent 'DataExtractorAgent' not found or inactive")
    ]


VALID_ACTIONS = {
    "agent-component": {"component": "prometheus", "action": "analyze"},
    "active-agent": LOADER,
    "expression-checked-at-run-time": {"action": "builtin.sleep", "input": {"seconds": "${s}"}},
    "whole-input-from-expression": {"action": "api.http_post", "input": "${workflow.input.req}"},
}


@pytest.mark.parametrize("spec", VALID_ACTIONS.values(), ids=VALID_ACTIONS)
def test_valid_actions(spec):
    assert list(load_definition({"tasks": {"t": spec}}, CATALOGUE).tasks) == ["t"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("${tasks.a.output.x +}", id="dangling-operator"),
        pytest.param("${ (workflow.input }", id="unclosed-paren"),
        pytest.param("${}", id="empty"),
    ],
)
def test_bad_expression_syntax(value):
    found = problems({"tasks": {"a": echo(), "b": echo(depends_on=["a"], input={"v": value})}})
    assert [field for field, _ in found] == ["tasks.b.input"]


def test_bad_expression_message_quotes_the_expression():
    doc = {"tasks": {"a": echo(), "b": echo(depends_on=["a"], condition="tasks.a.output.x +")}}
    ((field, message),) = problems(doc)
    assert field == "tasks.b.condition"
    assert message.startswith("bad expression '${tasks.a.output.x +}': ")


def test_input_schema_that_is_not_json_schema():
    doc = {"tasks": {"a": echo()}, "input": {"type": "object", "properties": {"n": {"type": 7}}}}
    ((field, message),) = problems(doc)
    assert field == "input_schema.properties.n.type"
    assert message.startswith("not a valid JSON Schema: ")


# -- server limits -----------------------------------------------------------------------------


SHELL = {
    "command": {"component": "ergon", "action": "execute_command", "input": {"command": "ls"}},
    "script": {"action": "cli.execute_script", "input": {"script": "ls"}},
}


@pytest.mark.parametrize("spec", SHELL.values(), ids=SHELL)
def test_shell_can_be_disabled(spec):
    doc = {"tasks": {"t": spec, "ok": echo()}}
    message = "shell tasks are disabled on this server (HARMONIA_ENABLE_SHELL=false)"
    assert problems(doc, Limits(enable_shell=False)) == [("tasks.t.component", message)]
    assert "t" in load_definition(doc, CATALOGUE, Limits(enable_shell=True)).tasks


def test_disabling_the_shell_also_refuses_mcp_servers_started_as_commands():
    local = {"command": "python", "args": ["server.py"]}
    doc = {
        "tasks": {
            "t": {"action": "mcp.call_tool", "input": {"server": local, "tool": "add"}},
            "remote": {
                "action": "mcp.call_tool",
                "input": {"server": {"url": "http://127.0.0.1:9/mcp"}, "tool": "add"},
            },
        }
    }
    message = "shell tasks are disabled on this server (HARMONIA_ENABLE_SHELL=false)"
    assert problems(doc, Limits(enable_shell=False)) == [("tasks.t.input.server.command", message)]


def test_task_count_limit():
    doc = {"tasks": {f"t{i}": echo() for i in range(4)}}
    assert problems(doc, Limits(max_tasks=3)) == [("tasks", "4 tasks exceed the limit of 3")]
    assert len(load_definition(doc, CATALOGUE, Limits(max_tasks=4)).tasks) == 4


def long_expression(length: int) -> str:
    """``${...}`` whose body is ``length`` characters and reads task ``a``."""
    head = "tasks.a.output.x ~ '"
    return "${" + head + "x" * (length - len(head) - 1) + "'}"


def too_large(doc, limits: Limits) -> list[tuple[str, str, str]]:
    with pytest.raises(InvalidDefinition) as info:
        load_definition(doc, CATALOGUE, limits)
    return [(p.field, p.message, p.type) for p in info.value.problems]


OVER_LONG = {
    "input": (
        echo(input={"v": ["ok", {"w": long_expression(41)}]}),
        "tasks.b.input.v[1].w",
    ),
    "input_in_text": (echo(input={"v": "say " + long_expression(41)}), "tasks.b.input.v"),
    "condition": (echo(condition=long_expression(41)), "tasks.b.condition"),
    "condition_without_braces": (
        echo(condition=long_expression(41)[2:-1]),
        "tasks.b.condition",
    ),
    "metadata_condition": (
        echo(metadata={"condition": long_expression(41)}),
        "tasks.b.metadata.condition",
    ),
}


@pytest.mark.parametrize(("spec", "field"), OVER_LONG.values(), ids=OVER_LONG)
def test_expression_over_the_length_limit_names_the_string_holding_it(spec, field):
    doc = {"tasks": {"a": echo(), "b": {**spec, "depends_on": ["a"]}}}
    message = "expression is 41 characters, over the limit of 40"
    assert too_large(doc, Limits(max_expression_length=40)) == [(field, message, "too_large")]


def test_over_long_output_mapping_expression_is_too_large():
    doc = {"tasks": {"a": echo()}, "output_mapping": {"x": [long_expression(41)]}}
    message = "expression is 41 characters, over the limit of 40"
    assert too_large(doc, Limits(max_expression_length=40)) == [
        ("output_mapping.x[0]", message, "too_large")
    ]


def test_over_long_expression_is_not_parsed(monkeypatch):
    def parse(body):
        raise AssertionError("an over-long expression was parsed")

    monkeypatch.setattr("app.engine.expressions.check_expression", parse)
    monkeypatch.setattr("app.engine.expressions.task_ids_read", parse)
    doc = {"tasks": {"a": echo(input={"v": "${" + "(" * 50 + "}"}, condition="(" * 50)}}
    assert [kind for *_, kind in too_large(doc, Limits(max_expression_length=40))] == [
        "too_large",
        "too_large",
    ]


def test_expression_at_the_length_limit_is_accepted():
    doc = {
        "tasks": {
            "a": echo(),
            "b": echo(
                depends_on=["a"], input={"v": long_expression(40)}, condition=long_expression(40)
            ),
        },
        "output_mapping": {"x": long_expression(40)},
    }
    assert "b" in load_definition(doc, CATALOGUE, Limits(max_expression_length=40)).tasks


def test_empty_workflow():
    assert problems({"tasks": {}}) == [("tasks", "a workflow needs at least one task")]


# -- run input ---------------------------------------------------------------------------------

_STR, _INT = {"type": "string"}, {"type": "integer"}
SCHEMA = {
    "type": "object",
    "properties": {
        "n": {**_INT, "default": 3},
        "tags": {"type": "array", "default": []},
        "db": {
            "type": "object",
            "properties": {
                "host": {"type": "string"},
                "port": {"type": "integer", "default": 5432},
            },
        },
    },
    "required": ["url"],
}


def input_problems(data) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as info:
        validate_input(SCHEMA, data)
    return [(p.field, p.message) for p in info.value.problems]


def test_defaults_are_applied_including_nested_objects():
    data = validate_input(SCHEMA, {"url": "u", "db": {"host": "h"}})
    assert data == {"url": "u", "n": 3, "tags": [], "db": {"host": "h", "port": 5432}}


def test_given_values_win_over_defaults():
    data = validate_input(SCHEMA, {"url": "u", "n": 9, "db": {"port": 1}})
    assert (data["n"], data["db"]) == (9, {"port": 1})


def test_defaults_are_not_shared_between_runs():
    first = validate_input(SCHEMA, {"url": "u"})
    first["tags"].append("mutated")
    assert validate_input(SCHEMA, {"url": "u"})["tags"] == []


def test_caller_data_is_not_modified():
    given = {"url": "u", "db": {"host": "h"}}
    validate_input(SCHEMA, given)
    assert given == {"url": "u", "db": {"host": "h"}}


def test_input_errors_name_the_field():
    assert input_problems({"n": "three", "db": {"port": "x"}}) == [
        ("input_data.url", "is required"),
        ("input_data.db.port", "'x' is not of type 'integer'"),
        ("input_data.n", "'three' is not of type 'integer'"),
    ]


@pytest.mark.parametrize("data", [[1, 2], "text", 3], ids=["list", "string", "number"])
def test_non_object_input_is_rejected(data):
    assert input_problems(data) == [("input_data", "must be an object")]


def test_no_schema_accepts_any_object():
    assert validate_input(None, {"a": 1}) == {"a": 1}
    assert validate_input(None, None) == {}


def test_seed_001_property_map_validates_run_input():
    doc = {
        "tasks": {"a": echo()},
        "input_schema": {
            "data_url": {"type": "string", "required": True},
            "analysis_type": {"type": "string", "enum": ["basic", "detailed"], "default": "basic"},
        },
    }
    schema = load_definition(doc, CATALOGUE).input_schema
    assert validate_input(schema, {"data_url": "u"}) == {"data_url": "u", "analysis_type": "basic"}
    with pytest.raises(InvalidInput, match="input_data.data_url: is required"):
        validate_input(schema, {})


def test_seed_001_required_flags_count_in_nested_objects_too():
    doc = {
        "tasks": {"a": echo()},
        "input_schema": {
            "db": {
                "type": "object",
                "required": ["host"],
                "properties": {
                    "host": {"type": "string"},
                    "port": {"type": "integer", "required": True},
                },
            }
        },
    }
    schema = load_definition(doc, CATALOGUE).input_schema
    assert schema["properties"]["db"]["required"] == ["host", "port"]
    with pytest.raises(InvalidInput) as info:
        validate_input(schema, {"db": {}})
    assert {p.field for p in info.value.problems} == {"input_data.db.host", "input_data.db.port"}


def test_output_mapping_expressions_are_checked():
    doc = {
        "tasks": {"a": {"action": "builtin.noop"}},
        "output_mapping": {"x": "${tasks.zz.output}", "y": "${a +}", "ok": "${tasks.a.output}"},
    }
    with pytest.raises(InvalidDefinition) as caught:
        load_definition(doc, Catalogue())
    problems = [(p.field, p.type) for p in caught.value.problems]
    assert problems == [("output_mapping", "unknown"), ("output_mapping", "expression")]
