"""SQLAlchemy 2.0 typed models. No Flask imports: the workers use them too."""

from app.models.agent import DEFAULT_RETRY_CONFIG, Agent
from app.models.base import Base
from app.models.event import Event
from app.models.run import Run, TaskExecution
from app.models.status import RunStatus, TaskStatus
from app.models.workflow import Workflow

__all__ = [
    "Agent",
    "Base",
    "DEFAULT_RETRY_CONFIG",
    "Event",
    "Run",
    "RunStatus",
    "TaskExecution",
    "TaskStatus",
    "Workflow",
]
