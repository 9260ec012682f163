"""Seed 000's error body: ``{"error": {"type", "message", "details", "code", "request_id"}}``,
with 409 for conflicts and invalid transitions."""

from __future__ import annotations

from typing import Any

from flask import g
from marshmallow import Schema, fields

from app.engine.errors import ErrorKind
from app.profiles.base import ErrorFormat, Failure

# The document's table: status → (type, code).
TYPES: dict[int, tuple[str, str]] = {
    400: ("ValidationError", "INVALID_INPUT"),
    401: ("AuthenticationError", "AUTHENTICATION_REQUIRED"),
    403: ("AuthorizationError", "PERMISSION_DENIED"),
    404: ("NotFoundError", "NOT_FOUND"),
    405: ("ValidationError", "METHOD_NOT_ALLOWED"),
    409: ("ConflictError", "CONFLICT"),
    413: ("ValidationError", "PAYLOAD_TOO_LARGE"),
    415: ("ValidationError", "UNSUPPORTED_MEDIA_TYPE"),
    422: ("ProcessingError", "PROCESSING_ERROR"),
    429: ("RateLimitError", "RATE_LIMIT_EXCEEDED"),
    500: ("InternalError", "INTERNAL_ERROR"),
    503: ("UnavailableError", "SERVICE_UNAVAILABLE"),
}
NAMED = {"workflow", "execution", "template", "checkpoint"}  # said in the document's words
CODES = {ErrorKind.INVALID_TRANSITION: "INVALID_STATE", ErrorKind.ALREADY_EXISTS: "ALREADY_EXISTS"}


class ErrorDetailSchema(Schema):
    type = fields.String(metadata={"description": "ValidationError, NotFoundError, ConflictError…"})
    message = fields.String()
    details = fields.Dict()
    code = fields.String()
    request_id = fields.String()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema)


class Seed000Errors(ErrorFormat):
    statuses = {
        ErrorKind.NOT_FOUND: 404,
        ErrorKind.CONFLICT: 409,
        ErrorKind.ALREADY_EXISTS: 409,
        ErrorKind.INVALID_TRANSITION: 409,
        ErrorKind.VALIDATION: 400,
        ErrorKind.UNPROCESSABLE: 422,
        ErrorKind.TOO_LARGE: 413,
        ErrorKind.UNAUTHENTICATED: 401,
        ErrorKind.FORBIDDEN: 403,
    }
    schema = ErrorSchema

    def body(self, failure: Failure, status: int) -> dict[str, Any]:
        kind, code = TYPES.get(
            status, ("InternalError" if status >= 500 else "ValidationError", "")
        )
        code = CODES.get(failure.kind, code) if failure.kind else code
        message = failure.detail
        if failure.kind == ErrorKind.NOT_FOUND and failure.resource in NAMED:
            message = f"{failure.resource.title()} with id '{failure.resource_id}' not found"
        return {
            "error": {
                "type": kind,
                "message": message,
                "details": _details(failure),
                "code": code or f"HTTP_{status}",
                "request_id": getattr(g, "request_id", None),
            }
        }


def _details(failure: Failure) -> dict[str, Any]:
    if failure.kind == ErrorKind.NOT_FOUND and failure.resource:
        return {"resource": failure.resource, "id": failure.resource_id}
    if not failure.errors:
        return {}
    first = failure.errors[0]
    return {"field": first.get("field"), "reason": first.get("message"), "errors": failure.errors}


ERRORS = Seed000Errors()
