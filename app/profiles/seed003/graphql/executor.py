"""The executable schema (``schema.graphql`` + ``resolvers.py``, bound by ariadne), one way to
accept an operation from HTTP or a socket (``prepare``), and the ways it runs: a query or
mutation at once (``run``), and a subscription as a source (``source``) whose updates are each
rendered like a query on what it yielded (``render``: the spec's MapSourceToResponseEvent, done
synchronously so a socket needs no event loop)."""

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


class Operation(NamedTuple):
    """A request's operation, parsed, validated, its variables checked, within the limits."""

    data: dict[str, Any]  # as sent: query, variables, operationName
    document: DocumentNode
    definition: OperationDefinitionNode

    @property
    def variables(self) -> dict[str, Any] | None:
        return self.data.get("variables")

    @property
    def name(self) -> str | None:
        return self.data.get("operationName")

    @property
    def is_subscription(self) -> bool:
        return self.definition.operation == OperationType.SUBSCRIPTION


def _refused(message: str, code: str = "BAD_REQUEST") -> list[dict[str, Any]]:
    return [format_error(GraphQLError(message, extensions={"code": code}))]


def prepare(data: Any) -> Operation | list[dict[str, Any]]:
    """A request's operation, or its errors (formatted) when it cannot run: the request errors
    of GraphQL over HTTP (a 400) and of a socket's ``subscribe``. In order: the request's
    shape, parsing (within ``MAX_TOKENS``), the spec's validation, which operation, its
    variables against their types, then the limits (which read the variables' values)."""
    if not isinstance(data, dict):
        return _refused("Send a JSON object {query, variables, operationName}")
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str) or not query.strip():
        return _refused("'query' must be a GraphQL document, as a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        return _refused("'variables' must be a JSON object")
    if name is not None and not isinstance(name, str):
        return _refused("'operationName' must be a string")
    try:
        document = parse_query(None, data)
    except GraphQLError as exc:
        return [format_error(exc)]
    errors = validate(SCHEMA, document)
    if errors:
        return [format_error(exc) for exc in errors]
    definition = get_operation_ast(document, name)
    if definition is None:
        return _refused(f"No operation named '{name}'" if name else "Name the operation to run")
    coerced = get_variable_values(SCHEMA, definition.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        for exc in coerced:
            exc.extensions = {"code": "BAD_USER_INPUT", **(exc.extensions or {})}
        return [format_error(exc) for exc in coerced]
    errors = validate(SCHEMA, document, rules(variables or {}), spec=False)
    if errors:
        return [format_error(exc) for exc in errors]
    return Operation(data, document, definition)


def run(context: Context, operation: Operation) -> dict[str, Any]:
    """A prepared query or mutation: its result (``data``, and ``errors`` if any)."""
    _ok, result = graphql_sync(
        SCHEMA,
        operation.data,
        context_value=context,
        query_document=operation.document,
        query_validator=lambda *_args, **_kwargs: [],  # prepared: validated already
        error_formatter=format_error,
        logger=log,
    )
    return result


def source(operation: Operation, context: Context) -> Source:
    """What a subscription watches: its one root field's source resolver, with its arguments
    coerced as the spec's CreateSourceEventStream does (``prepare`` checked the variables).
    Raises the resolver's errors (a run that does not exist)."""
    field = operation.definition.selection_set.selections[0]
    if not isinstance(field, FieldNode):
        raise GraphQLError("A subscription must select its field directly, not in a fragment.")
    variables = get_variable_values(
        SCHEMA, operation.definition.variable_definitions or (), operation.variables or {}
    )
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
