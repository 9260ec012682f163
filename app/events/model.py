"""The one event shape served to every client: a union of the seeds' field names (DESIGN §6)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple

from app.models import Event
from app.models.base import as_utc


class Committed(NamedTuple):
    """An event a statement has already written (``app/services/attempts.py``): the fields of an
    ``Event`` row that ``render_event`` and the metrics read, without building the ORM object."""

    id: int
    run_id: str | None
    task_id: str | None
    type: str
    data: dict[str, Any]
    message: str | None
    created_at: datetime
    invocation_id: str | None = None


def _iso(value) -> str | None:
    if value is None:
        return None
    return as_utc(value).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def render_event(event: Event | Committed) -> dict[str, Any]:
    # Seed 004 clients read ids inside ``data`` (and ``payload`` on /ws/events).
    data = {"execution_id": event.run_id, **(event.data or {})}
    if event.task_id:
        data.setdefault("step_id", event.task_id)
    if event.invocation_id:
        data.setdefault("invocation_id", event.invocation_id)
    return {
        "event_id": event.id,
        "id": event.id,
        "type": event.type,
        "event_type": event.type,
        "execution_id": event.run_id,
        "run_id": event.run_id,
        "task_id": event.task_id,
        "step_id": event.task_id,
        "invocation_id": event.invocation_id,
        "timestamp": _iso(event.created_at),
        "data": data,
        "details": data,
        "payload": data,
        "message": event.message,
    }
