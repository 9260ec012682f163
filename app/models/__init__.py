"""SQLAlchemy 2.0 typed models. No Flask imports: the workers use them too."""

from app.models.agent import DEFAULT_RETRY_CONFIG, Agent
from app.models.base import Base
from app.models.checkpoint import Checkpoint
from app.models.event import Event
from app.models.identity import ROLES, ApiKey, Role, User
from app.models.invocation import Invocation, InvocationStatus
from app.models.run import Run, RunState, TaskExecution
from app.models.status import RunStatus, TaskStatus
from app.models.template import Template
from app.models.webhook import Delivery, DeliveryStatus, OutboxEntry, Webhook
from app.models.workflow import Workflow

__all__ = [
    "Agent",
    "ApiKey",
    "Base",
    "Checkpoint",
    "Delivery",
    "DeliveryStatus",
    "DEFAULT_RETRY_CONFIG",
    "Event",
    "Invocation",
    "ROLES",
    "OutboxEntry",
    "Role",
    "InvocationStatus",
    "Run",
    "RunState",
    "RunStatus",
    "TaskExecution",
    "TaskStatus",
    "User",
    "Template",
    "Webhook",
    "Workflow",
]
