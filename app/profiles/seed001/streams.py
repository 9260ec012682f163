"""Seed 001's live streams: ``/ws/harmonia/executions/{id}`` and
``/events/harmonia/executions/{id}``.

A WebSocket message is ``{type, timestamp, execution_id, data}`` (plus ``event_id``, which a
client sends back to resume); an SSE event is ``event: <type>`` with the same ``data`` alone.
``data`` is what the event recorded: task events name the task (``task_name``, ``task_index``,
``total_tasks``), ``execution_completed`` says ``workflow_name`` and ``duration_seconds``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from app.api.operations import streaming
from app.events.sse import event_stream
from app.events.websocket import serve
from app.extensions import sock

sse_blp = Blueprint("001 streams", __name__)

# Events for other documents' clients: seed 000's ``workflow_completed`` repeats
# ``execution_completed``.
NOT_SHOWN = {"workflow_completed"}
# Keys the union event shape adds to every event's data for other documents' clients.
UNION_ONLY = ("execution_id", "step_id", "invocation_id")


def payload(event: dict[str, Any]) -> dict[str, Any] | None:
    if event["type"] in NOT_SHOWN:
        return None
    data = {k: v for k, v in (event.get("data") or {}).items() if k not in UNION_ONLY}
    if event.get("task_id"):
        data.setdefault("task_id", event["task_id"])
    return data


def message(event: dict[str, Any]) -> dict[str, Any] | None:
    if event["type"] in NOT_SHOWN:
        return None
    return {
        "type": event["type"],
        "timestamp": event["timestamp"],
        "execution_id": event["execution_id"],
        "data": payload(event),
        "event_id": event["event_id"],
    }


@sse_blp.get("/events/harmonia/executions/<execution_id>")
@streaming
def harmonia_execution_events(execution_id: str) -> Response:
    return event_stream(execution_id, render=payload)


@sock.route("/ws/harmonia/executions/<execution_id>")
def harmonia_execution_socket(ws, execution_id: str) -> None:
    serve(ws, execution_id, render=message)
