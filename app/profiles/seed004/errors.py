"""Seed 004's error body: ``{"error": {"code", "message", "details": [{field, message}]}}``.

The document's codes (``validation_error``, ``not_found``, ``already_exists``,
``permission_denied``, ``execution_failed``, ``integration_error``) and, for what it does not
name, codes in the same style."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from app.engine.errors import ErrorKind
from app.profiles.base import ErrorFormat, Failure
from app.services.errors import NameTaken

CODES: dict[int, str] = {
    400: "validation_error",
    401: "authentication_required",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}
BY_KIND = {
    ErrorKind.ALREADY_EXISTS: "already_exists",
    ErrorKind.INVALID_TRANSITION: "invalid_state",
}


class ErrorDetailItemSchema(Schema):
    field = fields.String(allow_none=True)
    message = fields.String()


class ErrorDetailSchema(Schema):
    code = fields.String(metadata={"description": "validation_error, not_found, already_exists…"})
    message = fields.String()
    details = fields.List(fields.Nested(ErrorDetailItemSchema))


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema)


class Seed004Errors(ErrorFormat):
    statuses = {
        ErrorKind.NOT_FOUND: 404,
        ErrorKind.CONFLICT: 409,
        ErrorKind.ALREADY_EXISTS: 409,
        ErrorKind.INVALID_TRANSITION: 409,
        ErrorKind.VALIDATION: 400,
        ErrorKind.UNPROCESSABLE: 400,
        ErrorKind.TOO_LARGE: 413,
        ErrorKind.UNAUTHENTICATED: 401,
        ErrorKind.FORBIDDEN: 403,
    }
    schema = ErrorSchema

    def body(self, failure: Failure, status: int) -> dict[str, Any]:
        code = BY_KIND.get(failure.kind) if failure.kind else None
        if isinstance(failure.source, NameTaken):  # a name in use: the document's code for it
            code = "already_exists"
        code = code or CODES.get(status) or ("internal_error" if status >= 500 else "bad_request")
        message = failure.detail
        if failure.kind == ErrorKind.NOT_FOUND and failure.resource and failure.resource_id:
            message = f"{_word(failure.resource)} '{failure.resource_id}' not found"
        details = [
            {"field": problem.get("field"), "message": problem.get("message", "")}
            for problem in failure.errors
        ]
        return {"error": {"code": code, "message": message, "details": details}}


def _word(resource: str) -> str:
    return {"execution": "Execution", "plan": "Plan", "webhook": "Subscription"}.get(
        resource, resource.replace("_", " ").capitalize()
    )


ERRORS = Seed004Errors()
