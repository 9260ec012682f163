"""Seed 003's error body. The document shows none, so its routes answer in the canonical
format (seed 002's ``{"error", "detail", "errors", "status_code", …}``), with the statuses it
implies: 404 for what does not exist, 409 for a conflict or a refused transition, 400 for bad
input, 422 for a URL the SSRF guard refuses."""

from __future__ import annotations

from typing import Any

from app.api.errors import CanonicalErrors
from app.engine.errors import ErrorKind
from app.profiles.base import Failure


class Seed003Errors(CanonicalErrors):
    statuses = {
        **CanonicalErrors.statuses,
        ErrorKind.CONFLICT: 409,
        ErrorKind.INVALID_TRANSITION: 409,
    }

    def body(self, failure: Failure, status: int) -> dict[str, Any]:
        body = super().body(failure, status)
        if status == 409:
            body["error"] = "Conflict"
        return body


ERRORS = Seed003Errors()
