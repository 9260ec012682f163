"""Seed 002 pagination: ``page``/``page_size`` in, ``items/total/page/page_size/total_pages`` out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def paginate(session: Session, query, page: int, page_size: int) -> dict[str, Any]:
    total = session.execute(select(func.count()).select_from(query.order_by(None).subquery())
                            ).scalar_one()
    items = session.execute(query.limit(page_size).offset((page - 1) * page_size)).scalars().all()
    return {
        "items": list(items),
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": (total + page_size - 1) // page_size if total else 0,
    }
