"""Runs and their task executions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, new_id, utcnow


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(String(36), index=True)
    workflow_definition_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), index=True)
    workflow_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="PENDING", index=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    # Bumped by every status change; orders the control records cached in Redis.
    control_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    input_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    output_data: Mapped[Any | None] = mapped_column(JSONType)
    error_message: Mapped[str | None] = mapped_column(Text)
    triggered_by: Mapped[str] = mapped_column(String(255), default="system")
    profile: Mapped[str] = mapped_column(String(16), default="v1")
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # From seed 004's ``metadata``: what its execution list filters by.
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    created_by: Mapped[str | None] = mapped_column(String(255))
    # The series-parallel plan of the current generation; ``harmonia.advance`` continues from it.
    # Deferred: large for big workflows, and only ``harmonia.advance`` reads it.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONType, deferred=True)
    # Outbox marker: set once the first canvas of the current generation was handed to the broker.
    submitted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancelled_by: Mapped[str | None] = mapped_column(String(255))
    # A run restored from a checkpoint names the run and the checkpoint it came from.
    original_run_id: Mapped[str | None] = mapped_column(String(36))
    checkpoint_id: Mapped[str | None] = mapped_column(String(36))


class TaskExecution(Base):
    __tablename__ = "task_executions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(255))
    agent_name: Mapped[str | None] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    input_data: Mapped[Any | None] = mapped_column(JSONType)
    output_data: Mapped[Any | None] = mapped_column(JSONType)
    error_message: Mapped[str | None] = mapped_column(Text)
    stdout: Mapped[str | None] = mapped_column(Text)
    stderr: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("run_id", "task_id", name="uq_task_executions_run_task"),
        Index("ix_task_executions_run_status", "run_id", "status"),
    )


class RunState(Base):
    """A run's custom state: a JSON object written over the API and by tasks, read as
    ``${state.key}``. Its own row, so writing it never contends with the run row's locks."""

    __tablename__ = "run_state"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime | None] = mapped_column()
    # "api", or "task:<id>" for a task's write.
    updated_by: Mapped[str | None] = mapped_column(String(255))
