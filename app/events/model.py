"""The one event shape served to every client: a union of the seeds' field names (DESIGN §6)."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from app.models import Event
from app.models.base import as_utc


def _iso(value) -> str | None:
    if value is None:
        return None
    return as_utc(value).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def render_event(event: Event) -> dict[str, Any]:
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
