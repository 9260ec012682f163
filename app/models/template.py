"""Workflow templates: a definition with ``${params.x}`` placeholders and typed parameters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, new_id, utcnow


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # The workflow version the definition was copied from (absent for an inline definition).
    workflow_id: Mapped[str | None] = mapped_column(String(36))
    workflow_definition_id: Mapped[str | None] = mapped_column(String(36))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
