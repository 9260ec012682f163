"""WebSocket endpoints (flask-sock): one run's or one invocation's events, or every run's.

- ``/ws/invocations/{id}`` (one direct invocation) and ``/ws/v1/events`` (every run's events, the
  canonical API's global stream) here; the profiles serve their sockets with
  ``serve`` (``/ws/executions/{id}`` for seeds 000 and 004, ``/ws/harmonia/executions/{id}`` for
  seed 001, ``/ws/events`` for every run in seed 004's shape). Each message is one event in the
  union shape, or the profile's rendering of it.
- The client may send ``{"type": "ping"}`` → ``{"type": "pong", "timestamp": …}``, and
  ``{"type": "subscribe", "after_event_id": N}`` to (re)receive everything after event N — use the
  last ``event_id`` it saw to resume after a reconnect. ``?after_event_id=N`` does the same on
  connect. Without it, a run's socket starts from the run's first event; the global ones start live.
- A run's socket closes after the run's final event. A client that falls more than the buffer
  behind gets ``{"type": "error", "code": "overflow"}`` and is disconnected.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from flask import current_app, request
from simple_websocket import ConnectionClosed

from app.events.stream import EventStream, Overflow, Shape
from app.extensions import runtime, sock
from app.models import Invocation, Run

POLL = 0.25  # how often a socket looks for client messages while no event arrives
CLOSE_WAIT = 2.0  # the longest a closing socket waits for the client's reply


def close(ws, code: int | None = None, reason: str | None = None) -> None:
    """Close, then wait (briefly) for the client's close reply before the connection is cut.
    Cut at once, a client that inflates compressed messages asynchronously (Node's WebSocket)
    sees the connection end first and drops the last messages it had not yet delivered."""
    try:
        ws.close(code, reason)
    except ConnectionClosed:
        return
    reader = getattr(ws, "thread", None)  # simple-websocket's: ends at the client's reply
    if reader is not None:
        reader.join(CLOSE_WAIT)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _send(ws, payload: dict) -> None:
    ws.send(json.dumps(payload, default=str))


def _handle(ws, stream: EventStream, raw: str) -> None:
    try:
        message = json.loads(raw)
    except ValueError:
        _send(ws, {"type": "error", "code": "bad_message", "message": "send JSON objects"})
        return
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        _send(ws, {"type": "pong", "timestamp": _now()})
    elif kind == "subscribe":
        after = message.get("after_event_id")
        if isinstance(after, int) and not isinstance(after, bool) and after >= 0:
            stream.restart(after)
        else:
            _send(
                ws,
                {
                    "type": "error",
                    "code": "bad_message",
                    "message": "after_event_id must be a non-negative integer",
                },
            )
    else:
        _send(
            ws,
            {
                "type": "error",
                "code": "bad_message",
                "message": "expected {'type': 'ping'} or {'type': 'subscribe', ...}",
            },
        )


def _missing(rt, run_id: str | None, invocation_id: str | None) -> str | None:
    """What the socket names but does not exist, said as the REST API would."""
    with rt.db.transaction() as session:
        if run_id is not None and session.get(Run, run_id) is None:
            return f"Run with id '{run_id}' not found"
        if invocation_id is not None and session.get(Invocation, invocation_id) is None:
            return f"Invocation with id '{invocation_id}' not found"
    return None


def serve(
    ws,
    run_id: str | None,
    invocation_id: str | None = None,
    render: Shape | None = None,
) -> None:
    rt = runtime()
    missing = _missing(rt, run_id, invocation_id)
    if missing:
        _send(ws, {"type": "error", "code": "not_found", "message": missing})
        return
    after = request.args.get("after_event_id", type=int)
    hub = current_app.extensions["harmonia_hub"]
    stream = EventStream(rt, hub, run_id, after, invocation_id=invocation_id)
    try:
        while True:
            while (raw := ws.receive(timeout=0)) is not None:
                _handle(ws, stream, raw)
            delivery = stream.next(timeout=POLL)
            if delivery is None:
                continue
            text = delivery.shaped(render)
            if text is not None:
                ws.send(text)
            if stream.finished(delivery.event):
                close(ws)
                return
    except Overflow:
        _send(
            ws,
            {
                "type": "error",
                "code": "overflow",
                "message": "client too slow: events were dropped; reconnect with "
                f"after_event_id={stream.last_id}",
            },
        )
        close(ws)
    except ConnectionClosed:
        pass
    finally:
        stream.close()


@sock.route("/ws/invocations/<invocation_id>")
def invocation_socket(ws, invocation_id: str) -> None:
    serve(ws, None, invocation_id)


@sock.route("/ws/v1/events")
def events_socket(ws) -> None:
    """Every run's events in the union shape, live (``?after_event_id=`` to resume): the
    canonical API's global stream, which the dashboard's live pages read."""
    serve(ws, None)


@sock.route("/ws/v1/runs/<run_id>/events")
def run_events_socket(ws, run_id: str) -> None:
    """One run's events in the union shape, whichever API created the run (the profiles'
    sockets speak the creating profile's vocabulary): the run's past events, then live ones."""
    serve(ws, run_id)
