"""Every definition dialect of DESIGN §3 normalises into the same canonical DAG."""

from __future__ import annotations

import pytest

from app.engine.dialects import normalise
from app.engine.validation import Catalogue, InvalidDefinition, load_definition

AGENTS = {
    "DataExtractorAgent": "active",
    "DataTransformerAgent": "active",
    "DataLoaderAgent": "active",
    "prometheus": "active",
    "sophia": "active",
    "rhetor": "active",
}
CATALOGUE = Catalogue(agent_status=lambda name: AGENTS.get(name), aliases={"ergon": "cli"})
NOOP = {"action": "builtin.noop"}
LOADER = {"agent_name": "DataLoaderAgent"}


def load(doc):
    return load_definition(doc, CATALOGUE)


def deps(dag) -> dict[str, list[str]]:
    return {tid: list(task.depends_on) for tid, task in dag.tasks.items()}


def problems(doc) -> set[tuple[str, str]]:
    with pytest.raises(InvalidDefinition) as info:
        load(doc)
    return {(p.field, p.message) for p in info.value.problems}


# -- seeds 000 and 001: ``tasks`` keyed by id --------------------------------------------------

SEED_000 = {
    "name": "My Workflow",
    "tasks": {
        "task1": {
            "id": "task1",
            "name": "Execute Command",
            "component": "ergon",
            "action": "execute_command",
            "input": {"command": "echo Hello World"},
            "timeout": 300,
            "retry": 3,
            "metadata": {"description": "Execute a shell command", "category": "system"},
        },
        "task2": {
            "component": "prometheus",
            "action": "analyze_results",
            "input": {"data": "${tasks.task1.output.result}"},
            "depends_on": ["task1"],
        },
    },
    "input": {"type": "object", "properties": {"param1": {"type": "string"}}},
    "output": {"type": "object", "properties": {"result": {"type": "string"}}},
}


def test_seed_000_component_alias_becomes_a_cli_action():
    dag = load(SEED_000)
    task1 = dag.tasks["task1"]
    assert dag.dialect == "tasks"
    assert task1.action == "cli.execute_command"
    assert task1.input == {"command": "echo Hello World"}
    assert task1.name == "Execute Command"
    assert task1.timeout == 300.0
    assert task1.retry.count == 3
    assert task1.metadata["category"] == "system"


def test_seed_000_dependencies_and_agent_component():
    dag = load(SEED_000)
    assert deps(dag) == {"task1": [], "task2": ["task1"]}
    # ``prometheus`` is no built-in integration: it names a registered agent.
    assert dag.tasks["task2"].action == "prometheus.analyze_results"
    assert dag.topological_order() == ["task1", "task2"]


def test_seed_000_input_json_schema_is_kept_as_is():
    assert load(SEED_000).input_schema == SEED_000["input"]


SEED_001 = {
    "name": "data_processing_workflow",
    "tasks": {
        "fetch_data": {
            "component": "ergon",
            "action": "execute_command",
            "input": {
                "command": "curl -o ${workflow.input.output_file} ${workflow.input.data_url}"
            },
        },
        "process_data": {
            "component": "sophia",
            "action": "analyze_data",
            "input": {"file_path": "${workflow.input.output_file}"},
            "depends_on": ["fetch_data"],
        },
        "generate_report": {
            "component": "rhetor",
            "action": "generate_content",
            "input": {"template": "report", "data": "${tasks.process_data.output.results}"},
            "depends_on": ["process_data"],
        },
    },
    "input_schema": {
        "data_url": {"type": "string", "format": "uri", "required": True},
        "output_file": {"type": "string", "required": True},
        "analysis_type": {"type": "string", "enum": ["basic", "detailed"], "default": "basic"},
    },
}


def test_seed_001_property_map_becomes_a_json_schema_with_required():
    dag = load(SEED_001)
    assert dag.input_schema == {
        "type": "object",
        "properties": {
            "data_url": {"type": "string", "format": "uri"},
            "output_file": {"type": "string"},
            "analysis_type": {"type": "string", "enum": ["basic", "detailed"], "default": "basic"},
        },
        "required": ["data_url", "output_file"],
    }
    assert dag.topological_order() == ["fetch_data", "process_data", "generate_report"]
    assert deps(dag)["generate_report"] == ["process_data"]


def test_seed_001_property_named_type_is_still_a_property_map():
    doc = {"tasks": {"a": NOOP}, "input_schema": {"type": {"type": "string", "required": True}}}
    assert load(doc).input_schema == {
        "type": "object",
        "properties": {"type": {"type": "string"}},
        "required": ["type"],
    }


def test_condition_is_read_from_metadata():
    b = {**NOOP, "depends_on": ["a"], "metadata": {"condition": "${tasks.a.output.ok}"}}
    assert load({"tasks": {"a": NOOP, "b": b}}).tasks["b"].condition == "${tasks.a.output.ok}"


# -- seed 002: ``steps`` keyed by id with ``start_step``/``next_step`` -------------------------

SEED_002 = {
    "name": "data-processing-pipeline",
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
            "next_step": "load",
            "input_mapping": {"raw_data": "${extract.output.data}"},
        },
        "load": {
            "id": "load",
            "agent_name": "DataLoaderAgent",
            "next_step": None,
            "input_mapping": {"transformed_data": "${transform.output.data}"},
        },
    },
}


def test_seed_002_next_step_chain_becomes_depends_on():
    dag = load(SEED_002)
    assert dag.dialect == "steps"
    assert deps(dag) == {"extract": [], "transform": ["extract"], "load": ["transform"]}


def test_seed_002_agent_name_and_input_mapping():
    task = load(SEED_002).tasks["transform"]
    assert (task.action, task.agent) == ("agent.call", "DataTransformerAgent")
    assert task.input == {"raw_data": "${extract.output.data}"}


def test_seed_002_next_step_list_fans_out():
    steps = {"a": {**LOADER, "next_step": ["b", "c"]}, "b": LOADER, "c": LOADER}
    assert deps(load({"start_step": "a", "steps": steps})) == {"a": [], "b": ["a"], "c": ["a"]}


STEP_MAP_PROBLEMS = {
    "start-step-missing": (
        {"steps": {"a": LOADER}},
        ("start_step", "is required and must name a step"),
    ),
    "start-step-unknown": (
        {"start_step": "zz", "steps": {"a": LOADER}},
        ("start_step", "unknown step 'zz'"),
    ),
    "next-step-unknown": (
        {"start_step": "a", "steps": {"a": {**LOADER, "next_step": "zz"}}},
        ("steps.a.next_step", "unknown step 'zz'"),
    ),
}


@pytest.mark.parametrize(("doc", "expected"), STEP_MAP_PROBLEMS.values(), ids=STEP_MAP_PROBLEMS)
def test_seed_002_structure_problems(doc, expected):
    assert expected in problems(doc)


# -- seed 003: ``tasks`` list with ``dependencies`` and ``synchronizationPoints`` -------------

SEED_003 = {
    "name": "Sample Workflow",
    "tasks": [
        {"name": "Task 1", "description": "First task"},
        {"name": "Task 2", "description": "Second task", "dependencies": ["task-1"]},
        {"name": "Task 3", "dependencies": ["task-1"]},
    ],
    "synchronizationPoints": [
        {"name": "All Tasks Completed", "requiredTasks": ["task-2", "task-3"]},
    ],
}


def test_seed_003_ids_default_by_position():
    dag = load(SEED_003)
    assert dag.dialect == "task_list"
    assert list(dag.tasks) == ["task-1", "task-2", "task-3", "sync-1"]
    assert dag.tasks["task-2"].name == "Task 2"
    # Tasks that name no action are placeholders.
    assert dag.tasks["task-1"].action == "builtin.noop"


def test_seed_003_synchronization_point_is_a_barrier():
    dag = load(SEED_003)
    sync = dag.tasks["sync-1"]
    assert sync.action == "builtin.noop"
    assert sync.depends_on == ("task-2", "task-3")
    assert dag.sinks() == ["sync-1"]


def test_seed_003_retry_policy_in_milliseconds():
    policy = {"maxRetries": 3, "initialDelayMs": 500, "backoffMultiplier": 3, "maxDelayMs": 2000}
    task = load({"tasks": [{"id": "t", "timeout": 30, "retryPolicy": policy}]}).tasks["t"]
    assert task.timeout == 30.0
    assert task.retry.count == 3
    assert [task.retry.countdown(n) for n in range(3)] == [0.5, 1.5, 2.0]


def test_explicit_zero_retry_delay_means_no_wait():
    doc = {"tasks": {"t": {**NOOP, "retry": {"count": 2, "delay": 0}}}}
    assert load(doc).tasks["t"].retry.countdown(1) == 0.0


# -- seed 004: plan ``steps`` list with ``type``/``parameters`` --------------------------------


def test_seed_004_steps_run_in_sequence_unless_depends_on():
    doc = {
        "steps": [
            {"id": "step1", "type": "command", "parameters": {"command": "echo Hello"}},
            {"id": "step2", "type": "command", "parameters": {"command": "date"}},
            {"id": "side", "type": "command", "parameters": {"command": "ls"}, "depends_on": []},
            {"type": "command", "parameters": {"command": "pwd"}, "depends_on": ["step1"]},
            {"type": "command", "parameters": {"command": "true"}},
        ]
    }
    dag = load(doc)
    assert dag.dialect == "plan"
    expected = {"step1": [], "step2": ["step1"], "side": [], "step4": ["step1"], "step5": ["step4"]}
    assert deps(dag) == expected


URL = "https://x.test"
PLAN_ACTIONS = {
    "command": ("command", {"command": "ls"}, "cli.execute_command"),
    "script": ("script", {"script": "echo hi"}, "cli.execute_script"),
    "http-default-get": ("http", {"url": URL}, "api.http_get"),
    "http-post": ("http", {"method": "POST", "url": URL, "json": {}}, "api.http_post"),
    "http-put": ("http", {"method": "put", "url": URL}, "api.http_put"),
    "http-delete": ("http", {"method": "DELETE", "url": URL}, "api.http_delete"),
    "dotted-type": ("builtin.sleep", {"seconds": 1}, "builtin.sleep"),
    "dotted-type-alias": ("ergon.execute_command", {"command": "ls"}, "cli.execute_command"),
}


@pytest.mark.parametrize(("kind", "parameters", "action"), PLAN_ACTIONS.values(), ids=PLAN_ACTIONS)
def test_seed_004_type_names_the_action(kind, parameters, action):
    task = load({"steps": [{"id": "s", "type": kind, "parameters": parameters}]}).tasks["s"]
    assert task.action == action
    # The HTTP method picks the action; it is not passed on as a parameter.
    assert task.input == {k: v for k, v in parameters.items() if k != "method"}


def test_seed_004_agent_type_names_the_agent():
    doc = {"steps": [{"id": "s", "type": "agent", "parameters": {"agent_name": "DataLoaderAgent"}}]}
    task = load(doc).tasks["s"]
    assert (task.action, task.agent) == ("agent.call", "DataLoaderAgent")
    assert task.input == {}


def test_seed_004_mcp_type_normalises_to_call_tool():
    dag, found = normalise({"steps": [{"id": "s", "type": "mcp", "parameters": {"tool": "t"}}]})
    assert found == []
    assert dag.tasks["s"].action == "mcp.call_tool"


PLAN_PROBLEMS = {
    "unknown-type": ({"type": "teleport"}, ("steps[0].type", "unknown step type 'teleport'")),
    "unsupported-http-method": (
        {"type": "http", "parameters": {"method": "PATCH", "url": URL}},
        ("steps[0].parameters.method", "unsupported method 'patch'"),
    ),
    "agent-without-name": (
        {"type": "agent", "parameters": {}},
        ("steps[0].parameters.agent_name", "names the agent to call"),
    ),
}


@pytest.mark.parametrize(("step", "expected"), PLAN_PROBLEMS.values(), ids=PLAN_PROBLEMS)
def test_seed_004_step_problems(step, expected):
    found = problems({"steps": [step]})
    assert any(field == expected[0] and expected[1] in msg for field, msg in found), found


# -- shapes shared by every dialect ------------------------------------------------------------


SHAPES = {
    "task-map": ({"tasks": {"a": NOOP}}, "tasks"),
    "task-list": ({"tasks": [{"id": "a"}]}, "task_list"),
    "step-map": ({"start_step": "a", "steps": {"a": NOOP}}, "steps"),
    "plan": ({"steps": [{"type": "builtin.noop"}]}, "plan"),
}


@pytest.mark.parametrize(("doc", "dialect"), SHAPES.values(), ids=SHAPES)
def test_dialect_is_detected_from_the_shape(doc, dialect):
    assert load(doc).dialect == dialect


def test_unrecognisable_document_names_what_is_missing():
    found = problems({"name": "nothing here"})
    assert [field for field, _ in found] == ["tasks"]
    assert "'tasks'" in next(iter(found))[1]


NOT_OBJECTS = {
    "task-map": ({"tasks": {"a": "echo"}}, "tasks.a"),
    "task-list": ({"tasks": [{"id": "a"}, 7]}, "tasks[1]"),
    "step-map": ({"start_step": "a", "steps": {"a": NOOP, "b": []}}, "steps.b"),
    "plan": ({"steps": [{"type": "builtin.noop"}, None]}, "steps[1]"),
}


@pytest.mark.parametrize(("doc", "field"), NOT_OBJECTS.values(), ids=NOT_OBJECTS)
def test_a_task_that_is_not_an_object_is_named_by_its_path(doc, field):
    assert (field, "must be an object") in problems(doc)


FIELD_PROBLEMS = {
    "negative-timeout": (
        {**NOOP, "timeout": -1},
        "timeout",
        "must be a positive number of seconds",
    ),
    "too-many-retries": ({**NOOP, "retry": 101}, "retry", "must be between 0 and 100"),
    "retry-not-number": ({**NOOP, "retry": "often"}, "retry", "must be a retry count or an object"),
    "queue-not-string": ({**NOOP, "queue": 3}, "queue", "must be a string"),
    "condition-not-string": (
        {**NOOP, "condition": 3},
        "condition",
        "must be an expression string",
    ),
    "id-mismatch": ({**NOOP, "id": "b"}, "id", "'b' does not match its key 'a'"),
    "undotted-action": (
        {"action": "echo"},
        "action",
        "give 'component' with 'action', or a dotted action such as 'builtin.echo'",
    ),
    "no-action": (
        {"input": {}},
        "",
        "a task needs 'component' and 'action', a dotted 'action', or 'agent_name'",
    ),
}


@pytest.mark.parametrize(("spec", "field", "message"), FIELD_PROBLEMS.values(), ids=FIELD_PROBLEMS)
def test_task_field_problems(spec, field, message):
    path = f"tasks.a.{field}" if field else "tasks.a"
    assert (path, message) in problems({"tasks": {"a": spec}})


@pytest.mark.parametrize(
    ("condition", "expected"), [(True, None), (False, "1 == 0")], ids=["true", "false"]
)
def test_a_literal_boolean_condition_is_accepted(condition, expected):
    # What a template placeholder such as "${params.enabled}" becomes once bound.
    dag = load({"tasks": {"a": {**NOOP, "condition": condition}}})
    assert dag.tasks["a"].condition == expected


def test_checkpoint_policy_is_read_and_checked():
    dag = load({"tasks": {"a": NOOP}, "checkpoint": {"every_n_tasks": 3, "on_pause": True}})
    assert (dag.checkpoint.every_n_tasks, dag.checkpoint.on_pause) == (3, True)
    assert problems(
        {"tasks": {"a": NOOP}, "checkpoint": {"every_n_tasks": 0, "on_pause": "yes", "x": 1}}
    ) == {
        ("checkpoint.every_n_tasks", "must be a positive integer"),
        ("checkpoint.on_pause", "must be true or false"),
        ("checkpoint.x", "unknown option (every_n_tasks, on_pause)"),
    }
