"""Checkpoints: a snapshot of a run that a new run can be restored from (DESIGN §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, new_id, utcnow


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    workflow_id: Mapped[str] = mapped_column(String(36))
    # The exact workflow version the run ran: a restore runs it again, whatever changed since.
    workflow_definition_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    # manual, every_n_tasks or on_pause
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    # Set on automatic checkpoints only, so each is taken once however many callers race.
    auto_key: Mapped[str | None] = mapped_column(String(64))
    run_status: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(Integer)
    input_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Per-step input overrides of a rerun-from-step, so a restore runs the same inputs.
    input_overrides: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # {task_id: {status, attempt, input, output, error_message, started_at, completed_at}}
    tasks: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("run_id", "auto_key", name="uq_checkpoints_run_auto_key"),)
