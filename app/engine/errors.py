"""The root of Harmonia's domain errors, and the neutral kinds they come in.

A domain error says *what* went wrong (its kind, a message, the field problems), never how a
client hears it: each API profile renders kinds in its own format and status codes (seed 002
answers a conflict with 400, seed 000 with 409). It lives in the engine, the innermost layer, so
definition and input validation raise members of the same hierarchy as the services do.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorKind(str, Enum):
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # a name or state another resource holds
    ALREADY_EXISTS = "already_exists"  # the same, where the seeds answer 409
    INVALID_TRANSITION = "invalid_transition"
    VALIDATION = "validation"
    UNPROCESSABLE = "unprocessable"  # well-formed, understood, and refused (an unsafe URL)
    TOO_LARGE = "too_large"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"


class DomainError(Exception):
    kind = ErrorKind.VALIDATION
    # What the error is about (``workflow``, ``run``…), for formats that name it (seed 001's
    # ``workflow_not_found``).
    resource: str | None = None

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
