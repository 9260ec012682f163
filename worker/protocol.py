"""What the steps of a task's protocol (``worker/execution.py``) hand each other."""

from __future__ import annotations

from typing import Any, NamedTuple

from app.engine.dag import Dag, Task
from app.models import RunStatus

# A run being cancelled, or cancelled: its tasks stop.
CANCEL = (RunStatus.CANCELLING.value, RunStatus.CANCELLED.value)


class Stop(Exception):
    """End this message here without continuing its chain (stale, parked, duplicate…)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Retry(Exception):
    """Ask the Celery task to re-send itself after ``countdown`` seconds."""

    def __init__(self, countdown: float):
        self.countdown = countdown


class Claimed(NamedTuple):
    """A task this worker has claimed, with everything its action needs."""

    task: Task
    task_input: Any
    context: dict[str, Any]
    agent: dict[str, Any] | None
    attempt: int
    meta: dict[str, Any]
    checkpoint_every: int | None
    dag: Dag
