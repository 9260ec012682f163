"""Workflow definitions. Each version is its own row; rows of one workflow share a lineage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, new_id, utcnow


class Workflow(Base):
    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # The id of version 1: what runs call ``workflow_id``.
    lineage_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The version as its author names it (seed 001's "1.0.0"); given, or a minor bump.
    version_label: Mapped[str | None] = mapped_column(String(64))
    # The definition as the user wrote it (any dialect): served back as ``workflow_data``.
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    dialect: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when the workflow was instantiated from a template, with the values it was bound to.
    template_id: Mapped[str | None] = mapped_column(String(36))
    template_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The API that created it (``v1``, ``seed004``…): seed 004 lists the plans it made.
    origin: Mapped[str] = mapped_column(String(16), default="v1", server_default="v1", index=True)
    # Made for one execution (seed 004's inline ``plan``): never listed, its name not reserved.
    inline: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # From seed 004's ``metadata``: what its lists filter by.
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_workflows_name_latest", "name", "is_latest"),)
