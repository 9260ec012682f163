"""Seed 003 ("Workflow Orchestration API"): so far only its login path, ``/api/auth/login``.

The document shows no error body of its own, so its routes answer in the canonical format.
"""

from __future__ import annotations

from app.api.errors import CANONICAL_ERRORS
from app.profiles.base import Profile
from app.profiles.seed003 import views

PROFILE = Profile(
    name="seed003",
    title=views.TITLE,
    errors=CANONICAL_ERRORS,
    prefixes=("/api/auth",),
    blueprints=(views.login_blp,),
    logins=(views.login_blp,),
)
