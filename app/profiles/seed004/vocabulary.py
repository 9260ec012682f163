"""Seed 004's words: lower-case statuses, where a started run is ``running`` from the moment it is
sent (its ``POST …/start`` answers ``running``), and ``limit``/``offset`` lists (default 50)."""

from __future__ import annotations

from app.events.synthesis import PROFILE, step_type, text_output
from app.models import RunStatus
from app.profiles.base import lower_case

R = RunStatus
WORDS = lower_case(
    runs={R.PENDING: "running", R.PAUSING: "paused", R.CANCELLING: "cancelled"},
)
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "PROFILE", "WORDS", "step_type", "text_output"]
