"""Seed 004 ("Synthesis API"): plans, executions, integrations, events and subscriptions.

Its executions share ``/api/executions`` (and ``/ws/executions``) with seed 000:
``app/profiles/routing.py`` tells them apart.
"""

from __future__ import annotations

from app.profiles.base import Profile
from app.profiles.seed004 import streams, views
from app.profiles.seed004.errors import ERRORS

PROFILE = Profile(
    name="seed004",
    title=views.TITLE,
    errors=ERRORS,
    prefixes=(
        "/api/plans",
        "/api/integrations",
        "/api/events",
        "/api/synthesis",
        "/ws/synthesis",
        "/ws/events",
    ),
    blueprints=views.BLUEPRINTS,
)

__all__ = ["PROFILE", "streams"]
