"""Seed 000 ("Harmonia API Reference", ``/api/workflows``…): see ``app/profiles``."""

from __future__ import annotations

from app.profiles.base import Profile
from app.profiles.seed000 import streams, views
from app.profiles.seed000.errors import ERRORS

PROFILE = Profile(
    name="seed000",
    title=views.TITLE,
    errors=ERRORS,
    prefixes=(
        "/api/workflows",
        "/api/executions",
        "/api/templates",
        "/api/checkpoints",
        "/api/state",
        "/ws/executions",
        "/events/executions",
    ),
    blueprints=views.BLUEPRINTS,
    streams=(streams.sse_blp,),
)
