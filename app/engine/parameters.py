"""Template parameters: typed declarations, value checking, and ``${params.x}`` placeholders.

A template declares parameters the way seeds 000/001 write them::

    {"data_source": {"type": "string", "required": true, "description": "..."},
     "format": {"type": "string", "default": "json", "enum": ["json", "csv"]},
     "options": {"type": "object", "properties": {"normalize": {"type": "boolean"}}}}

The declarations become one JSON Schema (``required: true`` flags move to the parent's
``required`` list, recursively), so values are checked by ``jsonschema`` like run input is.

Placeholders are plain references, ``${params.name}`` or ``${params.name.key}``, in any string of
a definition. Instantiating substitutes them: a string that is exactly one placeholder takes the
value's type (``"${params.count}"`` becomes a number); inside a longer string the value is
interpolated. Other expressions (``${tasks.t.output}``) are left for run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaValidationError

from app.engine import expressions
from app.engine.dialects import Problem, property_map_schema
from app.engine.validation import InvalidInput, validate_input

TYPES = ("string", "number", "integer", "boolean", "object", "array")
NAME = re.compile(r"^[A-Za-z_][\w-]*$")
# What a declaration may say: the seeds' keys plus the JSON Schema checks that fit a parameter.
KEYS = {
    "type",
    "required",
    "default",
    "enum",
    "description",
    "title",
    "examples",
    "properties",
    "items",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
}


class InvalidParameters(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


def check_declarations(declared: Any, where: str = "parameters") -> list[Problem]:
    """Every problem in a parameter map: names, types, enums and defaults that fit their type."""
    if not isinstance(declared, Mapping):
        return [Problem(where, "must be an object of parameter declarations", "type")]
    problems: list[Problem] = []
    for name, spec in declared.items():
        path = f"{where}.{name}"
        if not NAME.match(str(name)):
            problems.append(Problem(path, "a parameter name is letters, digits, _ or -", "invalid"))
        problems.extend(_check_one(spec, path))
    if not problems:
        try:
            Draft202012Validator.check_schema(to_schema(declared))
        except SchemaError as exc:
            field = ".".join(str(p) for p in exc.path if p != "properties")
            problems.append(Problem(f"{where}.{field}".rstrip("."), exc.message, "schema"))
    return problems


def _check_one(spec: Any, path: str) -> list[Problem]:
    if not isinstance(spec, Mapping):
        return [Problem(path, 'must be an object such as {"type": "string"}', "type")]
    problems = [
        Problem(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(KEYS))})", "unknown")
        for key in spec
        if key not in KEYS
    ]
    kind = spec.get("type")
    if kind is not None and kind not in TYPES:
        problems.append(Problem(f"{path}.type", f"must be one of: {', '.join(TYPES)}", "invalid"))
    if not isinstance(spec.get("required", False), bool):
        problems.append(Problem(f"{path}.required", "must be true or false", "type"))
    if "enum" in spec and (not isinstance(spec["enum"], list) or not spec["enum"]):
        problems.append(Problem(f"{path}.enum", "must be a non-empty list", "type"))
    nested = spec.get("properties")
    if nested is not None:
        if kind not in (None, "object"):
            problems.append(Problem(f"{path}.properties", "only an object has properties", "type"))
        problems.extend(check_declarations(nested, f"{path}.properties"))
    if problems:
        return problems
    own = to_schema({"x": spec})["properties"]["x"]
    loose = {key: value for key, value in own.items() if key not in ("enum", "default")}
    for i, value in enumerate(spec.get("enum", [])):
        problems.extend(_mismatch(loose, value, f"{path}.enum[{i}]"))
    if "default" in spec:
        problems.extend(_mismatch(own, spec["default"], f"{path}.default"))
        problems.extend(_expressions_in_value(spec["default"], f"{path}.default"))
    return problems


def _expressions_in_value(value: Any, where: str) -> list[Problem]:
    """A value is data: one holding "${" would be evaluated as an expression once substituted."""
    return [
        Problem(path, "must not contain '${' (values are not expressions)", "invalid")
        for path, text in _strings(value, where)
        if "${" in text
    ]


def _mismatch(schema: Mapping[str, Any], value: Any, where: str) -> list[Problem]:
    error = _first_error(schema, value)
    return [Problem(where, error, "type")] if error else []


def _first_error(schema: Mapping[str, Any], value: Any) -> str | None:
    try:
        Draft202012Validator(schema).validate(value)
    except SchemaValidationError as exc:
        return exc.message
    return None


def to_schema(declared: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a parameter map (``required`` flags gathered into lists)."""
    return property_map_schema(declared)


def bind(declared: Mapping[str, Any], values: Any) -> dict[str, Any]:
    """Values checked against the declarations, defaults applied; ``InvalidParameters`` names
    every missing, ill-typed or undeclared parameter at once."""
    root = "parameter_values"
    problems: list[Problem] = []
    if isinstance(values, Mapping):
        problems = [
            Problem(
                f"{root}.{name}",
                "unknown parameter (declared: " + (", ".join(sorted(declared)) or "none") + ")",
                "unknown",
            )
            for name in values
            if name not in declared
        ]
    try:
        bound = validate_input(to_schema(declared), values, root=root)
    except InvalidInput as exc:
        problems.extend(exc.problems)
        bound = {}
    if isinstance(values, Mapping):
        problems.extend(_expressions_in_value(values, root))
    if problems:
        raise InvalidParameters(problems)
    return bound


# -- placeholders ---------------------------------------------------------------------------------


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(path, string)`` for every string value in a document (not keys)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, Mapping):
            stack.extend((f"{where}.{key}" if where else str(key), v) for key, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))


def _placeholder(body: str) -> tuple[str, ...] | None:
    """The ``params`` path of a plain ``${params.x...}`` reference, else None."""
    if not expressions.REFERENCE.match(body):
        return None
    ref = expressions.parse_reference(body)
    return tuple(str(p) for p in ref.path[1:]) if ref.path[0] == "params" else None


def _computes_with_params(body: str) -> bool:
    """A Jinja expression that reads ``params`` (only plain references can be substituted)."""
    if expressions.REFERENCE.match(body):
        return False
    try:
        tree = expressions.parse(body)
    except TemplateSyntaxError:
        return False
    return any(node.name == "params" for node in tree.find_all(nodes.Name))


def placeholders(document: Any, where: str = "") -> list[tuple[str, str]]:
    """``(field path, parameter name)`` of every ``${params.x}`` in a document, in order."""
    found: list[tuple[str, str]] = []
    for path, text in _strings(document, where):
        if "${" not in text:
            continue
        for match in expressions.EXPR.finditer(text):
            names = _placeholder(match.group(1))
            if names:
                found.append((path, names[0]))
    return sorted(found)


def check_placeholders(document: Any, declared: Mapping[str, Any], where: str) -> list[Problem]:
    """Placeholders that name no declared parameter, or that compute instead of referencing."""
    problems: list[Problem] = []
    for path, text in _strings(document, where):
        if "${" not in text:
            continue
        for match in expressions.EXPR.finditer(text):
            body = match.group(1)
            names = _placeholder(body)
            if names == ():
                problems.append(Problem(path, "'${params}' must name a parameter", "invalid"))
            elif names and names[0] not in declared:
                problems.append(
                    Problem(
                        path,
                        f"placeholder '${{{body.strip()}}}' names no declared parameter",
                        "unknown",
                    )
                )
            elif names and len(names) > 1 and _scalar(declared[names[0]]):
                problems.append(
                    Problem(
                        path,
                        f"'${{{body.strip()}}}' reads a key of parameter '{names[0]}', whose "
                        f"type {declared[names[0]].get('type')} has no keys",
                        "invalid",
                    )
                )
            elif names is None and _computes_with_params(body):
                problems.append(
                    Problem(
                        path,
                        f"'${{{body.strip()}}}' computes with params; a placeholder must be a "
                        "plain reference such as ${params.name}",
                        "expression",
                    )
                )
    return sorted(problems, key=lambda p: p.field)


def _scalar(spec: Any) -> bool:
    return isinstance(spec, Mapping) and spec.get("type") in (
        "string",
        "number",
        "integer",
        "boolean",
    )


def substitute(document: Any, values: Mapping[str, Any]) -> Any:
    """A copy of the document with every ``${params...}`` placeholder replaced by its value."""
    context = {"params": values}

    def replace(match: re.Match[str]) -> str:
        if _placeholder(match.group(1)) is None:
            return match.group(0)
        return expressions.interpolate(expressions.evaluate(match.group(1), context))

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            whole = expressions.EXPR.fullmatch(item)
            if whole and _placeholder(whole.group(1)) is not None:
                return expressions.evaluate(whole.group(1), context)
            return expressions.EXPR.sub(replace, item) if "${" in item else item
        if isinstance(item, Mapping):
            return {key: walk(value) for key, value in item.items()}
        if isinstance(item, list):
            return [walk(value) for value in item]
        return item

    return walk(document)


def input_defaults(definition: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The definition with each bound value that names a property of its input schema (``input``
    as JSON Schema, or seed 001's ``input_schema`` map) made that property's ``default``: a
    template whose workflow reads ``${workflow.input.x}`` is instantiated with ``x`` filled in."""
    result = dict(definition)
    key = "input_schema" if isinstance(definition.get("input_schema"), Mapping) else "input"
    schema = definition.get(key)
    if not isinstance(schema, Mapping):
        return result
    is_json_schema = isinstance(schema.get("type"), str | list) or "properties" in schema
    properties = schema.get("properties") if is_json_schema else schema
    if not isinstance(properties, Mapping):
        return result
    filled = {
        name: {**spec, "default": values[name]}
        for name, spec in properties.items()
        if name in values and isinstance(spec, Mapping)
    }
    if not filled:
        return result
    merged = {**properties, **filled}
    result[key] = {**schema, "properties": merged} if is_json_schema else merged
    return result
