"""Definition validation: every problem at once, each with a field path (DESIGN §3)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaValidationError

from app.engine import expressions
from app.engine.catalogue import INTEGRATIONS, find_capability, starts_a_command
from app.engine.dag import Dag
from app.engine.dialects import Problem, normalise
from app.engine.errors import DomainError
from app.engine.graph import ancestor_bits, find_cycle, topological_order


class InvalidDefinition(DomainError, ValueError):
    """A definition with one or more problems; ``problems`` lists all of them."""

    resource = "workflow"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            f"Invalid workflow definition: {first}{more}", [p.to_dict() for p in problems]
        )


class InvalidInput(DomainError, ValueError):
    """Run input that does not match the workflow's input schema."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(
            "; ".join(f"{p.field}: {p.message}" for p in problems), [p.to_dict() for p in problems]
        )


@dataclass
class Limits:
    max_tasks: int = 20_000
    enable_shell: bool = True
    # Longer ``${...}`` bodies are refused before they are parsed: parsing is the cost to avoid.
    max_expression_length: int = 4096


@dataclass
class Catalogue:
    """What names a task may use: built-in integrations plus an agent lookup."""

    agent_status: Callable[[str], str | None] = lambda name: None
    aliases: Mapping[str, str] = field(default_factory=dict)


def load_definition(
    doc: Mapping[str, Any], catalogue: Catalogue, limits: Limits | None = None
) -> Dag:
    """Normalise and validate; raise ``InvalidDefinition`` listing every problem."""
    limits = limits or Limits()
    dag, problems = normalise(doc, catalogue.aliases)
    if dag is not None:
        problems.extend(validate(dag, catalogue, limits))
    if problems:
        raise InvalidDefinition(problems)
    assert dag is not None
    return dag


def validate(dag: Dag, catalogue: Catalogue, limits: Limits) -> list[Problem]:
    problems: list[Problem] = []
    if not dag.tasks:
        problems.append(Problem("tasks", "a workflow needs at least one task", "missing"))
    if len(dag.tasks) > limits.max_tasks:
        problems.append(
            Problem(
                "tasks",
                f"{len(dag.tasks)} tasks exceed the limit of {limits.max_tasks}",
                "too_large",
            )
        )
        return problems
    deps = {tid: task.depends_on for tid, task in dag.tasks.items()}
    for task in dag.tasks.values():
        for i, dep in enumerate(task.depends_on):
            if dep not in dag.tasks:
                problems.append(
                    Problem(
                        _dep_path(task.path, dag.dialect, i),
                        f"unknown dependency '{dep}'",
                        "unknown",
                    )
                )
            elif dep == task.id:
                problems.append(
                    Problem(
                        _dep_path(task.path, dag.dialect, i),
                        f"task '{dep}' depends on itself",
                        "cycle",
                    )
                )
    order, leftovers = topological_order(deps)
    if leftovers:
        cycle = find_cycle(deps, leftovers)
        if len(cycle) > 2:
            problems.append(Problem("tasks", "cycle: " + " → ".join(cycle), "cycle"))
    for task in dag.tasks.values():
        problems.extend(_check_action(task, catalogue, limits))
    problems.extend(_check_expressions(dag, order, limits.max_expression_length))
    problems.extend(_check_output_mapping(dag, limits.max_expression_length))
    problems.extend(_check_schema(dag))
    return problems


def _dep_path(path: str, dialect: str, index: int) -> str:
    key = "dependencies" if dialect == "task_list" else "depends_on"
    if path.startswith("synchronizationPoints"):
        key = "requiredTasks"  # the field the user wrote, not the task-list one
    if dialect == "steps":
        key = "next_step"
    return f"{path}.{key}[{index}]" if dialect != "steps" else f"{path}"


def _check_action(task, catalogue: Catalogue, limits: Limits) -> list[Problem]:
    where = task.path
    if task.action == "agent.call":
        if task.agent is None:
            return []
        status = catalogue.agent_status(task.agent)
        if status != "active":
            return [
                Problem(
                    f"{where}.agent_name", f"Agent '{task.agent}' not found or inactive", "unknown"
                )
            ]
        return []
    integration, capability = task.integration, task.capability
    if integration not in INTEGRATIONS:
        # ``component`` may name a registered agent (seeds 000/001).
        status = catalogue.agent_status(integration)
        if status == "active":
            return []
        if status is not None:
            return [Problem(f"{where}.component", f"Agent '{integration}' is {status}", "inactive")]
        known = ", ".join(sorted(INTEGRATIONS))
        return [
            Problem(
                f"{where}.component",
                f"unknown component '{integration}' (built-in: "
                f"{known}; or the name of a registered agent)",
                "unknown",
            )
        ]
    if not limits.enable_shell and starts_a_command(integration, task.input):
        field = f"{where}.component" if integration == "cli" else f"{where}.input.server.command"
        return [
            Problem(
                field,
                "shell tasks are disabled on this server (HARMONIA_ENABLE_SHELL=false)",
                "forbidden",
            )
        ]
    cap = find_capability(integration, capability)
    if cap is None:
        known = ", ".join(sorted(INTEGRATIONS[integration].capabilities))
        return [
            Problem(
                f"{where}.action",
                f"unknown action '{capability}' for '{integration}' (known: {known})",
                "unknown",
            )
        ]
    return _check_input_keys(task, cap.schema)


def _check_input_keys(task, schema: Mapping[str, Any]) -> list[Problem]:
    value = task.input
    where = f"{task.path}.input"
    if isinstance(value, str) and expressions.EXPR.fullmatch(value):
        return []  # the whole input comes from an expression: checked at run time
    if not isinstance(value, Mapping):
        return [Problem(where, "must be an object", "type")]
    problems = []
    for name in schema.get("required", []):
        if name not in value:
            problems.append(Problem(f"{where}.{name}", "is required", "missing"))
    if schema.get("additionalProperties") is False:
        allowed = set(schema.get("properties", {}))
        for name in value:
            if name not in allowed:
                problems.append(
                    Problem(
                        f"{where}.{name}",
                        "unknown parameter (expected one of: " + ", ".join(sorted(allowed)) + ")",
                        "unknown",
                    )
                )
    # Literal values (no expressions) are checked against their property schemas now.
    for name, item in value.items():
        prop = schema.get("properties", {}).get(name)
        if prop is None or any(True for _ in expressions.expressions_in(item)):
            continue
        try:
            Draft202012Validator(prop).validate(item)
        except SchemaValidationError as exc:
            problems.append(Problem(f"{where}.{name}", exc.message, "type"))
    return problems


def _located(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Each ``${...}`` body in a (nested) value, with the field path of the string holding it."""
    if isinstance(value, str):
        for match in expressions.EXPR.finditer(value):
            yield path, match.group(1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _located(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _located(item, f"{path}[{index}]")


def _condition_field(task) -> str:
    """Where the user wrote the condition: ``metadata.condition`` is the fallback spelling."""
    if task.metadata.get("condition") == task.condition:
        return f"{task.path}.metadata.condition"
    return f"{task.path}.condition"


def _too_long(holder: str, body: str, limit: int) -> Problem | None:
    if len(body) <= limit:
        return None
    return Problem(
        holder, f"expression is {len(body)} characters, over the limit of {limit}", "too_large"
    )


def _check_expressions(dag: Dag, order: list[str], limit: int) -> list[Problem]:
    problems: list[Problem] = []
    known = set(dag.tasks)
    ancestors: dict[str, int] | None = None
    position = {tid: i for i, tid in enumerate(order)}
    for task in dag.tasks.values():
        # Other problems keep naming the whole input (as they always have); a too-long body is
        # named by the exact string holding it, since it may be one string among hundreds.
        input_field = f"{task.path}.input"
        bodies = [(input_field, at, body) for at, body in _located(task.input, input_field)]
        if task.condition is not None:
            body = expressions.condition_body(task.condition)
            bodies.append((f"{task.path}.condition", _condition_field(task), body))
        for field_path, holder, body in bodies:
            if too_long := _too_long(holder, body, limit):
                problems.append(too_long)
                continue
            syntax = expressions.check_expression(body)
            if syntax:
                problems.extend(Problem(field_path, msg, "expression") for msg in syntax)
                continue
            for tid in sorted(expressions.task_ids_read(body, known)):
                if tid not in known:
                    problems.append(
                        Problem(field_path, f"'${{{body}}}' reads unknown task '{tid}'", "unknown")
                    )
                    continue
                if ancestors is None:
                    deps = {t: dag.tasks[t].depends_on for t in order}
                    ancestors = ancestor_bits(order, deps)
                bits = ancestors.get(task.id, 0)
                if tid == task.id or tid not in position or not (bits >> position[tid]) & 1:
                    problems.append(
                        Problem(
                            field_path,
                            f"'${{{body}}}' reads task '{tid}', which "
                            f"is not upstream of '{task.id}' (add it to its "
                            "dependencies)",
                            "not_ancestor",
                        )
                    )
    return problems


def _check_output_mapping(dag: Dag, limit: int) -> list[Problem]:
    """The run output may read any task (it is computed once every task has finished)."""
    problems: list[Problem] = []
    for holder, body in _located(dag.output_mapping, "output_mapping"):
        if too_long := _too_long(holder, body, limit):
            problems.append(too_long)
            continue
        syntax = expressions.check_expression(body)
        if syntax:
            problems.extend(Problem("output_mapping", msg, "expression") for msg in syntax)
            continue
        for tid in sorted(expressions.task_ids_read(body, dag.tasks)):
            if tid not in dag.tasks:
                problems.append(
                    Problem(
                        "output_mapping", f"'${{{body}}}' reads unknown task '{tid}'", "unknown"
                    )
                )
    return problems


def _check_schema(dag: Dag) -> list[Problem]:
    if dag.input_schema is None:
        return []
    try:
        Draft202012Validator.check_schema(dag.input_schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.path)
        return [
            Problem(
                "input_schema" + (f".{where}" if where else ""),
                f"not a valid JSON Schema: {exc.message}",
                "schema",
            )
        ]
    return []


def validate_input(
    schema: Mapping[str, Any] | None, data: Any, root: str = "input_data"
) -> dict[str, Any]:
    """Check run input (or template parameter values) against a JSON Schema; return it with
    defaults applied. Problems are named from ``root``: ``input_data.count``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput([Problem(root, "must be an object", "type")])
    if not schema:
        return dict(data)
    data = _with_defaults(schema, dict(data))
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        raise InvalidInput([_input_problem(e, root) for e in errors])
    return data


def _input_problem(error: SchemaValidationError, root: str) -> Problem:
    path = [root, *(str(p) for p in error.path)]
    if error.validator == "required":
        # jsonschema reports a missing property at its parent; name the property itself.
        missing = re.match(r"'(.+)' is a required property", error.message)
        if missing:
            path.append(missing.group(1))
            return Problem(".".join(path), "is required", "missing")
    return Problem(".".join(path), error.message, str(error.validator))


def _with_defaults(schema: Mapping[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        if name not in data and "default" in prop:
            # A copy: runs must not share (and mutate) the schema's default object.
            data[name] = copy.deepcopy(prop["default"])
        elif isinstance(data.get(name), dict) and prop.get("properties"):
            data[name] = _with_defaults(prop, dict(data[name]))
    return data
