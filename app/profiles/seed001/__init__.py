"""Seed 001 ("Harmonia API Reference", ``/api/harmonia/...``): see ``app/profiles``."""

from __future__ import annotations

from app.profiles.base import Profile
from app.profiles.seed001 import streams, views
from app.profiles.seed001.errors import ERRORS

PROFILE = Profile(
    name="seed001",
    title=views.TITLE,
    errors=ERRORS,
    prefixes=(views.PREFIX, "/ws/harmonia", "/events/harmonia"),
    blueprints=views.BLUEPRINTS,
    streams=(streams.sse_blp,),
)
