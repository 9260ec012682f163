"""Seed 003 ("Workflow Orchestration API"): ``/api/v2/...``, the same paths under ``/api/...``
and ``/api/v1/...`` for requests that ask for its media type (``app/profiles/routing.py``), and
``/api/auth/login``."""

from __future__ import annotations

from app.profiles.base import Profile
from app.profiles.seed003 import views
from app.profiles.seed003.errors import ERRORS

PROFILE = Profile(
    name="seed003",
    title=views.TITLE,
    errors=ERRORS,
    prefixes=("/api/auth", "/api/v2"),
    blueprints=(views.login_blp, *views.BLUEPRINTS),
    logins=(views.login_blp,),
)
