"""Webhooks (endpoints that receive events) and their deliveries (the outbox and its history)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.events.vocabulary import notified_types
from app.models.base import Base, JSONType, new_id, utcnow
from app.models.event import EventId


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # Event-name patterns (internal or dotted names, ``*`` wildcards); empty matches nothing.
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The internal event types those patterns select and webhooks are sent (set with ``events``):
    # what the outbox matches, in Python or in SQL.
    event_types: Mapped[list[str] | None] = mapped_column(JSONType)
    workflow_id: Mapped[str | None] = mapped_column(String(36))
    run_id: Mapped[str | None] = mapped_column(String(36))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    # The signing secret, encrypted with a key derived from the server's secret key (Fernet).
    secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    # Which API created it: the vocabulary its payloads are written in.
    profile: Mapped[str] = mapped_column(String(16), default="v1")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_webhooks_active", "active"),)

    @validates("events")
    def _select_types(self, _key: str, events: list[str]) -> list[str]:
        self.event_types = notified_types(events or [])
        return events

    @property
    def has_secret(self) -> bool:
        return self.secret_ciphertext is not None


class OutboxEntry(Base):
    """An event some webhooks matched, written in the event's own transaction (one row however
    many webhooks matched, so the work path stays cheap). The notifier turns each into one
    delivery per webhook, in ``seq`` order, and removes it in the same transaction."""

    __tablename__ = "webhook_outbox"

    seq: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(EventId)
    event_type: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(36))
    webhook_ids: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(Base):
    """One event for one endpoint, made from an outbox entry. ``seq`` orders an endpoint's
    deliveries; ``id`` is what receivers deduplicate on."""

    __tablename__ = "webhook_deliveries"

    seq: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(EventId)
    # The internal event type; the name sent is the webhook's vocabulary's.
    event_type: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(36))
    # Only for deliveries with no stored event (tests): the body's ``data``.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    # Every attempt: {attempt, at, status_code, latency_ms, error}.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        # Every read of pending deliveries names the webhook. (An index led by ``status`` drew
        # Postgres to it for single-row updates, through thousands of entries of rows delivered
        # moments ago.)
        Index("ix_webhook_deliveries_webhook_status_seq", "webhook_id", "status", "seq"),
    )
