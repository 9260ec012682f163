"""Seed 000's words: lower-case statuses spelled ``canceled``, with no in-between states (a run
that is stopping reads as what it is becoming), and ``limit``/``offset`` lists."""

from __future__ import annotations

from app.models import RunStatus, TaskStatus
from app.profiles.base import lower_case

R, T = RunStatus, TaskStatus

WORDS = lower_case(
    runs={R.PAUSING: "paused", R.CANCELLING: "canceled", R.CANCELLED: "canceled"},
    tasks={T.CANCELLED: "canceled"},
)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
