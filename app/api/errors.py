"""The app-wide error handlers: every failure, answered in the format of the API it reached.

The canonical API (seed 002) answers in the format below; each profile (``app/profiles``) brings
its own ``ErrorFormat``, and the handlers pick it by the profile of the route (DESIGN §8,
STYLE "Errors"). Every body carries the request id.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime, timezone
from typing import Any

import redis
from flask import Flask, current_app, g, jsonify, request
from kombu.exceptions import OperationalError as BrokerUnavailable
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.extensions import runtime
from app.profiles import profile_of_request
from app.profiles.base import ErrorFormat, Failure
from app.schemas.common import ApiErrorSchema
from app.services.errors import DomainError, ErrorKind

log = logging.getLogger(__name__)

TITLES = {422: "Validation Error", 413: "Payload Too Large", 405: "Method Not Allowed"}
# How the canonical API (seed 002) answers each kind of domain error. Seed 002 answers a
# conflict and an invalid transition with 400; a name the seeds answer 409 for is ALREADY_EXISTS.
CANONICAL: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.NOT_FOUND: (404, "Not Found"),
    ErrorKind.CONFLICT: (400, "Bad Request"),
    ErrorKind.ALREADY_EXISTS: (409, "Conflict"),
    ErrorKind.INVALID_TRANSITION: (400, "Bad Request"),
    ErrorKind.VALIDATION: (400, "Bad Request"),
    ErrorKind.UNPROCESSABLE: (422, "Validation Error"),
    ErrorKind.TOO_LARGE: (413, "Payload Too Large"),
    ErrorKind.UNAUTHENTICATED: (401, "Unauthorized"),
    ErrorKind.FORBIDDEN: (403, "Forbidden"),
}
# A dependency that is down answers 503 with this hint; every write is one transaction, so a
# request that failed this way changed nothing and is safe to send again.
RETRY_AFTER_SECONDS = 5
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, BrokerUnavailable)


class CanonicalErrors(ErrorFormat):
    """Seed 002's body: ``error`` (a title), ``detail``, ``errors`` (field problems),
    ``status_code``, ``timestamp``, ``path``, ``request_id``."""

    statuses = {kind: status for kind, (status, _title) in CANONICAL.items()}
    schema = ApiErrorSchema

    def body(self, failure: Failure, status: int) -> dict[str, Any]:
        title = CANONICAL[failure.kind][1] if failure.kind in CANONICAL else None
        return {
            "error": title or TITLES.get(status) or _title(status),
            "detail": failure.detail,
            "errors": failure.errors,
            "status_code": status,
            "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "path": request.path,
            "request_id": getattr(g, "request_id", None),
        }


CANONICAL_ERRORS = CanonicalErrors()


def error_format() -> ErrorFormat:
    """The error format of the API this request reached."""
    profile = profile_of_request(current_app)
    return profile.errors if profile else CANONICAL_ERRORS


def reply(failure: Failure):
    """``(response, status)`` for a failure, in the format of the API the request reached."""
    form = error_format()
    status = form.status(failure)
    return jsonify(form.body(failure, status)), status


def error_response(status: int, detail: str, errors: list[dict[str, Any]] | None = None):
    return reply(Failure(status, detail, errors or []))


def _title(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES

    return HTTP_STATUS_CODES.get(status, "Error")


def field_errors(messages: Any, prefix: str = "") -> list[dict[str, Any]]:
    """webargs/marshmallow messages → ``[{field, message, type}]`` with dotted paths."""
    out: list[dict[str, Any]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "path", "form", "headers") and not prefix:
                out.extend(field_errors(value, ""))
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(field_errors(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            kind = (
                "missing"
                if "required" in message.lower()
                else ("unknown" if "unknown field" in message.lower() else "invalid")
            )
            out.append({"field": prefix or "body", "message": message, "type": kind})
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.extend(field_errors(value, f"{prefix}[{index}]"))
    else:
        out.append({"field": prefix or "body", "message": str(messages), "type": "invalid"})
    return out


def _unstorable(value: Any, max_depth: int) -> tuple[str, str, str] | None:
    """``(field, message, type)`` for the first value no database can store: a NUL character
    (Postgres text and JSONB reject it) or a non-finite number (NaN, Infinity, 1e400: not JSON);
    or for the first object or list nested deeper than ``max_depth`` (the top level is 1), which
    every later recursive walk (validation, expressions, serialisation) would have to survive."""
    stack: list[tuple[str, Any, int]] = [("", value, 1)]
    while stack:  # iterative: the depth is the client's to choose
        path, item, depth = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return path or "body", "must not contain NUL (\\u0000) characters", "invalid"
        if isinstance(item, float) and not math.isfinite(item):
            return (
                path or "body",
                "must be a finite number (NaN and Infinity are not JSON)",
                "invalid",
            )
        if isinstance(item, dict | list) and depth > max_depth:
            return path or "body", f"nested deeper than {max_depth} levels", "too_large"
        if isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return where, "must not contain NUL (\\u0000) characters", "invalid"
                stack.append((where, child, depth + 1))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child, depth + 1) for i, child in enumerate(item))
    return None


def reject_unstorable_input():
    """A clear 4xx for input that would otherwise fail deep in the database driver (a 500 on
    Postgres, silently different data on SQLite): NULs, non-finite numbers, absurd nesting."""
    if "\x00" in request.path:
        return error_response(404, "The requested URL contains a NUL character")
    max_depth = runtime().settings.max_json_depth
    for name, value in request.args.items(multi=True):
        problem = _unstorable({name: value}, max_depth)
        if problem:
            field, message, kind = problem
            return error_response(
                422,
                f"Validation failed: {field}: {message}",
                [{"field": field, "message": message, "type": kind}],
            )
    if not request.is_json:
        return None
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        return error_response(400, "Malformed JSON body: nested too deeply")
    problem = _unstorable(body, max_depth)
    if problem:
        field, message, kind = problem
        return error_response(
            400,
            f"Malformed JSON body: {field}: {message}",
            [{"field": field, "message": message, "type": kind}],
        )
    return None


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming[:128] if incoming else f"req-{uuid.uuid4()}"

    @app.after_request
    def echo_request_id(response):
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        return response

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return reply(Failure.of(exc, CANONICAL[exc.kind][0]))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response, status = _http_error(exc)
        # Keep the exception's own headers (a 405's ``Allow``, a 429's ``Retry-After``).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    def _http_error(exc: HTTPException):
        status = exc.code or 500
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        if messages:
            errors = field_errors(messages)
            detail = "Validation failed: " + "; ".join(
                f"{e['field']}: {e['message']}" for e in errors[:5]
            )
            return error_response(status, detail, errors)
        if status == 400 and "json" in (exc.description or "").lower():
            return error_response(400, "Malformed JSON body: " + (exc.description or ""))
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            return error_response(413, f"Request body is larger than the limit of {limit} bytes")
        return error_response(status, exc.description or _title(status))

    for kind in DATABASE_DOWN:
        app.register_error_handler(kind, lambda exc: _unavailable("database", "The database", exc))
    for kind in REDIS_DOWN:
        app.register_error_handler(kind, lambda exc: _unavailable("redis", "Redis", exc))

    def _unavailable(field: str, name: str, exc: Exception):
        log.warning(
            "%s unavailable (request %s): %s",
            field,
            getattr(g, "request_id", "-"),
            f"{exc.__class__.__name__}: {exc}"[:300],
        )
        response, status = reply(
            Failure(
                503,
                f"{name} is unavailable; nothing was changed. Retry in a few seconds.",
                [{"field": field, "message": f"{name} is unavailable", "type": "unavailable"}],
            )
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error (request %s)", getattr(g, "request_id", "-"))
        return error_response(500, "An unexpected error occurred")
