"""Seed 001's error body: ``{"error": {"code", "message", "details"}}``, with the document's
lower-case codes (``workflow_not_found``, ``validation_error``…), 422 for anything that fails
validation and 409 for conflicts and invalid transitions."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from app.engine.errors import ErrorKind
from app.profiles.base import ErrorFormat, Failure

# The document's table, by status; a 404 names its resource (``execution_not_found``).
CODES: dict[int, str] = {
    400: "invalid_request",
    401: "authentication_failed",
    403: "permission_denied",
    404: "not_found",
    405: "invalid_request",
    409: "conflict",
    413: "invalid_request",
    415: "invalid_request",
    422: "validation_error",
    429: "rate_limit_exceeded",
    500: "execution_error",
    503: "service_unavailable",
}


class ErrorDetailSchema(Schema):
    code = fields.String(metadata={"description": "workflow_not_found, validation_error…"})
    message = fields.String()
    details = fields.Dict()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema)


class Seed001Errors(ErrorFormat):
    statuses = {
        ErrorKind.NOT_FOUND: 404,
        ErrorKind.CONFLICT: 409,
        ErrorKind.ALREADY_EXISTS: 409,
        ErrorKind.INVALID_TRANSITION: 409,
        ErrorKind.VALIDATION: 422,
        ErrorKind.UNPROCESSABLE: 422,
        ErrorKind.TOO_LARGE: 413,
        ErrorKind.UNAUTHENTICATED: 401,
        ErrorKind.FORBIDDEN: 403,
    }
    schema = ErrorSchema

    def body(self, failure: Failure, status: int) -> dict[str, Any]:
        code = CODES.get(status) or ("execution_error" if status >= 500 else "invalid_request")
        message, details = failure.detail, _details(failure)
        if _names_missing_resource(failure):
            code = f"{failure.resource}_not_found"
            message = f"{failure.resource.capitalize()} with ID '{failure.resource_id}' not found"
            details = {"requested_id": failure.resource_id}
        return {"error": {"code": code, "message": message, "details": details}}


def _names_missing_resource(failure: Failure) -> bool:
    return (
        failure.kind == ErrorKind.NOT_FOUND
        and failure.resource is not None
        and failure.resource_id is not None
    )


def _details(failure: Failure) -> dict[str, Any]:
    return {"errors": failure.errors} if failure.errors else {}


ERRORS = Seed001Errors()
