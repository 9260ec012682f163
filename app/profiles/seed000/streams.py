"""Seed 000's live streams: ``/ws/executions/{id}`` and ``/events/executions/{id}``.

Messages carry the union event shape, a superset of the document's (``event_type``,
``execution_id``, ``task_id``, ``timestamp``, ``details``/``data``, ``message``): seed 004's
clients share the WebSocket path and read the same message.
"""

from __future__ import annotations

from flask import Blueprint, Response

from app.api.operations import streaming
from app.events.sse import event_stream
from app.events.websocket import serve
from app.extensions import sock

sse_blp = Blueprint("000 streams", __name__)


@sse_blp.get("/events/executions/<execution_id>")
@streaming
def execution_events(execution_id: str) -> Response:
    return event_stream(execution_id)


@sock.route("/ws/executions/<execution_id>")
def execution_socket(ws, execution_id: str) -> None:
    serve(ws, execution_id)
