"""Identities: API keys, users and their login tokens, and telling who sent a credential.

A credential is either an API key (``hmn_…``, or the bootstrap ``HARMONIA_ADMIN_API_KEY``) or a
login token: a JWT signed with the server's secret (HS256) that names the user. A token is checked
against the user on every request, so disabling a user, deleting one or changing a password
refuses their tokens at once, and a role change applies to the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import ApiKey, Role, User
from app.models.base import as_utc, utcnow
from app.services.errors import AlreadyExists, ApiKeyNotFound, Unauthorized, UserNotFound
from app.services.pagination import Page, Window, paginate
from app.services.transactions import transactional

KEY_PREFIX = "hmn_"
ISSUER = "harmonia"
BOOTSTRAP_ID = "bootstrap"
# ``last_used_at`` is written at most this often per key, so reads stay reads.
TOUCH_EVERY = timedelta(seconds=60)

_hasher = PasswordHasher()  # Argon2id with the library's (RFC 9106 low-memory) parameters
_decoy: list[str] = []


@dataclass(frozen=True)
class Identity:
    """Who sent a request: an API key or a user, with the role that decides what they may do."""

    kind: str  # "api_key" | "user"
    id: str
    name: str
    role: Role

    def may(self, needed: Role) -> bool:
        return self.role.includes(needed)

    @property
    def limit_key(self) -> str:
        """What rate limits count against."""
        return f"{self.kind}:{self.id}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


# -- API keys -----------------------------------------------------------------------------------


def create_api_key(
    rt,
    *,
    name: str,
    role: str,
    expires_at: datetime | None = None,
    created_by: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret value, which is returned here once and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with rt.db.transaction() as session:
        record = ApiKey(
            name=name,
            role=Role(role).value,
            prefix=key[:12],
            key_hash=hash_key(key),
            created_by=created_by,
            expires_at=expires_at,
        )
        session.add(record)
    return record, key


@transactional
def list_api_keys(
    session: Session,
    *,
    window: Window,
    role: str | None = None,
    revoked: bool | None = None,
) -> Page:
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    if role:
        query = query.where(ApiKey.role == role)
    if revoked is not None:
        query = query.where(
            ApiKey.revoked_at.is_not(None) if revoked else ApiKey.revoked_at.is_(None)
        )
    return paginate(session, query, window)


@transactional
def get_api_key(session: Session, key_id: str) -> ApiKey:
    record = session.get(ApiKey, key_id)
    if record is None:
        raise ApiKeyNotFound(key_id)
    return record


def revoke_api_key(rt, key_id: str) -> ApiKey:
    """Revoke a key; it is refused from the next request on. Revoking twice changes nothing."""
    with rt.db.transaction() as session:
        record = get_api_key(session, key_id)
        if record.revoked_at is None:
            record.revoked_at = utcnow()
    return record


def ensure_bootstrap_key(rt) -> str | None:
    """On a server nobody can log in to yet (no keys, no users, no ``HARMONIA_ADMIN_API_KEY``),
    create an admin key and return it, to be shown once. Otherwise ``None``."""
    if rt.settings.admin_api_key:
        return None
    with rt.db.transaction() as session:
        keys = session.execute(select(func.count()).select_from(ApiKey)).scalar_one()
        users = session.execute(select(func.count()).select_from(User)).scalar_one()
    if keys or users:
        return None
    _, key = create_api_key(rt, name="bootstrap admin", role=Role.ADMIN.value, created_by="setup")
    return key


# -- users --------------------------------------------------------------------------------------


def _username_taken(session: Session, username: str) -> bool:
    return session.execute(select(User.id).where(User.username == username)).first() is not None


def create_user(rt, *, username: str, password: str, role: str) -> User:
    password_hash = _hasher.hash(password)  # slow on purpose: outside the transaction
    with rt.db.transaction() as session:
        if _username_taken(session, username):
            raise AlreadyExists("user", "Username", username)
        user = User(username=username, password_hash=password_hash, role=Role(role).value)
        session.add(user)
    return user


@transactional
def list_users(session: Session, *, window: Window, role: str | None = None) -> Page:
    query = select(User).order_by(User.username)
    if role:
        query = query.where(User.role == role)
    return paginate(session, query, window)


@transactional
def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


def update_user(rt, user_id: str, body: dict[str, Any]) -> User:
    """Change a user's role, password or ``disabled`` flag (only the fields given). A new
    password or disabling the user refuses every token issued before."""
    password_hash = _hasher.hash(body["password"]) if body.get("password") else None
    with rt.db.transaction() as session:
        user = get_user(session, user_id)
        if "role" in body:
            user.role = Role(body["role"]).value
        if password_hash:
            user.password_hash = password_hash
        if "disabled" in body:
            user.disabled = bool(body["disabled"])
        if password_hash or body.get("disabled"):
            user.tokens_valid_after_ms = _now_ms()
    return user


def delete_user(rt, user_id: str) -> None:
    with rt.db.transaction() as session:
        session.delete(get_user(session, user_id))


# -- login and authentication ---------------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _verify_password(stored: str | None, password: str) -> bool:
    """Argon2 verification; for an unknown user a decoy hash is checked, so the answer takes as
    long whether or not the user exists."""
    if stored is None:
        if not _decoy:
            _decoy.append(_hasher.hash(secrets.token_urlsafe(16)))
        stored = _decoy[0]
        password = "\x00" + password  # never matches the decoy
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def login(rt, username: str, password: str, *, ttl: int | None = None) -> dict[str, Any]:
    """A signed token for a user whose password matches, with when it expires (after ``ttl``
    seconds, ``HARMONIA_TOKEN_TTL`` by default). The password is
    checked between two short transactions: Argon2 is slow on purpose, and must not hold a
    database connection while it works."""
    with rt.db.transaction() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    checked = user.password_hash if user else None
    if not _verify_password(checked, password) or user is None:
        raise Unauthorized("Invalid username or password")
    rehashed = _hasher.hash(password) if _hasher.check_needs_rehash(checked) else None
    with rt.db.transaction() as session:
        user = session.get(User, user.id)
        if user is None or user.password_hash != checked:  # deleted or changed meanwhile
            raise Unauthorized("Invalid username or password")
        if user.disabled:
            raise Unauthorized(f"User '{username}' is disabled")
        if rehashed:
            user.password_hash = rehashed
        user.last_login_at = utcnow()
    issued = _now_ms()
    ttl = ttl or rt.settings.token_ttl
    claims = {
        "iss": ISSUER,
        "sub": user.id,
        "name": user.username,
        "role": user.role,
        "iat": issued / 1000,
        "exp": issued // 1000 + ttl,
        "jti": str(uuid.uuid4()),
    }
    token = jwt.encode(claims, rt.settings.secret_key, algorithm="HS256")
    return {
        "access_token": token,
        "token": token,
        "token_type": "bearer",
        "expires_in": ttl,
        "expires_at": datetime.fromtimestamp(claims["exp"], tz=timezone.utc),
        "user": user,
    }


def authenticate(rt, credential: str) -> Identity:
    """The identity a credential stands for, or ``Unauthorized`` saying what is wrong with it."""
    credential = credential.strip()
    if not credential:
        raise Unauthorized("Empty credentials")
    if credential.count(".") == 2 and not credential.startswith(KEY_PREFIX):
        return _from_token(rt, credential)
    return _from_key(rt, credential)


def _from_key(rt, key: str) -> Identity:
    return authenticate_digest(rt, hash_key(key))


def authenticate_digest(rt, digest: str) -> Identity:
    """The identity of the API key whose SHA-256 is ``digest``: the dashboard's session keeps
    the digest of the key a browser signed in with, never the key itself."""
    bootstrap = rt.settings.admin_api_key
    if bootstrap and hmac.compare_digest(digest, hash_key(bootstrap)):
        return Identity("api_key", BOOTSTRAP_ID, "HARMONIA_ADMIN_API_KEY", Role.ADMIN)
    with rt.db.transaction() as session:
        record = session.execute(
            select(ApiKey).where(ApiKey.key_hash == digest)
        ).scalar_one_or_none()
        if record is None:
            raise Unauthorized("Invalid API key")
        if record.revoked_at is not None:
            raise Unauthorized(f"API key '{record.prefix}…' has been revoked")
        now = utcnow()
        if record.expires_at is not None and as_utc(record.expires_at) <= now:
            raise Unauthorized(f"API key '{record.prefix}…' has expired")
        if record.last_used_at is None or as_utc(record.last_used_at) < now - TOUCH_EVERY:
            record.last_used_at = now
        return Identity("api_key", record.id, record.name, Role(record.role))


def _from_token(rt, token: str) -> Identity:
    try:
        claims = jwt.decode(
            token,
            rt.settings.secret_key,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Token has expired; log in again") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"Invalid token: {exc}") from None
    with rt.db.transaction() as session:
        user = session.get(User, str(claims["sub"]))
        if user is None:
            raise Unauthorized("Token's user no longer exists")
        if user.disabled:
            raise Unauthorized(f"User '{user.username}' is disabled")
        if round(float(claims["iat"]) * 1000) < user.tokens_valid_after_ms:
            raise Unauthorized("Token has been revoked; log in again")
        return Identity("user", user.id, user.username, Role(user.role))
