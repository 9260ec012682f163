"""Seed 003's ``POST /api/auth/login``: the canonical login, at the document's path."""

from __future__ import annotations

from flask_smorest import Blueprint

from app.api.auth import Login

TITLE = "Workflow Orchestration API (seed 003)"

login_blp = Blueprint("003 login", __name__, description=f"{TITLE}: log in for a token")


@login_blp.route("/api/auth/login")
class SeedLogin(Login):
    """Seed 003's path for the same login."""
