"""Who may call which route, rate limits, CORS and security headers (README "Security").

Every request passes one guard before its view runs. The guard finds the credential
(``Authorization: Bearer …``, ``X-API-Key``, or ``?api_key=`` on the WebSocket and SSE streams,
whose browser clients cannot set headers), asks the identity service who it stands for, and
compares that identity's role with the role the route's *operation* needs (each view declares
its operation, ``app/api/operations.py``). ``ROLES`` below is the whole policy:

- open: ``OPEN`` (``/health``, the login routes, the bundled Swagger UI/ReDoc scripts), ``PROBE``
  (``/health/ready``, ``/metrics``) unless ``HARMONIA_PUBLIC_READY=false``, and ``DOCS`` when
  ``HARMONIA_PUBLIC_DOCS=true``;
- ``viewer``: ``READ`` (every read, streams included) and ``SELF`` (``/auth/me``);
- ``operator``: ``RUN`` (create and start work), ``CONTROL`` (pause, cancel, retry, state,
  delete) and ``OPERATE`` (the ops API's reads and controls of the Celery workers);
- ``admin``: ``ADMIN`` (identities and API keys, changing agents).
"""

from __future__ import annotations

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.api import sessions
from app.api.errors import reply
from app.api.operations import Operation, is_stream, operation_of
from app.extensions import runtime
from app.models import Role
from app.profiles.base import Failure
from app.services import identity as identities
from app.services.errors import ErrorKind, Unauthorized
from config.settings import Settings

ROLES: dict[Operation, Role] = {
    Operation.PROBE: Role.VIEWER,  # when not public
    Operation.DOCS: Role.VIEWER,  # when not public
    Operation.SELF: Role.VIEWER,
    Operation.READ: Role.VIEWER,
    Operation.RUN: Role.OPERATOR,
    Operation.CONTROL: Role.OPERATOR,
    Operation.OPERATE: Role.OPERATOR,
    Operation.ADMIN: Role.ADMIN,
}
WEBSOCKETS = "__flask_sock"  # flask-sock's blueprint: its routes take ``?api_key=``
DASHBOARD = "ui"  # its pages send an anonymous browser to the login page

NO_STORE = {"auth", "login", "003 login"}  # answers that carry keys or tokens
HTML_HEADERS = {
    # The docs pages load only their bundled scripts; Swagger UI and ReDoc style inline,
    # ReDoc starts a worker from a blob, GraphiQL's stylesheet embeds its fonts.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def required_role(kind: Operation, settings: Settings) -> Role | None:
    """The role an operation needs (``None``: open to anyone)."""
    if kind == Operation.OPEN:
        return None
    if kind == Operation.PROBE and settings.public_ready:
        return None
    if kind == Operation.DOCS and settings.public_docs:
        return None
    return ROLES[kind]


def route_role(app: Flask, endpoint: str | None, method: str) -> Role | None:
    """The role a request to ``endpoint`` with ``method`` needs."""
    view = app.view_functions.get(endpoint) if endpoint else None
    kind = operation_of(view, endpoint, method)
    return required_role(kind, app.extensions["harmonia"].settings)


def request_credential() -> str | None:
    """The request's credential (``Unauthorized`` for an Authorization scheme other than
    Bearer)."""
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
    view = current_app.view_functions.get(request.endpoint or "")
    if (request.blueprint == WEBSOCKETS or is_stream(view)) and "api_key" in request.args:
        return request.args["api_key"]
    return None


def _refuse(status: int, detail: str):
    kind = ErrorKind.UNAUTHENTICATED if status == 401 else ErrorKind.FORBIDDEN
    response, status = reply(Failure(status, detail, kind=kind))
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="harmonia"'
    return response, status


def _to_login():
    return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))


def guard():
    """Before every view: authenticate (a header credential, else the dashboard's session
    cookie, ``app/api/sessions.py``), then authorise by the table above."""
    if request.method == "OPTIONS":  # CORS preflights carry no credentials; they read nothing
        return None
    rt = runtime()
    needed = route_role(current_app, request.endpoint, request.method)
    if needed is None:
        return None
    credential = None
    try:
        credential = request_credential()
        if credential is not None:
            identity = identities.authenticate(rt, credential)
        elif sessions.signed_in():
            identity = sessions.identity(rt)
            forged = sessions.forgery()
            if forged:
                return _refuse(403, forged)
        elif request.blueprint == DASHBOARD:  # a person, not a script: show the login page
            return _to_login()
        else:
            return _refuse(
                401,
                "Authentication required: send 'Authorization: Bearer <API key or token>' "
                "or 'X-API-Key: <API key>'",
            )
    except Unauthorized as exc:
        if request.blueprint == DASHBOARD and credential is None:  # the session ran out
            return _to_login()
        return _refuse(401, exc.detail)
    g.identity = identity
    if not identity.may(needed):
        if request.blueprint == DASHBOARD:  # the dashboard says so on a page of its own
            abort(
                403,
                f"Role '{identity.role.value}' may not see this page: it needs '{needed.value}'",
            )
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
    if request.blueprint in NO_STORE:
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
