"""Pagination inside the services: a window in (offset + limit), a page out (items + total).

Neither says how a client asked or how the answer is shaped: seed 002's ``page``/``page_size``
with ``total_pages`` (``app/schemas/common.py``), a ``limit``/``offset`` list or a
``page``/``limit`` one are renderings of the same ``Window`` and ``Page`` at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from typing import Any

from sqlalchemy import cast, exists, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Window:
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    offset: int
    limit: int


def paginate(session: Session, query, window: Window) -> Page:
    total = session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    # Past the end there is nothing to fetch, and an offset beyond 64 bits fails in the driver.
    items = (
        session.execute(query.limit(window.limit).offset(window.offset)).scalars().all()
        if window.offset < total
        else []
    )
    return Page(list(items), total, window.offset, window.limit)


def paginate_list(items: list[Any], window: Window) -> Page:
    """The same page over items already in memory (e.g. the integration catalogue)."""
    chosen = items[window.offset : window.offset + window.limit]
    return Page(chosen, len(items), window.offset, window.limit)


def list_contains(session: Session, column, value: str):
    """A clause: the JSON list in ``column`` holds ``value`` (JSONB ``@>`` on Postgres,
    ``json_each`` on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return column.op("@>")(cast(literal([value], JSONB), JSONB))
    item = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(item).where(item.c.value == value))


def within(query, column, after=None, before=None):
    """``query`` limited to ``after <= column <= before`` (either may be absent). Stored times
    are UTC and SQLite compares them as text, so the bounds are turned to UTC first."""
    if after is not None:
        query = query.where(column >= after.astimezone(timezone.utc))
    if before is not None:
        query = query.where(column <= before.astimezone(timezone.utc))
    return query
