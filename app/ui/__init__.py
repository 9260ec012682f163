"""The web dashboard at ``/ui/``: server-rendered pages (Jinja) over the same services as the
API, with small scripts that keep them live over the WebSocket and steer runs and workers
through the REST API (README "Dashboard").

Views only, as in ``app/api``: parse, call services, render. The pages' data is the REST API's
(same schemas), their actions are REST calls signed in by the session cookie and its CSRF token
(``app/api/sessions.py``), so the dashboard can do nothing the API does not allow.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def register_dashboard(app: Flask, limiter: Limiter, settings) -> None:
    from app.ui import views

    app.register_blueprint(views.bp)
    if settings.login_rate_limit.strip():  # password guessing through the form is slowed too
        limit = limiter.limit(
            settings.login_rate_limit, key_func=get_remote_address, methods=["POST"]
        )
        app.view_functions["ui.login"] = limit(app.view_functions["ui.login"])
