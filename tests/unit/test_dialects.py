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
    assert deps(dag) == {
        "fetch_data": [],
        "process_data": ["fetch_data"],
        "generate_report": ["process_data"],
    }


def test_seed_001_property_named_type_is_still_a_property_map():
    doc = {
        "tasks": {"a": {"action": "builtin.echo"}},
        "input_schema": {"type": {"type": "string", "required": True}},
    }
    assert load(doc).input_schema == {
        "type": "object",
        "properties": {"type": {"type": "string"}},
        "required": ["type"],
    }


def test_condition_is_read_from_metadata():
    doc = {
        "tasks": {
            "a": {"action": "builtin.echo"},
            "b": {
                "action": "builtin.echo",
                "depends_on": ["a"],
                "metadata": {"condition": "${tasks.a.output.ok}"},
            },
        }
    }
    assert load(doc).tasks["b"].condition == "${tasks.a.output.ok}"


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
    doc = {
        "start_step": "a",
        "steps": {
            "a": {"agent_name": "DataExtractorAgent", "next_step": ["b", "c"]},
            "b": {"agent_name": "DataLoaderAgent"},
            "c": {"agent_name": "DataLoaderAgent"},
        },
    }
    assert deps(load(doc)) == {"a": [], "b": ["a"], "c": ["a"]}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param(
            {"steps": {"a": {"agent_name": "DataLoaderAgent"}}},
            ("start_step", "is required and must name a step"),
            id="start-step-missing",
        ),
        pytest.param(
            {"start_step": "zz", "steps": {"a": {"agent_name": "DataLoaderAgent"}}},
            ("start_step", "unknown step 'zz'"),
            id="start-step-unknown",
        ),
        pytest.param(
            {"start_step": "a", "steps": {"a": {"agent_name": "DataLoaderAgent", "next_step": "zz"}}},
            ("steps.a.next_step", "unknown step 'zz'"),
            id="next-step-unknown",
        ),
    ],
)
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
    doc = {
        "tasks": [
            {
                "id": "t",
                "timeout": 30,
                "retryPolicy": {
                    "maxRetries": 3,
                    "initialDelayMs": 500,
                    "backoffMultiplier": 3,
                    "maxDelayMs": 2000,
                },
            }
        ]
    }
    task = load(doc).tasks["t"]
    assert task.timeout == 30.0
    assert task.retry.count == 3
    assert [task.retry.countdown(n) for n in range(3)] == [0.5, 1.5, 2.0]


def test_explicit_zero_retry_delay_means_no_wait():
    doc = {"tasks": {"t": {"action": "builtin.echo", "retry": {"count": 2, "delay": 0}}}}
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
    assert deps(dag) == {
        "step1": [],
        "step2": ["step1"],
        "side": [],
        "step4": ["step1"],
        "step5": ["step4"],
    }


@pytest.mark.parametrize(
    ("step", "action", "parameters"),
    [
        pytest.param(
            {"type": "command", "parameters": {"command": "ls"}},
            "cli.execute_command",
            {"command": "ls"},
            id="command",
        ),
        pytest.param(
            {"type": "script", "parameters": {"script": "echo hi"}},
            "cli.execute_script",
            {"script": "echo hi"},
            id="script",
        ),
        pytest.param(
            {"type": "http", "parameters": {"url": "https://x.test"}},
            "api.http_get",
            {"url": "https://x.test"},
            id="http-default-get",
        ),
        pytest.param(
            {"type": "http", "parameters": {"method": "POST", "url": "https://x.test", "json": {}}},
            "api.http_post",
            {"url": "https://x.test", "json": {}},
            id="http-post",
        ),
        pytest.param(
            {"type": "http", "parameters": {"method": "delete", "url": "https://x.test"}},
            "api.http_delete",
            {"url": "https://x.test"},
            id="http-delete",
        ),
        pytest.param(
            {"type": "builtin.sleep", "parameters": {"seconds": 1}},
            "builtin.sleep",
            {"seconds": 1},
            id="dotted-type",
        ),
        pytest.param(
            {"type": "ergon.execute_command", "parameters": {"command": "ls"}},
            "cli.execute_command",
            {"command": "ls"},
            id="dotted-type-alias",
        ),
    ],
)
def test_seed_004_type_names_the_action(step, action, parameters):
    task = load({"steps": [{"id": "s", **step}]}).tasks["s"]
    assert task.action == action
    assert task.input == parameters


def test_seed_004_agent_type_names_the_agent():
    doc = {"steps": [{"id": "s", "type": "agent", "parameters": {"agent_name": "DataLoaderAgent"}}]}
    task = load(doc).tasks["s"]
    assert (task.action, task.agent) == ("agent.call", "DataLoaderAgent")
    assert task.input == {}


def test_seed_004_mcp_type_normalises_to_call_tool():
    dag, found = normalise({"steps": [{"id": "s", "type": "mcp", "parameters": {"tool": "t"}}]})
    assert found == []
    assert dag.tasks["s"].action == "mcp.call_tool"


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(
            {"type": "teleport"},
            ("steps[0].type", "unknown step type 'teleport'"),
            id="unknown-type",
        ),
        pytest.param(
            {"type": "http", "parameters": {"method": "PATCH", "url": "https://x.test"}},
            ("steps[0].parameters.method", "unsupported method 'patch'"),
            id="unsupported-http-method",
        ),
        pytest.param(
            {"type": "agent", "parameters": {}},
            ("steps[0].parameters.agent_name", "names the agent to call"),
            id="agent-without-name",
        ),
    ],
)
def test_seed_004_step_problems(step, expected):
    found = problems({"steps": [step]})
    assert any(field == expected[0] and expected[1] in msg for field, msg in found), found


# -- shapes shared by every dialect ------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "dialect"),
    [
        pytest.param({"tasks": {"a": {"action": "builtin.noop"}}}, "tasks", id="task-map"),
        pytest.param({"tasks": [{"id": "a"}]}, "task_list", id="task-list"),
        pytest.param({"start_step": "a", "steps": {"a": {"action": "builtin.noop"}}}, "steps",
                     id="step-map"),
        pytest.param({"steps": [{"type": "builtin.noop"}]}, "plan", id="plan"),
    ],
)
def test_dialect_is_detected_from_the_shape(doc, dialect):
    assert load(doc).dialect == dialect


def test_unrecognisable_document_names_what_is_missing():
    found = problems({"name": "nothing here"})
    assert [field for field, _ in found] == ["tasks"]
    assert "'tasks'" in next(iter(found))[1]


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        pytest.param({"tasks": {"a": "echo"}}, "tasks.a", id="task-map"),
        pytest.param({"tasks": [{"id": "a"}, 7]}, "tasks[1]", id="task-list"),
        pytest.param({"start_step": "a", "steps": {"a": {"action": "builtin.noop"}, "b": []}},
                     "steps.b", id="step-map"),
        pytest.param({"steps": [{"type": "builtin.noop"}, None]}, "steps[1]", id="plan"),
    ],
)
def test_a_task_that_is_not_an_object_is_named_by_its_path(doc, field):
    assert (field, "must be an object") in problems(doc)


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        pytest.param({"action": "builtin.noop", "timeout": -1}, "tasks.a.timeout",
                     "must be a positive number of seconds", id="negative-timeout"),
        pytest.param({"action": "builtin.noop", "retry": 101}, "tasks.a.retry",
                     "must be between 0 and 100", id="too-many-retries"),
        pytest.param({"action": "builtin.noop", "queue": 3}, "tasks.a.queue",
                     "must be a string", id="queue-not-string"),
        pytest.param({"action": "echo"}, "tasks.a.action",
                     "give 'component' with 'action', or a dotted action such as 'builtin.echo'",
                     id="undotted-action"),
        pytest.param({"input": {}}, "tasks.a",
                     "a task needs 'component' and 'action', a dotted 'action', or 'agent_name'",
                     id="no-action"),
        pytest.param({"id": "b", "action": "builtin.noop"}, "tasks.a.id",
                     "'b' does not match its key 'a'", id="id-mismatch"),
    ],
)
def test_task_field_problems(spec, field, message):
    assert (field, message) in problems({"tasks": {"a": spec}})
