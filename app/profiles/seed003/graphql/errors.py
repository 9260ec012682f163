"""GraphQL errors as the spec writes them: ``{"errors": [{"message", "locations", "path",
"extensions": {"code", …}}]}``, with the codes Apollo's clients know.

- A domain error from a service keeps its message; its kind becomes the code (``NOT_FOUND``,
  ``CONFLICT``, ``BAD_USER_INPUT``, ``UNAUTHENTICATED``, ``FORBIDDEN``) and ``extensions.status``
  says the status REST would have answered, ``extensions.fields`` which input fields are wrong.
- A query that does not parse is ``GRAPHQL_PARSE_FAILED``; one the schema or the limits refuse,
  ``GRAPHQL_VALIDATION_FAILED``.
- The database or Redis being down is ``SERVICE_UNAVAILABLE`` (the whole answer 503 with
  ``Retry-After`` when nothing could be read).
- Anything else is ``INTERNAL_SERVER_ERROR`` with a fixed message: logged here with its
  traceback, never shown to the client.

Failures before a query runs (no credentials, a body too large, a rate limit) answer in the same
shape, through the ``GraphQLErrors`` format of the ``/graphql`` profile.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from app.api.errors import DATABASE_DOWN, REDIS_DOWN
from app.engine.errors import DomainError, ErrorKind
from app.profiles.base import ErrorFormat, Failure
from app.profiles.seed003.errors import ERRORS as SEED003_REST
from app.schemas.common import ApiErrorSchema

log = logging.getLogger(__name__)

CODES = {
    ErrorKind.NOT_FOUND: "NOT_FOUND",
    ErrorKind.CONFLICT: "CONFLICT",
    ErrorKind.ALREADY_EXISTS: "CONFLICT",
    ErrorKind.INVALID_TRANSITION: "CONFLICT",
    ErrorKind.VALIDATION: "BAD_USER_INPUT",
    ErrorKind.UNPROCESSABLE: "BAD_USER_INPUT",
    ErrorKind.TOO_LARGE: "BAD_USER_INPUT",
    ErrorKind.UNAUTHENTICATED: "UNAUTHENTICATED",
    ErrorKind.FORBIDDEN: "FORBIDDEN",
}
# What seed 003's REST routes answer for the same failure (``extensions.status``).
STATUSES = SEED003_REST.statuses
BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
UNAVAILABLE = "SERVICE_UNAVAILABLE"
INTERNAL = "Internal server error"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


def error(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, **extensions}}


def format_error(exc: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """One error of a result (ariadne's ``error_formatter``)."""
    formatted = dict(exc.formatted)
    original = exc.original_error
    extensions = dict(formatted.get("extensions") or {})
    if isinstance(original, DomainError):
        extensions["code"] = CODES.get(original.kind, "BAD_USER_INPUT")
        extensions["status"] = STATUSES.get(original.kind, 400)
        if original.errors:
            extensions["fields"] = original.errors
        formatted["message"] = original.detail
    elif isinstance(original, DATABASE_DOWN + REDIS_DOWN):
        log.warning("GraphQL: a backing service is unavailable: %s", original)
        formatted["message"] = "A backing service is unavailable; retry in a few seconds."
        extensions = {"code": UNAVAILABLE}
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("GraphQL resolver failed", exc_info=original)
        formatted["message"] = INTERNAL
        extensions = {"code": "INTERNAL_SERVER_ERROR"}
    elif "code" not in extensions:
        parsing = exc.message.startswith("Syntax Error")
        extensions["code"] = PARSE_FAILED if parsing else VALIDATION_FAILED
    formatted["extensions"] = extensions
    return formatted


class GraphQLErrors(ErrorFormat):
    """The ``/graphql`` answer to a failure before any query ran, in GraphQL's shape."""

    statuses = STATUSES
    schema = ApiErrorSchema  # not in the OpenAPI spec: /graphql has its own schema

    def body(self, failure: Failure, status: int) -> dict[str, Any]:
        code = CODES.get(failure.kind) if failure.kind else None
        extra = {"fields": failure.errors} if failure.errors else {}
        return {
            "errors": [error(failure.detail, code or BY_STATUS.get(status, "BAD_REQUEST"), **extra)]
        }


ERRORS = GraphQLErrors()
