"""Seed 004's live streams and its event shape.

- ``ws://…/ws/executions/{id}`` for runs created through seed 004 (the path is seed 000's too:
  ``app/profiles/routing.py`` sends a seed-004 run's socket here, to
  ``/ws/synthesis/executions/{id}``): ``{type, timestamp, data}`` with the document's names
  (``step_started``, ``step_output``, ``step_completed``…) and ``data`` as its examples show
  (``step_id``, ``step_type``, ``status``, ``duration_ms``, ``output``); each message also says
  its ``event_id``, which a client can send back to resume.
- ``ws://…/ws/events``: every event, ``{event_id, type, timestamp, execution_id, payload}``.

``/api/events`` lists the same events in the same shape.
"""

from __future__ import annotations

from typing import Any

from app.events.synthesis import PROFILE, payload
from app.events.vocabulary import NOT_NOTIFIED, name_for
from app.events.websocket import serve
from app.extensions import sock


def event(event: dict[str, Any]) -> dict[str, Any] | None:
    """One event as ``/api/events`` and ``/ws/events`` show it; ``None`` for seed 000's
    second name of a completion."""
    if event["type"] in NOT_NOTIFIED:
        return None
    return {
        "event_id": str(event["event_id"]),
        "type": name_for(event["type"], PROFILE),
        "timestamp": event["timestamp"],
        "execution_id": event.get("execution_id"),
        "payload": payload(event),
    }


def message(event: dict[str, Any]) -> dict[str, Any] | None:
    """One event on a seed-004 run's socket."""
    if event["type"] in NOT_NOTIFIED:
        return None
    return {
        "type": name_for(event["type"], PROFILE),
        "timestamp": event["timestamp"],
        "data": payload(event),
        "event_id": event["event_id"],
    }


@sock.route("/ws/synthesis/executions/<execution_id>")
def synthesis_execution_socket(ws, execution_id: str) -> None:
    serve(ws, execution_id, render=message)


@sock.route("/ws/events")
def synthesis_events_socket(ws) -> None:
    serve(ws, None, render=event)
