"""Run and task statuses, and the one table of transitions allowed between them.

Every status change goes through ``app.services.state`` which consults these tables; nothing else
assigns ``status``.
"""

from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    CREATED = "CREATED"  # written but not started (seed 004: ``POST /api/executions``)
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSING = "PAUSING"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class TaskStatus(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    RETRYING = "RETRYING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    CANCELLED = "CANCELLED"


R, T = RunStatus, TaskStatus

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    R.CREATED: frozenset({R.PENDING, R.CANCELLING, R.CANCELLED}),
    # PENDING → PENDING and RUNNING → RUNNING start a new generation (recovery of a stall).
    R.PENDING: frozenset(
        {
            R.PENDING,
            R.RUNNING,
            R.PAUSING,
            R.PAUSED,
            R.CANCELLING,
            R.CANCELLED,
            R.COMPLETED,
            R.FAILED,
        }
    ),
    R.RUNNING: frozenset(
        {R.RUNNING, R.PAUSING, R.PAUSED, R.CANCELLING, R.CANCELLED, R.COMPLETED, R.FAILED}
    ),
    R.PAUSING: frozenset({R.PAUSED, R.RUNNING, R.CANCELLING, R.CANCELLED, R.COMPLETED, R.FAILED}),
    R.PAUSED: frozenset({R.PENDING, R.RUNNING, R.CANCELLING, R.CANCELLED}),
    R.CANCELLING: frozenset({R.CANCELLED}),
    R.COMPLETED: frozenset({R.PENDING}),  # rerun from a step
    R.FAILED: frozenset({R.PENDING}),
    R.CANCELLED: frozenset({R.PENDING}),
}

TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    T.PENDING: frozenset({T.RUNNING, T.SKIPPED, T.UPSTREAM_FAILED, T.CANCELLED, T.FAILED}),
    # RUNNING → RUNNING is a re-claim from a worker that died mid-task.
    T.RUNNING: frozenset(
        {T.RUNNING, T.COMPLETED, T.FAILED, T.RETRYING, T.SKIPPED, T.CANCELLED, T.PENDING}
    ),
    T.RETRYING: frozenset({T.RUNNING, T.CANCELLED, T.PENDING}),
    T.COMPLETED: frozenset({T.PENDING}),
    T.FAILED: frozenset({T.PENDING}),
    T.SKIPPED: frozenset({T.PENDING}),
    T.UPSTREAM_FAILED: frozenset({T.PENDING}),
    T.CANCELLED: frozenset({T.PENDING}),
}

RUN_TERMINAL = frozenset({R.COMPLETED, R.FAILED, R.CANCELLED})
# Only runs in these statuses let a task start (the claim checks it atomically).
RUN_CLAIMABLE = frozenset({R.PENDING, R.RUNNING})
TASK_DONE = frozenset({T.COMPLETED, T.SKIPPED})
TASK_TERMINAL = frozenset({T.COMPLETED, T.FAILED, T.SKIPPED, T.UPSTREAM_FAILED, T.CANCELLED})
