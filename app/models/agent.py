"""Registered A2A agents (seed 002 "Agent Management")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, new_id, utcnow

DEFAULT_RETRY_CONFIG = {
    "max_retries": 3,
    "initial_delay_ms": 1000,
    "max_delay_ms": 30000,
    "backoff_multiplier": 2.0,
}


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    auth_type: Mapped[str] = mapped_column(String(16), default="none")
    auth_config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    timeout_ms: Mapped[int] = mapped_column(Integer, default=30000)
    retry_config: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=lambda: dict(DEFAULT_RETRY_CONFIG)
    )
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def auth_headers(self) -> dict[str, str]:
        """What authenticates Harmonia to the agent: ``bearer`` → ``Authorization``, ``apikey`` →
        ``X-API-Key`` (or ``auth_config.header``)."""
        config = self.auth_config or {}
        if self.auth_type == "bearer" and config.get("token"):
            return {"Authorization": f"Bearer {config['token']}"}
        key = config.get("key") or config.get("api_key")
        if self.auth_type == "apikey" and key:
            return {config.get("header") or "X-API-Key": str(key)}
        return {}

    def call_context(self) -> dict[str, Any]:
        """What the ``agent.call`` action needs to reach this agent. The credentials travel only
        as ready-made headers, so the context can be passed around without exposing them."""
        return {
            "name": self.name,
            "url": self.url,
            "headers": self.auth_headers(),
            "timeout_ms": self.timeout_ms,
            "retry_config": self.retry_config,
        }
