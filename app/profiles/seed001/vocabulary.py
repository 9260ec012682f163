"""Seed 001's words: every status in lower case (``cancelling``, ``cancelled``), and
``page``/``limit``/``sort_by``/``sort_order`` lists."""

from __future__ import annotations

from app.profiles.base import lower_case

WORDS = lower_case()
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
