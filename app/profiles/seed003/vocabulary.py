"""Seed 003's words: upper-case statuses as it writes them (a run that was sent reads
``RUNNING``, a task waiting for its next attempt ``WAITING``), camelCase fields, and its vendor
media type."""

from __future__ import annotations

from app.models import RunStatus, TaskStatus
from app.profiles.base import Vocabulary

R, T = RunStatus, TaskStatus
WORDS = Vocabulary(
    runs={
        R.CREATED: "PENDING",
        R.PENDING: "RUNNING",
        R.RUNNING: "RUNNING",
        R.PAUSING: "PAUSED",
        R.PAUSED: "PAUSED",
        R.CANCELLING: "CANCELLED",
        R.COMPLETED: "COMPLETED",
        R.FAILED: "FAILED",
        R.CANCELLED: "CANCELLED",
    },
    tasks={
        T.PENDING: "PENDING",
        T.RUNNING: "RUNNING",
        T.RETRYING: "WAITING",
        T.COMPLETED: "COMPLETED",
        T.FAILED: "FAILED",
        T.SKIPPED: "SKIPPED",
        T.UPSTREAM_FAILED: "CANCELLED",
        T.CANCELLED: "CANCELLED",
    },
)
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
PROFILE = "seed003"
