"""Direct invocations: one capability of a built-in integration run on a worker, outside any run.

``POST /api/v1/integrations/{id}/capabilities/{cap}`` writes a PENDING row and sends
``harmonia.invoke``; the worker claims it (PENDING → RUNNING, a conditional UPDATE so a redelivered
message never runs it twice) and records COMPLETED or FAILED with the output or the error.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, new_id, utcnow


class InvocationStatus(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class Invocation(Base):
    __tablename__ = "invocations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    integration_id: Mapped[str] = mapped_column(String(64), index=True)
    capability_id: Mapped[str] = mapped_column(String(64))
    # ``agent.call`` only: the registered agent to call, loaded by name when the worker runs it.
    agent_name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(
        String(16), default=InvocationStatus.PENDING.value, index=True
    )
    # As the client sent them: the action applies its own defaults (its timeout, shell=false...).
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    output: Mapped[Any | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    # The claiming worker (``host:pid``): a redelivery tells a lost invocation from a running one.
    worker: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Outbox mark: set once the broker has the message; the sweep sends rows left without it.
    submitted_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    duration_ms: Mapped[int | None] = mapped_column(Integer)
