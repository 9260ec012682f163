"""Who may call which route, rate limits, CORS and security headers (README "Security").

Every request passes one guard before its view runs. The guard finds the credential
(``Authorization: Bearer …``, ``X-API-Key``, or ``?api_key=`` on the WebSocket and SSE streams,
whose browser clients cannot set headers), asks the identity service who it stands for, and
compares that identity's role with the role the route needs. The table below is the whole policy:

- open: ``/health``, the login routes, the bundled Swagger UI/ReDoc scripts; ``/health/ready``
  (``HARMONIA_PUBLIC_READY``, default on) and the API docs (``HARMONIA_PUBLIC_DOCS``, default off)
  when configured so;
- ``viewer``: every read (GET, HEAD), streams included;
- ``operator``: every other method (create, run, control, delete workflows, runs, templates,
  checkpoints, run state; invoke integrations);
- ``admin``: changing agents, and everything under ``/api/v1/auth`` except ``/me``.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.api.errors import error_response
from app.extensions import runtime
from app.models import Role
from app.services import identity as identities
from app.services.errors import Unauthorized
from config.settings import Settings

SAFE_METHODS = {"GET", "HEAD"}
ALWAYS_OPEN = {"system.Health", "login.Login", "login.SeedLogin", "static", "docs.swagger_asset"}
DOCS = {"docs.swagger_ui", "docs.redoc", "api-docs.openapi_json"}
READY = "system.Ready"
ANY_IDENTITY = {"auth.Me"}
STREAMS = {"sse", "__flask_sock"}  # blueprints whose routes take ``?api_key=``
ADMIN_WRITES = {"agents"}  # blueprints where changing anything needs an admin
ADMIN_ONLY = {"auth"}

HTML_HEADERS = {
    # The docs pages load only their bundled scripts; Swagger UI and ReDoc style inline and
    # ReDoc starts a worker from a blob.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def required_role(endpoint: str | None, method: str, settings: Settings) -> Role | None:
    """The role a request needs (``None``: open to anyone)."""
    if endpoint in ALWAYS_OPEN:
        return None
    if endpoint == READY and settings.public_ready:
        return None
    if endpoint in DOCS and settings.public_docs:
        return None
    blueprint = (endpoint or "").partition(".")[0]
    if endpoint in ANY_IDENTITY:
        return Role.VIEWER
    if blueprint in ADMIN_ONLY:
        return Role.ADMIN
    if method in SAFE_METHODS:
        return Role.VIEWER
    if blueprint in ADMIN_WRITES:
        return Role.ADMIN
    return Role.OPERATOR


def _credential() -> str | None:
    header = request.headers.get("Authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized(
                f"Unsupported Authorization scheme '{scheme[:20]}': "
                "use 'Authorization: Bearer <API key or token>'"
            )
        return value
    key = request.headers.get("X-API-Key")
    if key is not None:
        return key
    blueprint = (request.endpoint or "").partition(".")[0]
    if blueprint in STREAMS and "api_key" in request.args:
        return request.args["api_key"]
    return None


def _refuse(status: int, detail: str):
    response, status = error_response(status, detail)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="harmonia"'
    return response, status


def guard():
    """Before every view: authenticate, then authorise by the table above."""
    if request.method == "OPTIONS":  # CORS preflights carry no credentials; they read nothing
        return None
    rt = runtime()
    needed = required_role(request.endpoint, request.method, rt.settings)
    if needed is None:
        return None
    try:
        credential = _credential()
        if credential is None:
            return _refuse(
                401,
                "Authentication required: send 'Authorization: Bearer <API key or token>' "
                "or 'X-API-Key: <API key>'",
            )
        identity = identities.authenticate(rt, credential)
    except Unauthorized as exc:
        return _refuse(401, exc.detail)
    g.identity = identity
    if not identity.may(needed):
        return _refuse(
            403,
            f"Role '{identity.role.value}' may not {request.method} {request.path}: "
            f"it needs '{needed.value}'",
        )
    return None


def _limit_key() -> str:
    identity = getattr(g, "identity", None)
    return identity.limit_key if identity else f"addr:{get_remote_address()}"


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        for name, value in HTML_HEADERS.items():
            response.headers.setdefault(name, value)
    if (request.endpoint or "").partition(".")[0] in ("auth", "login"):
        response.headers["Cache-Control"] = "no-store"  # keys and tokens stay out of caches
    return response


def init_security(app: Flask, settings: Settings) -> Limiter:
    """Install the guard, then the rate limiter (which counts per identity, so it runs after the
    guard), CORS when origins are configured, and the response headers."""
    app.before_request(guard)
    limits = [settings.rate_limit] if settings.rate_limit.strip() else []
    limiter = Limiter(
        key_func=_limit_key,
        app=app,
        application_limits=limits,
        storage_uri=settings.redis_url,
        strategy="fixed-window",
        headers_enabled=True,
        key_prefix="harmonia-limit",
        swallow_errors=True,  # Redis briefly away: let requests through rather than fail them
        enabled=bool(limits or settings.login_rate_limit.strip()),
    )
    limiter.request_filter(lambda: request.endpoint in ("system.Health", "static"))
    if settings.cors_origins:
        CORS(
            app,
            origins=list(settings.cors_origins),
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "X-RateLimit-Limit"],
            max_age=600,
        )
    app.after_request(_security_headers)
    return limiter


def limit_logins(limiter: Limiter, blueprint, settings: Settings) -> None:
    """Slow password guessing: login attempts are limited per client address."""
    if settings.login_rate_limit.strip():
        limiter.limit(settings.login_rate_limit, key_func=get_remote_address)(blueprint)
