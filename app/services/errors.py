"""Domain errors. One handler per API profile renders them; services never build responses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    title = "Bad Request"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    status_code = 404
    title = "Not Found"


class Conflict(DomainError):
    """A uniqueness or state conflict. Seed 002 answers these with 400."""

    status_code = 400


class AlreadyExists(DomainError):
    """A name taken by another resource where the seeds answer 409 (templates, seed 000)."""

    status_code = 409
    title = "Conflict"


class InvalidRequest(DomainError):
    pass


class InvalidTransition(DomainError):
    pass


class PayloadTooLarge(DomainError):
    status_code = 413
    title = "Payload Too Large"


def workflow_not_found(workflow_id: str) -> NotFound:
    return NotFound(f"Workflow with id '{workflow_id}' not found")


def run_not_found(run_id: str) -> NotFound:
    return NotFound(f"Run with id '{run_id}' not found")


def agent_not_found(agent_id: str) -> NotFound:
    return NotFound(f"Agent with id '{agent_id}' not found")


def checkpoint_not_found(checkpoint_id: str) -> NotFound:
    return NotFound(f"Checkpoint with id '{checkpoint_id}' not found")


def template_not_found(template_id: str) -> NotFound:
    return NotFound(f"Template with id '{template_id}' not found")


class Unauthorized(DomainError):
    """No credentials, or credentials that do not identify anyone (any more)."""

    status_code = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    """An identity whose role does not allow the operation."""

    status_code = 403
    title = "Forbidden"


def api_key_not_found(key_id: str) -> NotFound:
    return NotFound(f"API key with id '{key_id}' not found")


def user_not_found(user_id: str) -> NotFound:
    return NotFound(f"User with id '{user_id}' not found")
