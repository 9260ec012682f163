"""Domain errors: one class per failure, each of a neutral kind (``app/engine/errors.py``).

Services raise them and never build responses; each API profile renders a kind in its own
format and status code (``app/api/errors.py`` for the canonical API).
"""

from __future__ import annotations

from app.engine.errors import DomainError, ErrorKind

__all__ = ["DomainError", "ErrorKind"]


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    label = "Resource"

    def __init__(self, resource_id: str, detail: str | None = None):
        super().__init__(detail or f"{self.label} with id '{resource_id}' not found")
        self.resource_id = resource_id


class WorkflowNotFound(NotFound):
    resource, label = "workflow", "Workflow"


class RunNotFound(NotFound):
    resource, label = "execution", "Run"


class AgentNotFound(NotFound):
    resource, label = "agent", "Agent"


class CheckpointNotFound(NotFound):
    resource, label = "checkpoint", "Checkpoint"


class TemplateNotFound(NotFound):
    resource, label = "template", "Template"


class ApiKeyNotFound(NotFound):
    resource, label = "api_key", "API key"


class UserNotFound(NotFound):
    resource, label = "user", "User"


class WorkerNotFound(NotFound):
    """A Celery worker that did not answer: unknown, or offline (Celery cannot tell which)."""

    resource, label = "worker", "Worker"

    def __init__(self, hostname: str, timeout: float):
        super().__init__(
            hostname, f"Worker '{hostname}' did not answer within {timeout:g}s (unknown or offline)"
        )


class InvocationNotFound(NotFound):
    resource, label = "invocation", "Invocation"


class EventNotFound(NotFound):
    resource, label = "event", "Event"


class StepNotFound(NotFound):
    resource = "step"

    def __init__(self, run_id: str, step_id: str):
        super().__init__(step_id, f"Step '{step_id}' not found in run '{run_id}'")


class TaskExecutionNotFound(NotFound):
    resource, label = "task_execution", "Task execution"


class IntegrationNotFound(NotFound):
    resource, label = "integration", "Integration"

    def __init__(self, integration_id: str, known: str):
        super().__init__(
            integration_id, f"Integration with id '{integration_id}' not found (known: {known})"
        )


class CapabilityNotFound(NotFound):
    resource = "capability"

    def __init__(self, integration_id: str, capability_id: str, known: str):
        super().__init__(
            capability_id,
            f"Capability '{capability_id}' not found in integration '{integration_id}' "
            f"(known: {known})",
        )


class StateNotFound(NotFound):
    """A run whose custom state was never saved (for documents that answer 404 for it)."""

    resource, label = "state", "State"

    def __init__(self, run_id: str):
        super().__init__(run_id, f"No state has been saved for execution '{run_id}'")


class NameTaken(DomainError):
    """A unique name another resource holds (workflows, agents)."""

    kind = ErrorKind.CONFLICT

    def __init__(self, resource: str, label: str, name: str):
        super().__init__(f"{label} name '{name}' already exists")
        self.resource = resource


class AlreadyExists(NameTaken):
    """The same, where the seeds answer 409 (templates, usernames)."""

    kind = ErrorKind.ALREADY_EXISTS


class WorkflowInUse(DomainError):
    """A workflow that may not be deleted while runs of it are active."""

    kind = ErrorKind.CONFLICT
    resource = "workflow"


class InvalidRequest(DomainError):
    kind = ErrorKind.VALIDATION


class InvalidTransition(DomainError):
    kind = ErrorKind.INVALID_TRANSITION


class PayloadTooLarge(DomainError):
    kind = ErrorKind.TOO_LARGE


class Unauthorized(DomainError):
    """No credentials, or credentials that do not identify anyone (any more)."""

    kind = ErrorKind.UNAUTHENTICATED


class Forbidden(DomainError):
    """An identity whose role does not allow the operation."""

    kind = ErrorKind.FORBIDDEN


class PlanNotFound(NotFound):
    resource, label = "plan", "Plan"


class WebhookNotFound(NotFound):
    resource, label = "webhook", "Webhook"


class DeliveryNotFound(NotFound):
    resource = "delivery"

    def __init__(self, webhook_id: str, delivery_id: str):
        super().__init__(
            delivery_id, f"Delivery '{delivery_id}' not found for webhook '{webhook_id}'"
        )


class UnsafeUrl(DomainError):
    """A URL a webhook may not call: a scheme other than http(s), or (unless allowed) an address
    on this machine or a private network (the SSRF guard)."""

    kind = ErrorKind.UNPROCESSABLE
    resource = "webhook"

    def __init__(self, field: str, message: str):
        super().__init__(
            f"Webhook URL refused: {message}",
            [{"field": field, "message": message, "type": "unsafe_url"}],
        )
