"""``${...}`` expressions in task inputs and conditions.

- A reference names a value: ``${workflow.input.x}``, ``${tasks.t.output.a.b}``, ``${t.output.x}``
  (seed 002), ``${variables.x}``, ``${state.x}``, ``${params.x}``; ``[0]`` indexes lists.
- A string that is exactly one ``${...}`` keeps the value's type; inside a longer string the value
  is interpolated (JSON for objects and lists).
- Anything else inside ``${...}`` is a Jinja2 expression evaluated in an
  ``ImmutableSandboxedEnvironment`` (never ``eval``), e.g. ``${tasks.t1.output.result != ''}``.
  Missing values resolve to ``null``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

EXPR = re.compile(r"\$\{([^{}]*)\}")
_SEGMENT = r"[A-Za-z_][\w-]*"
REFERENCE = re.compile(rf"^\s*{_SEGMENT}(?:\.[\w-]+|\[\d+\])*\s*$")
_PATH_PART = re.compile(r"\.?([\w-]+)|\[(\d+)\]")
ROOTS = ("workflow", "tasks", "variables", "state", "params", "steps")
MAX_SEQUENCE_PRODUCT = 1_000_000
MAX_EXPONENT = 1000


class _Sandbox(ImmutableSandboxedEnvironment):
    """Immutable: an expression reads the run context, it must never change it (``x.pop(...)``)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``output.items`` is the key "items" when there is one, as in a plain reference; Jinja
        # alone would return the ``dict.items`` method.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    # Multiplication and powers are checked so one expression cannot exhaust a worker's memory.
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if sized and len(seq) * count > MAX_SEQUENCE_PRODUCT:
                    raise ExpressionError("expression result would be too large")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise ExpressionError(f"exponent larger than {MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


_env = _Sandbox()


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    text: str
    path: tuple[str | int, ...]

    @property
    def task_id(self) -> str | None:
        """The task read by ``tasks.<id>...``, ``steps.<id>...`` or ``<id>.output...``."""
        head = self.path[0]
        if head in ("tasks", "steps") and len(self.path) > 1:
            return str(self.path[1])
        if head not in ROOTS and len(self.path) > 1 and self.path[1] == "output":
            return str(head)
        return None


def parse_reference(text: str) -> Reference:
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(text.strip()):
        parts.append(int(index) if index else name)
    return Reference(text.strip(), tuple(parts))


def expressions_in(value: Any) -> Iterator[str]:
    """Every ``${...}`` body inside a (nested) input value."""
    if isinstance(value, str):
        for match in EXPR.finditer(value):
            yield match.group(1)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from expressions_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from expressions_in(item)


def parse(body: str) -> nodes.Template:
    """The Jinja syntax tree of one ``${...}`` body (raises ``TemplateSyntaxError``)."""
    return _env.parse("{{ " + body + " }}")


def check_expression(body: str) -> list[str]:
    """Syntax problems in one ``${...}`` body (empty list when it is fine)."""
    if not body.strip():
        return ["empty expression '${}'"]
    if REFERENCE.match(body):
        return []
    try:
        _env.parse("{{ " + body + " }}")
    except TemplateSyntaxError as exc:
        return [f"bad expression '${{{body}}}': {exc.message}"]
    return []


def task_ids_read(body: str, known: Mapping[str, Any] | set[str]) -> set[str]:
    """Task ids an expression body reads, for the 'only ancestors' rule."""
    if REFERENCE.match(body):
        ref = parse_reference(body)
        tid = ref.task_id
        return {tid} if tid is not None else set()
    try:
        tree = _env.parse("{{ " + body + " }}")
    except TemplateSyntaxError:
        return set()
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            base = node.node
            if isinstance(base, nodes.Name) and base.name in ("tasks", "steps"):
                key = node.attr if isinstance(node, nodes.Getattr) else _const(node.arg)
                if key is not None:
                    found.add(str(key))
        elif isinstance(node, nodes.Name) and node.name in known and node.name not in ROOTS:
            found.add(node.name)
    return found


def _const(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def lookup(context: Mapping[str, Any], ref: Reference) -> Any:
    value: Any = context
    for part in ref.path:
        if isinstance(part, int):
            value = (
                value[part]
                if isinstance(value, list) and -len(value) <= part < len(value)
                else None
            )
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = None
        if value is None:
            return None
    return value


def evaluate(body: str, context: Mapping[str, Any]) -> Any:
    if REFERENCE.match(body):
        return lookup(context, parse_reference(body))
    try:
        return _env.compile_expression(body, undefined_to_none=True)(**context)
    except Exception as exc:  # a user's expression: any failure is reported, never raised raw
        raise ExpressionError(f"cannot evaluate '${{{body}}}': {exc}") from exc


def resolve(value: Any, context: Mapping[str, Any]) -> Any:
    """Substitute every expression in a (nested) value."""
    if isinstance(value, str):
        whole = EXPR.fullmatch(value)
        if whole:
            return evaluate(whole.group(1), context)
        if "${" not in value:
            return value
        return EXPR.sub(lambda m: interpolate(evaluate(m.group(1), context)), value)
    if isinstance(value, Mapping):
        return {key: resolve(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(item, context) for item in value]
    return value


def interpolate(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def evaluate_condition(condition: str, context: Mapping[str, Any]) -> bool:
    """A condition is one expression, with or without ``${}``; its truthiness decides."""
    text = condition.strip()
    whole = EXPR.fullmatch(text)
    body = whole.group(1) if whole else text
    if not whole and "${" in text:
        return bool(resolve(text, context))
    return bool(evaluate(body, context))


def condition_body(condition: str) -> str:
    text = condition.strip()
    whole = EXPR.fullmatch(text)
    return whole.group(1) if whole else text
