"""The four definition dialects of DESIGN §3, each normalised into one ``Dag``.

| form                                                   | seed     |
|--------------------------------------------------------|----------|
| ``tasks`` object keyed by id, ``depends_on``           | 000, 001 |
| ``tasks`` list, ``dependencies``, sync points          | 003      |
| ``steps`` object, ``start_step``/``next_step``         | 002      |
| ``steps`` list with ``type``/``parameters`` (a plan)    | 004      |

Normalising never raises on user mistakes: it records ``Problem``s with a field path and carries on,
so validation can report every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.engine.dag import CheckpointPolicy, Dag, RetryPolicy, Task


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    type: str = "invalid"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "type": self.type}


STRUCTURE_KEYS = ("tasks", "steps", "start_step", "synchronizationPoints")

PLAN_TYPES = {
    "command": "cli.execute_command",
    "script": "cli.execute_script",
    "agent": "agent.call",
    "mcp": "mcp.call_tool",
}


def detect_dialect(doc: Mapping[str, Any]) -> str | None:
    steps, tasks = doc.get("steps"), doc.get("tasks")
    if isinstance(steps, Mapping) or "start_step" in doc:
        return "steps"
    if isinstance(steps, list):
        return "plan"
    if isinstance(tasks, Mapping):
        return "tasks"
    if isinstance(tasks, list):
        return "task_list"
    return None


def normalise(doc: Mapping[str, Any], aliases: Mapping[str, str] | None = None):
    """``(dag, problems)`` for any dialect; ``dag`` is ``None`` when the form is unrecognisable."""
    aliases = aliases or {}
    problems: list[Problem] = []
    dialect = detect_dialect(doc)
    if dialect is None:
        problems.append(
            Problem(
                "tasks",
                "a definition needs 'tasks' (object or list) or 'steps' (object with "
                "'start_step', or list)",
                "missing",
            )
        )
        return None, problems
    builder = {
        "tasks": _from_task_map,
        "task_list": _from_task_list,
        "steps": _from_step_map,
        "plan": _from_plan,
    }[dialect]
    tasks = builder(doc, aliases, problems)
    dag = Dag(
        tasks=tasks,
        dialect=dialect,
        input_schema=_input_schema(doc, problems),
        output_mapping=doc.get("output_mapping"),
        variables=dict(doc.get("variables") or {})
        if isinstance(doc.get("variables"), Mapping)
        else {},
        checkpoint=_checkpoint_policy(doc.get("checkpoint"), problems),
    )
    return dag, problems


# -- shared field readers ----------------------------------------------------------------------


def _action(spec: Mapping[str, Any], path: str, aliases: Mapping[str, str], problems, default=None):
    """``(action, agent)`` from ``component``+``action``, dotted ``action``, or an agent name."""
    agent = spec.get("agent_name") or spec.get("agent")
    component = spec.get("component")
    action = spec.get("action")
    if agent is not None:
        if not isinstance(agent, str) or not agent:
            problems.append(Problem(f"{path}.agent_name", "must be a non-empty string", "type"))
            return "agent.call", None
        return "agent.call", agent
    if component is not None:
        if not isinstance(component, str) or not component:
            problems.append(Problem(f"{path}.component", "must be a non-empty string", "type"))
            return "builtin.noop", None
        if action is not None and not isinstance(action, str):
            problems.append(Problem(f"{path}.action", "must be a string", "type"))
            action = None
        component = aliases.get(component, component)
        # An unknown component may name a registered agent: validation decides.
        return f"{component}.{action or ''}".rstrip("."), None
    if isinstance(action, str) and "." in action:
        integration, capability = action.split(".", 1)
        return f"{aliases.get(integration, integration)}.{capability}", None
    if action is not None:
        problems.append(
            Problem(
                f"{path}.action",
                "give 'component' with 'action', or a dotted action such as 'builtin.echo'",
                "missing",
            )
        )
        return "builtin.noop", None
    if default is not None:
        return default, None
    problems.append(
        Problem(
            path,
            "a task needs 'component' and 'action', a dotted 'action', or 'agent_name'",
            "missing",
        )
    )
    return "builtin.noop", None


def _seconds(value: Any, path: str, problems: list[Problem]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        problems.append(Problem(path, "must be a positive number of seconds", "type"))
        return None
    return float(value)


def _retry(value: Any, path: str, problems: list[Problem]) -> RetryPolicy:
    if value is None:
        return RetryPolicy()
    if isinstance(value, bool) or (not isinstance(value, int | Mapping)):
        problems.append(Problem(path, "must be a retry count or an object", "type"))
        return RetryPolicy()
    if isinstance(value, int):
        if not 0 <= value <= 100:
            problems.append(Problem(path, "must be between 0 and 100", "range"))
            return RetryPolicy()
        return RetryPolicy(count=value)

    def pick(*names: str, scale: float = 1.0):
        for name in names:
            if name in value and value[name] is not None:
                raw = value[name]
                if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
                    problems.append(
                        Problem(f"{path}.{name}", "must be a non-negative number", "type")
                    )
                    return None
                return raw * scale
        return None

    count = pick("count", "max_retries", "maxRetries", "retries")
    delay = pick("delay", "initial_delay", "backoff")
    if delay is None:  # not ``or``: an explicit delay of 0 means no wait
        delay = pick("initial_delay_ms", "initialDelayMs", "initialDelay", scale=0.001)
    multiplier = pick("multiplier", "backoff_multiplier", "backoffMultiplier")
    max_delay = pick("max_delay") or pick("max_delay_ms", "maxDelayMs", scale=0.001)
    if count is not None and count > 100:
        problems.append(Problem(f"{path}.count", "must be at most 100", "range"))
        count = 100
    return RetryPolicy(
        count=int(count or 0),
        delay=float(delay if delay is not None else 1.0),
        multiplier=float(multiplier if multiplier else 2.0),
        max_delay=float(max_delay if max_delay else 300.0),
    )


def _id_list(value: Any, path: str, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem(path, "must be a list of task ids", "type"))
        return ()
    return tuple(value)


def _condition(spec: Mapping[str, Any], path: str, problems: list[Problem]):
    condition = spec.get("condition")
    where = f"{path}.condition"
    metadata = spec.get("metadata")
    if condition is None and isinstance(metadata, Mapping):
        condition = metadata.get("condition")
        where = f"{path}.metadata.condition"
    if isinstance(condition, bool):
        # A template placeholder such as "${params.enabled}" becomes a literal boolean.
        return (None if condition else "1 == 0"), where
    if condition is None:
        return None, where
    if not isinstance(condition, str):
        problems.append(Problem(where, "must be an expression string", "type"))
        return None, where
    return condition, where


def _task(
    tid: str,
    spec: Mapping[str, Any],
    path: str,
    aliases,
    problems,
    *,
    depends_on,
    input_value,
    default_action=None,
    action=None,
    agent=None,
) -> Task:
    if action is None:
        action, agent = _action(spec, path, aliases, problems, default_action)
    condition, _ = _condition(spec, path, problems)
    metadata = spec.get("metadata") if isinstance(spec.get("metadata"), Mapping) else {}
    queue = spec.get("queue")
    if queue is not None and not isinstance(queue, str):
        problems.append(Problem(f"{path}.queue", "must be a string", "type"))
        queue = None
    name = spec.get("name") if isinstance(spec.get("name"), str) else tid
    return Task(
        id=tid,
        name=name,
        action=action,
        agent=agent,
        input=input_value if input_value is not None else {},
        depends_on=depends_on,
        condition=condition,
        timeout=_seconds(spec.get("timeout"), f"{path}.timeout", problems),
        retry=_retry(spec.get("retry", spec.get("retryPolicy")), f"{path}.retry", problems),
        queue=queue,
        metadata=dict(metadata),
        path=path,
    )


def _add(tasks: dict[str, Task], task: Task, problems: list[Problem]) -> None:
    if task.id in tasks:
        problems.append(Problem(f"{task.path}.id", f"duplicate task id '{task.id}'", "duplicate"))
        return
    tasks[task.id] = task


def _spec_or_problem(spec: Any, path: str, problems: list[Problem]) -> Mapping[str, Any] | None:
    if not isinstance(spec, Mapping):
        problems.append(Problem(path, "must be an object", "type"))
        return None
    return spec


# -- the dialects ------------------------------------------------------------------------------


def _from_task_map(doc, aliases, problems) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for tid, raw in doc["tasks"].items():
        path = f"tasks.{tid}"
        spec = _spec_or_problem(raw, path, problems)
        if spec is None:
            continue
        if "id" in spec and spec["id"] != tid:
            problems.append(Problem(f"{path}.id", f"'{spec['id']}' does not match its key '{tid}'"))
        deps = _id_list(spec.get("depends_on"), f"{path}.depends_on", problems)
        _add(
            tasks,
            _task(
                tid, spec, path, aliases, problems, depends_on=deps, input_value=spec.get("input")
            ),
            problems,
        )
    return tasks


def _from_task_list(doc, aliases, problems) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for index, raw in enumerate(doc["tasks"]):
        path = f"tasks[{index}]"
        spec = _spec_or_problem(raw, path, problems)
        if spec is None:
            continue
        tid = spec.get("id") or f"task-{index + 1}"
        deps = _id_list(
            spec.get("dependencies", spec.get("depends_on")), f"{path}.dependencies", problems
        )
        # Seed 003's tasks often name no action: they are plain placeholders.
        _add(
            tasks,
            _task(
                str(tid),
                spec,
                path,
                aliases,
                problems,
                depends_on=deps,
                input_value=spec.get("input", spec.get("parameters")),
                default_action="builtin.noop",
            ),
            problems,
        )
    for index, raw in enumerate(doc.get("synchronizationPoints") or []):
        path = f"synchronizationPoints[{index}]"
        spec = _spec_or_problem(raw, path, problems)
        if spec is None:
            continue
        sid = spec.get("id") or f"sync-{index + 1}"
        deps = _id_list(spec.get("requiredTasks"), f"{path}.requiredTasks", problems)
        _add(
            tasks,
            _task(
                str(sid),
                spec,
                path,
                aliases,
                problems,
                depends_on=deps,
                input_value={},
                action="builtin.noop",
            ),
            problems,
        )
    return tasks


def _from_step_map(doc, aliases, problems) -> dict[str, Task]:
    steps = doc.get("steps")
    if not isinstance(steps, Mapping):
        problems.append(Problem("steps", "must be an object keyed by step id", "type"))
        return {}
    start = doc.get("start_step")
    if not isinstance(start, str) or not start:
        problems.append(Problem("start_step", "is required and must name a step", "missing"))
    elif start not in steps:
        problems.append(Problem("start_step", f"unknown step '{start}'", "unknown"))
    parents: dict[str, list[str]] = {sid: [] for sid in steps}
    for sid, raw in steps.items():
        if not isinstance(raw, Mapping):
            continue
        nxt = raw.get("next_step")
        targets = [nxt] if isinstance(nxt, str) else nxt if isinstance(nxt, list) else []
        if nxt is not None and not isinstance(nxt, str | list):
            problems.append(Problem(f"steps.{sid}.next_step", "must be a step id or null", "type"))
        for target in targets:
            if not isinstance(target, str):  # e.g. a nested list: unhashable, and never a step id
                problems.append(
                    Problem(f"steps.{sid}.next_step", "must be a step id or null", "type")
                )
            elif target in parents:
                parents[target].append(sid)
            else:
                problems.append(
                    Problem(f"steps.{sid}.next_step", f"unknown step '{target}'", "unknown")
                )
    tasks: dict[str, Task] = {}
    for sid, raw in steps.items():
        path = f"steps.{sid}"
        spec = _spec_or_problem(raw, path, problems)
        if spec is None:
            continue
        if "id" in spec and spec["id"] != sid:
            problems.append(Problem(f"{path}.id", f"'{spec['id']}' does not match its key '{sid}'"))
        deps = tuple(parents[sid]) + _id_list(
            spec.get("depends_on"), f"{path}.depends_on", problems
        )
        input_value = spec.get("input_mapping", spec.get("input"))
        _add(
            tasks,
            _task(
                sid,
                spec,
                path,
                aliases,
                problems,
                depends_on=tuple(dict.fromkeys(deps)),
                input_value=input_value,
            ),
            problems,
        )
    if isinstance(start, str) and start in tasks:
        _report_unreachable(start, steps, tasks, problems)
    return tasks


def _report_unreachable(start: str, steps, tasks: dict[str, Task], problems) -> None:
    children: dict[str, list[str]] = {sid: [] for sid in tasks}
    for task in tasks.values():
        for dep in task.depends_on:
            if dep in children:
                children[dep].append(task.id)
    seen, stack = {start}, [start]
    while stack:
        for child in children[stack.pop()]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    for sid in tasks:
        if sid not in seen:
            problems.append(
                Problem(
                    f"steps.{sid}",
                    f"step '{sid}' is unreachable from start_step '{start}'",
                    "unreachable",
                )
            )


def _from_plan(doc, aliases, problems) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    previous: str | None = None
    for index, raw in enumerate(doc["steps"]):
        path = f"steps[{index}]"
        spec = _spec_or_problem(raw, path, problems)
        if spec is None:
            continue
        sid = str(spec.get("id") or f"step{index + 1}")
        if "depends_on" in spec:
            deps = _id_list(spec.get("depends_on"), f"{path}.depends_on", problems)
        else:
            deps = (previous,) if previous else ()
        params = spec.get("parameters", spec.get("input"))
        params = dict(params) if isinstance(params, Mapping) else params
        action, agent = _plan_action(spec, params, path, aliases, problems)
        _add(
            tasks,
            _task(
                sid,
                spec,
                path,
                aliases,
                problems,
                depends_on=deps,
                input_value=params,
                action=action,
                agent=agent,
            ),
            problems,
        )
        previous = sid
    return tasks


def _plan_action(spec, params, path, aliases, problems):
    kind = spec.get("type")
    if kind is None:
        return _action(spec, path, aliases, problems)
    if not isinstance(kind, str):
        problems.append(Problem(f"{path}.type", "must be a string", "type"))
        return "builtin.noop", None
    if kind == "http":
        method = "get"
        if isinstance(params, dict):
            method = str(params.pop("method", "GET")).lower()
        if method not in {"get", "post", "put", "delete"}:
            problems.append(Problem(f"{path}.parameters.method", f"unsupported method '{method}'"))
            method = "get"
        return f"api.http_{method}", None
    if kind == "agent":
        agent = (
            params.pop("agent_name", None) or params.pop("agent", None)
            if isinstance(params, dict)
            else None
        )
        if not agent:
            problems.append(
                Problem(f"{path}.parameters.agent_name", "names the agent to call", "missing")
            )
        elif not isinstance(agent, str):  # looked up by name: a number or a list is not one
            problems.append(
                Problem(f"{path}.parameters.agent_name", "must be a non-empty string", "type")
            )
            agent = None
        return "agent.call", agent
    if kind in PLAN_TYPES:
        return PLAN_TYPES[kind], None
    if "." in kind:
        integration, capability = kind.split(".", 1)
        return f"{aliases.get(integration, integration)}.{capability}", None
    problems.append(
        Problem(
            f"{path}.type",
            f"unknown step type '{kind}' (command, script, http, agent, mcp, "
            "or integration.capability)",
            "unknown",
        )
    )
    return "builtin.noop", None


def _checkpoint_policy(value: Any, problems: list[Problem]) -> CheckpointPolicy:
    """``{"every_n_tasks": N, "on_pause": true}``: when runs take checkpoints by themselves."""
    if value is None:
        return CheckpointPolicy()
    if not isinstance(value, Mapping):
        problems.append(Problem("checkpoint", "must be an object", "type"))
        return CheckpointPolicy()
    for key in value:
        if key not in ("every_n_tasks", "on_pause"):
            problems.append(
                Problem(f"checkpoint.{key}", "unknown option (every_n_tasks, on_pause)", "unknown")
            )
    every = value.get("every_n_tasks")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        problems.append(Problem("checkpoint.every_n_tasks", "must be a positive integer", "type"))
        every = None
    on_pause = value.get("on_pause", False)
    if not isinstance(on_pause, bool):
        problems.append(Problem("checkpoint.on_pause", "must be true or false", "type"))
        on_pause = False
    return CheckpointPolicy(every_n_tasks=every, on_pause=on_pause)


def _input_schema(doc: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    if "input_schema" in doc and doc["input_schema"] is not None:
        raw = doc["input_schema"]
        where = "input_schema"
    elif isinstance(doc.get("input"), Mapping):
        raw = doc["input"]
        where = "input"
    else:
        return None
    if not isinstance(raw, Mapping):
        problems.append(Problem(where, "must be a JSON Schema object or a property map", "type"))
        return None
    # A JSON Schema ``type`` is a string or list; a mapping there is a property named "type".
    if isinstance(raw.get("type"), str | list) or "properties" in raw or "$schema" in raw:
        return dict(raw)
    # Seed 001's property map: {"name": {"type": ..., "required": true, "default": ...}}
    for name, prop in raw.items():
        if not isinstance(prop, Mapping):
            problems.append(Problem(f"{where}.{name}", "must be an object", "type"))
    return property_map_schema({k: v for k, v in raw.items() if isinstance(v, Mapping)})


def property_map_schema(declared: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a property map whose entries say ``required: true`` themselves (seed
    001's input schemas, template parameters): the flags become ``required`` lists, at every
    level of nested ``properties``. A nested object may also list ``required`` the JSON Schema
    way; both are kept."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in declared.items():
        prop = dict(spec)
        flag = prop.pop("required") if isinstance(prop.get("required"), bool) else False
        if flag:
            required.append(name)
        nested = prop.get("properties")
        if isinstance(nested, Mapping) and all(isinstance(v, Mapping) for v in nested.values()):
            inner = property_map_schema(nested)
            prop["properties"] = inner["properties"]
            listed = prop.get("required") if isinstance(prop.get("required"), list) else []
            merged = [*listed, *(n for n in inner.get("required", []) if n not in listed)]
            if merged:
                prop["required"] = merged
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema
