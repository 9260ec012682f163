"""Browser sessions: the dashboard's signed cookie, and the CSRF token that guards it.

A person signs in at ``/ui/login`` with a username and password or an API key. The session
cookie (Flask's, signed with ``HARMONIA_SECRET_KEY``; ``HttpOnly``, ``SameSite=Lax``) then
carries the credential for every request the browser makes: the pages, the REST calls their
scripts make, the WebSocket. It holds a login token (which expires and is refused once the
password changes) or the SHA-256 of the API key (never the key), so each request is checked
against the database as a header credential is.

A cookie is sent by the browser whoever asked for the request, so a request it authenticates
must prove it came from our own pages: a write carries the session's CSRF token (the
``X-CSRF-Token`` header from scripts, the ``csrf_token`` field from forms), and a WebSocket
handshake comes from our own origin. Header credentials need neither: no other site can set them.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import request, session

from app.services import identity as identities
from app.services.errors import Unauthorized
from app.services.identity import Identity

CREDENTIAL = "credential"  # {"token": …} or {"key_sha256": …}
CSRF = "csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE = {"GET", "HEAD", "OPTIONS"}
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def signed_in() -> bool:
    return CREDENTIAL in session


def sign_in_with_token(token: str) -> None:
    _sign_in({"token": token})


def sign_in_with_key(key: str) -> None:
    _sign_in({"key_sha256": identities.hash_key(key.strip())})


def _sign_in(credential: dict[str, str]) -> None:
    session.clear()  # a new session on every sign-in: no fixation of an earlier one
    session.permanent = True
    session[CREDENTIAL] = credential
    session[CSRF] = secrets.token_urlsafe(32)


def sign_out() -> None:
    session.clear()


def identity(rt) -> Identity:
    """Who the session stands for (``Unauthorized`` when its credential no longer holds: the
    session is then ended)."""
    credential = session[CREDENTIAL]
    try:
        if "token" in credential:
            return identities.authenticate(rt, credential["token"])
        return identities.authenticate_digest(rt, credential["key_sha256"])
    except Unauthorized:
        sign_out()
        raise


def csrf_token() -> str:
    """The session's CSRF token, created on first use (the login form needs one before anyone
    has signed in)."""
    if CSRF not in session:
        session[CSRF] = secrets.token_urlsafe(32)
    return session[CSRF]


def forgery() -> str | None:
    """Why this cookie-authenticated request may come from another site, or None."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            return f"WebSocket from origin '{origin[:100]}' refused: it is not this server's"
        return None
    if request.method in SAFE:
        return None
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.mimetype in FORMS:
        sent = request.form.get(CSRF_FIELD)
    expected = session.get(CSRF)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return (
            f"CSRF token missing or wrong: a request signed in by the session cookie sends the "
            f"page's token in '{CSRF_HEADER}'"
        )
    return None
