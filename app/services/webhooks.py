"""Webhooks: register endpoints for events, and the outbox that writes their deliveries.

Every event is written by ``Work`` (``app/services/state.py``); in the same transaction,
``outbox`` writes an entry for each event that active webhooks match, naming them, so a crash
after the commit loses no notification and a rolled-back change sends none. A task's claim and
outcome, written as single statements (``app/services/attempts.py``), match in SQL instead, on
the same ``Webhook.event_types``.
``app/services/delivery.py`` turns entries into deliveries (one per webhook) and sends them.

Signing secrets are kept encrypted (Fernet, with a key derived from the server's secret key), so
the senders can sign with them; the API shows one only in the answer that created it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import secrets
import socket
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import exists, insert, or_, select, update
from sqlalchemy.orm import Session

from app.events.vocabulary import NOT_NOTIFIED
from app.models import Delivery, DeliveryStatus, Event, OutboxEntry, Run, Webhook
from app.models.base import as_utc, utcnow
from app.services.errors import (
    DeliveryNotFound,
    UnsafeUrl,
    WebhookNotFound,
)
from app.services.pagination import Page, Window, paginate
from app.services.transactions import transactional
from config.settings import Settings, load_or_create_secret

# ---------------------------------------------------------------------------------------------
# Secrets


@functools.lru_cache(maxsize=4)
def _fernet(server_secret: str) -> Fernet:
    digest = hashlib.sha256(b"harmonia webhook secrets\x00" + server_secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _server_secret(settings: Settings) -> str:
    return settings.secret_key or load_or_create_secret(settings.home)


def seal(settings: Settings, secret: str) -> str:
    return _fernet(_server_secret(settings)).encrypt(secret.encode()).decode()


def unseal(settings: Settings, ciphertext: str) -> str:
    """The signing secret; ``ValueError`` if the server's secret key changed since it was
    sealed (the delivery then fails with that reason, and the webhook needs a new secret)."""
    try:
        return _fernet(_server_secret(settings)).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "the webhook's secret cannot be read with this server's secret key "
            "(HARMONIA_SECRET_KEY changed?): set a new secret"
        ) from None


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# ---------------------------------------------------------------------------------------------
# The SSRF guard


def _blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return not (mapped or ip).is_global


def check_url(url: str, *, allow_private: bool, field: str = "url", resolve: bool = True) -> None:
    """Refuse what a webhook may not call: other schemes than http(s), and (unless
    ``allow_private``) hosts on loopback, link-local, private or otherwise non-global addresses,
    by literal or by what the name resolves to. A name that does not resolve (yet) is accepted:
    its deliveries fail, visibly, until it does."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(field, f"scheme '{parts.scheme}' is not allowed (use http or https)")
    host = parts.hostname
    if not host:
        raise UnsafeUrl(field, "the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl(field, "the URL's port is not a number from 0 to 65535") from None
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise UnsafeUrl(field, f"'{host}' is this machine (HARMONIA_WEBHOOK_ALLOW_PRIVATE=false)")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if not resolve:
            return
        try:
            addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, port)})
        except (OSError, UnicodeError):
            return
    for address in addresses:
        if _blocked(address):
            raise UnsafeUrl(
                field,
                f"'{host}' is a loopback, link-local or private address ({address}); "
                "set HARMONIA_WEBHOOK_ALLOW_PRIVATE=true to allow it",
            )


# ---------------------------------------------------------------------------------------------
# Registering


def status_of(webhook: Webhook, now: datetime | None = None) -> str:
    """``active``, ``expired`` (past ``expires_at``), ``disabled`` (by failures) or
    ``inactive`` (by a user)."""
    if not webhook.active:
        return "disabled" if webhook.disabled_reason else "inactive"
    expires = as_utc(webhook.expires_at)
    if expires is not None and expires <= (now or utcnow()):
        return "expired"
    return "active"


@transactional
def get_webhook(session: Session, webhook_id: str, profile: str | None = None) -> Webhook:
    """The webhook; with ``profile``, only one registered through that API (seed 004's
    subscriptions are its own)."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or (profile is not None and webhook.profile != profile):
        raise WebhookNotFound(webhook_id)
    return webhook


def create_webhook(
    rt, body: dict[str, Any], *, created_by: str | None = None, profile: str = "v1"
) -> Webhook:
    """Register; the answer's ``secret`` (given, or made here when the body has none) is the only
    time it is shown. ``"secret": null`` registers an endpoint that is not signed."""
    check_url(body["url"], allow_private=rt.settings.webhook_allow_private)
    secret = body["secret"] if "secret" in body else new_secret()
    webhook = Webhook(
        url=body["url"],
        description=body.get("description"),
        events=list(body.get("events") or ["*"]),
        workflow_id=body.get("workflow_id"),
        run_id=body.get("run_id"),
        active=body.get("active", True),
        expires_at=body.get("expires_at"),
        secret_ciphertext=seal(rt.settings, secret) if secret else None,
        profile=profile,
        consecutive_failures=0,
        created_by=created_by,
    )
    with rt.db.transaction() as session:
        session.add(webhook)
    webhook.secret = secret
    return webhook


def update_webhook(
    rt, webhook_id: str, body: dict[str, Any], profile: str | None = None
) -> Webhook:
    """Change the fields given. Deactivating fails what is still pending (redeliverable);
    activating resets the failure count, and new events flow again."""
    if "url" in body:
        check_url(body["url"], allow_private=rt.settings.webhook_allow_private)
    with rt.db.transaction() as session:
        webhook = get_webhook(session, webhook_id, profile)
        for key in ("url", "description", "workflow_id", "run_id", "expires_at"):
            if key in body:
                setattr(webhook, key, body[key])
        if "events" in body:
            webhook.events = list(body["events"])
        if "secret" in body:
            secret = body["secret"]
            webhook.secret_ciphertext = seal(rt.settings, secret) if secret else None
        if "active" in body and body["active"] != webhook.active:
            webhook.active = body["active"]
            if webhook.active:
                webhook.consecutive_failures = 0
                webhook.disabled_reason = None
            else:
                fail_pending(session, webhook.id, "webhook deactivated before delivery")
        webhook.updated_at = utcnow()
    return webhook


def revealed(rt, webhooks: list[Webhook]) -> list[Webhook]:
    """The webhooks with their secrets readable (``secret``): only for a document that shows a
    webhook's secret with it (seed 003), and only for the webhooks registered through it."""
    for webhook in webhooks:
        webhook.secret = (
            unseal(rt.settings, webhook.secret_ciphertext) if webhook.secret_ciphertext else None
        )
    return webhooks


def delete_webhook(rt, webhook_id: str, profile: str | None = None) -> None:
    with rt.db.transaction() as session:
        session.delete(get_webhook(session, webhook_id, profile))


@transactional
def list_webhooks(
    session: Session, *, window: Window, status: str | None = None, profile: str | None = None
) -> Page:
    query = select(Webhook)
    now = utcnow()
    if status == "active":
        query = query.where(*_listening(now))
    elif status == "expired":
        query = query.where(Webhook.active.is_(True), Webhook.expires_at <= now)
    elif status == "disabled":
        query = query.where(Webhook.active.is_(False), Webhook.disabled_reason.is_not(None))
    elif status == "inactive":
        query = query.where(Webhook.active.is_(False), Webhook.disabled_reason.is_(None))
    if profile:
        query = query.where(Webhook.profile == profile)
    return paginate(session, query.order_by(Webhook.created_at.desc(), Webhook.id), window)


def fail_pending(session: Session, webhook_id: str, reason: str) -> int:
    return session.execute(
        update(Delivery)
        .where(Delivery.webhook_id == webhook_id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.FAILED, error=reason, next_attempt_at=None)
    ).rowcount


# ---------------------------------------------------------------------------------------------
# Delivery history


@transactional
def list_deliveries(
    session: Session, webhook_id: str, *, window: Window, status: str | None = None
) -> Page:
    get_webhook(session, webhook_id)
    query = select(Delivery).where(Delivery.webhook_id == webhook_id)
    if status:
        query = query.where(Delivery.status == status)
    return paginate(session, query.order_by(Delivery.seq.desc()), window)


@transactional
def get_delivery(session: Session, webhook_id: str, delivery_id: str) -> Delivery:
    delivery = session.execute(
        select(Delivery).where(Delivery.id == delivery_id, Delivery.webhook_id == webhook_id)
    ).scalar_one_or_none()
    if delivery is None:
        get_webhook(session, webhook_id)
        raise DeliveryNotFound(webhook_id, delivery_id)
    return delivery


# ---------------------------------------------------------------------------------------------
# The outbox


def _listening(now: datetime):
    """The webhooks that receive events now: active and not expired."""
    return (Webhook.active.is_(True), or_(Webhook.expires_at.is_(None), Webhook.expires_at > now))


def any_listening():
    """A scalar subquery: whether any webhook receives events now. The event insert returns it
    (``Work``), so a unit of work with no webhook registered needs no second query for them."""
    return exists().where(*_listening(utcnow()))


def outbox(session: Session, events: Iterable[Event], *, listening: bool = True) -> bool:
    """Write, in the caller's transaction, one outbox entry per event that active webhooks match,
    naming them; whether any was written. No query when the event insert said no webhook
    listens (``listening``), one when none matches."""
    events = [e for e in events if e.type not in NOT_NOTIFIED]
    if not events or not listening:
        return False
    now = utcnow()
    hooks = session.execute(
        select(Webhook.id, Webhook.event_types, Webhook.workflow_id, Webhook.run_id).where(
            *_listening(now)
        )
    ).all()
    if not hooks:
        return False
    lineage = _workflows_of(session, hooks, events)
    rows = []
    for event in events:
        matched = [
            hook.id
            for hook in hooks
            if event.type in (hook.event_types or ())
            and (not hook.run_id or hook.run_id == event.run_id)
            and (not hook.workflow_id or hook.workflow_id in lineage.get(event.run_id, ()))
        ]
        if matched:
            rows.append(
                {
                    "event_id": event.id,
                    "event_type": event.type,
                    "run_id": event.run_id,
                    "webhook_ids": matched,
                    "created_at": now,
                }
            )
    if rows:
        session.execute(insert(OutboxEntry.__table__), rows)
    return bool(rows)


def _workflows_of(session: Session, hooks, events) -> dict[str, tuple[str, str]]:
    """Each event's run's workflow ids (lineage and version), only if some webhook filters on
    a workflow."""
    run_ids = {e.run_id for e in events if e.run_id}
    if not run_ids or not any(h.workflow_id for h in hooks):
        return {}
    rows = session.execute(
        select(Run.id, Run.workflow_id, Run.workflow_definition_id).where(Run.id.in_(run_ids))
    )
    return {r.id: (r.workflow_id, r.workflow_definition_id) for r in rows}
