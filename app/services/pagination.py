"""Seed 002 pagination: `page`/`page_size` in; `items`, `total`, `total_pages` out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def paginate(session: Session, query, page: int, page_size: int) -> dict[str, Any]:
    total = session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    offset = (page - 1) * page_size
    # Past the end there is nothing to fetch, and an offset beyond 64 bits fails in the driver.
    items = (
        session.execute(query.limit(page_size).offset(offset)).scalars().all()
        if offset < total
        else []
    )
    return _page(list(items), total, page, page_size)


def paginate_list(items: list[Any], page: int, page_size: int) -> dict[str, Any]:
    """The same page shape over items already in memory (e.g. the integration catalogue)."""
    start = (page - 1) * page_size
    return _page(items[start : start + page_size], len(items), page, page_size)


def _page(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    return {
        "items": items,
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": (total + page_size - 1) // page_size if total else 0,
    }
