"""Harmonia's API: ``create_app(settings)`` builds a Flask app; nothing happens on import."""

from __future__ import annotations

import time

from flask import Flask

from config.settings import Settings, load_or_create_secret

VERSION = "0.1.0"
API_DESCRIPTION = (
    "Harmonia runs workflow definitions (DAGs of tasks) on Celery workers. The canonical API "
    "under /api/v1 follows the Workflow Management API: agents, workflows with versions, runs "
    "and their steps and logs, checkpoints and restore, run state, and templates. The tags "
    "starting 000, 001 and 003 are the other API documents of the same server (profiles), each in "
    "its own paths, fields and error body."
)


def create_app(settings: Settings | None = None, runtime=None) -> Flask:
    from app.api import register_blueprints
    from app.api.errors import register_error_handlers, reject_unstorable_input
    from app.api.request_metrics import init_request_metrics
    from app.api.security import init_security

    # Defines the flask-sock routes; they must exist before ``sock.init_app`` registers them.
    from app.events import websocket  # noqa: F401
    from app.extensions import HarmoniaApi, init_runtime, sock
    from app.profiles import profiles, register_profiles
    from app.profiles.routing import SharedPaths
    from app.runtime import Runtime
    from app.ui import register_dashboard

    settings = settings or Settings.from_env()
    if not settings.secret_key:
        settings = settings.with_(secret_key=load_or_create_secret(settings.home))
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE="Harmonia",
        API_VERSION=VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
        HARMONIA_STARTED=time.time(),
        # The dashboard's session (app/api/sessions.py): scripts cannot read it, other sites'
        # requests do not carry it, except top-level navigation (links into the dashboard).
        SESSION_COOKIE_NAME="harmonia_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=settings.session_ttl,
    )
    app.json.sort_keys = False
    from app.events.hub import Hub

    rt = runtime or Runtime.build(settings)
    init_runtime(app, rt)
    app.extensions["harmonia_hub"] = Hub(settings.redis_url)
    # Protocol-level pings keep idle WebSockets open through proxies. A client that offers
    # GraphQL's subprotocol gets it (only /graphql speaks it; the others ignore it).
    # A message larger than a request body may be closes the socket (1009).
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS",
        {
            "ping_interval": 20,
            "subprotocols": ["graphql-transport-ws"],
            "max_message_size": settings.max_request_bytes,
        },
    )
    profiles()  # imports every profile, whose WebSocket routes are among them
    api = HarmoniaApi(app, spec_kwargs={"info": {"description": API_DESCRIPTION}})
    sock.init_app(app)
    init_request_metrics(app)  # before the others: it times refusals and sees final answers
    register_error_handlers(app)  # first: every answer, refusals included, has a request id
    limiter = init_security(app, settings)
    app.before_request(reject_unstorable_input)
    register_blueprints(app, api, limiter, settings)
    register_profiles(app, api, limiter, settings)
    register_dashboard(app, limiter, settings)
    app.wsgi_app = SharedPaths(app.wsgi_app, rt, settings.max_request_bytes)
    return app
