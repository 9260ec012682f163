"""The executable schema (``schema.graphql`` + ``resolvers.py``, bound by ariadne) and the three
ways an operation runs: a query or mutation at once (``run``), and a subscription as a source
(``source``) whose updates are each rendered like a query on what it yielded (``render``: the
spec's MapSourceToResponseEvent, done synchronously so a socket needs no event loop)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

from ariadne import graphql_sync, load_schema_from_path, make_executable_schema
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
)
from graphql.execution.values import get_argument_values, get_variable_values

from app.profiles.seed003.graphql.context import Context
from app.profiles.seed003.graphql.errors import format_error
from app.profiles.seed003.graphql.limits import parse_query, rules, validate
from app.profiles.seed003.graphql.resolvers import BINDABLES
from app.profiles.seed003.graphql.subscriptions import Source


class _QuietLog(logging.LoggerAdapter):
    """ariadne logs each error of a result at ERROR: most are the client's (a bad query, an
    unknown id), so DEBUG here; ``format_error`` logs our own failures at ERROR."""

    def error(self, msg, *args, **kwargs):
        self.debug(msg, *args, **kwargs)


log = _QuietLog(logging.getLogger(__name__), {})
SDL = Path(__file__).with_name("schema.graphql")
SCHEMA = make_executable_schema(load_schema_from_path(str(SDL)), *BINDABLES)


def run(context: Context, data: Any) -> tuple[bool, dict[str, Any]]:
    """A query or a mutation: ``(succeeded, result)``; a subscription is refused (it needs the
    WebSocket)."""
    return graphql_sync(
        SCHEMA,
        data,
        context_value=context,
        query_parser=parse_query,
        query_validator=validate,
        validation_rules=lambda _context, _document, data: rules(data.get("variables")),
        error_formatter=format_error,
        logger=log,
    )


class Operation(NamedTuple):
    """A parsed and validated operation sent over the socket."""

    document: DocumentNode
    definition: OperationDefinitionNode
    variables: dict[str, Any] | None
    name: str | None

    @property
    def is_subscription(self) -> bool:
        return self.definition.operation == OperationType.SUBSCRIPTION


def prepare(data: dict[str, Any]) -> Operation | list[dict[str, Any]]:
    """The operation of a socket's ``subscribe`` message, or its errors (formatted)."""
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    problems = []
    if not isinstance(query, str) or not query.strip():
        problems.append("payload.query must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        problems.append("payload.variables must be an object")
    if name is not None and not isinstance(name, str):
        problems.append("payload.operationName must be a string")
    if problems:
        return [format_error(GraphQLError(p, extensions={"code": "BAD_REQUEST"})) for p in problems]
    try:
        document = parse_query(None, data)
    except GraphQLError as exc:
        return [format_error(exc)]
    errors = validate(SCHEMA, document, rules(variables))
    if errors:
        return [format_error(exc) for exc in errors]
    definition = get_operation_ast(document, name)
    if definition is None:
        message = f"Unknown operation named '{name}'." if name else "Must provide operation name."
        return [format_error(GraphQLError(message, extensions={"code": "BAD_REQUEST"}))]
    return Operation(document, definition, variables, name)


def source(operation: Operation, context: Context) -> Source:
    """What a subscription watches: its one root field's source resolver, with its arguments
    coerced as the spec's CreateSourceEventStream does. Raises ``GraphQLError`` (formatted by
    the caller) for bad variables, and the resolver's own errors (a run that does not exist)."""
    field = operation.definition.selection_set.selections[0]
    if not isinstance(field, FieldNode):
        raise GraphQLError("A subscription must select its field directly, not in a fragment.")
    variables = get_variable_values(
        SCHEMA, operation.definition.variable_definitions or (), operation.variables or {}
    )
    if isinstance(variables, list):
        raise variables[0]
    definition = SCHEMA.subscription_type.fields[field.name.value]
    arguments = get_argument_values(definition, field, variables)
    return definition.subscribe(None, None, **arguments)


def render(operation: Operation, context: Context, payload: Any) -> dict[str, Any]:
    """One update of a subscription: its selection executed on what the source yielded."""
    result = execute(
        SCHEMA,
        operation.document,
        root_value=payload,
        context_value=context,
        variable_values=operation.variables,
        operation_name=operation.name,
    )
    rendered: dict[str, Any] = {"data": result.data}
    if result.errors:
        rendered["errors"] = [format_error(exc) for exc in result.errors]
    return rendered
