"""Typed errors: one class per kind of refusal, each carrying the server's parsed error body.

Harmonia answers errors in the body of the API profile that was called: the canonical
``{"error", "detail", "errors", "status_code", …}`` under ``/api/v1``, and
``{"error": {"type"|"code", "message", "details", …}}`` under the seed profiles. The message is
taken from whichever shape came back; ``body`` keeps all of it.
"""

from __future__ import annotations

from typing import Any


class HarmoniaError(Exception):
    """A non-2xx answer. ``status`` is the HTTP status, ``body`` the parsed JSON (or the text)."""

    def __init__(self, status: int, body: Any, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body
        self.message = message

    @property
    def request_id(self) -> str | None:
        """The request id the server echoed in the body, when it did."""
        if not isinstance(self.body, dict):
            return None
        inner = self.body.get("error")
        found = inner.get("request_id") if isinstance(inner, dict) else None
        return found or self.body.get("request_id")


class ValidationFailed(HarmoniaError):
    """400 or 422: a business rule or a field was refused; see the body for each problem."""


class Unauthorized(HarmoniaError):
    """401: no key, or one the server refused."""


class Forbidden(HarmoniaError):
    """403: the key's role may not do this."""


class NotFound(HarmoniaError):
    """404: the id does not exist."""


class Conflict(HarmoniaError):
    """409: a name already taken, or a transition the resource's status refuses."""


class RateLimited(HarmoniaError):
    """429, still refused after the client's retries."""


class Unavailable(HarmoniaError):
    """503, still refused after the client's retries."""


BY_STATUS: dict[int, type[HarmoniaError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
    503: Unavailable,
}


def error_message(body: Any, fallback: str) -> str:
    """The human sentence in any of the profiles' error bodies."""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if body.get("detail"):
            return str(body["detail"])
        if isinstance(inner, str) and inner:
            return inner
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return fallback


def error_for(status: int, body: Any, reason: str = "") -> HarmoniaError:
    kind = BY_STATUS.get(status, HarmoniaError)
    return kind(status, body, error_message(body, reason or f"HTTP {status}"))
