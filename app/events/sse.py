"""Server-Sent Events: ``/events/invocations/{id}`` (one direct invocation), and the streams the
profiles serve with ``event_stream`` (``/events/executions/{id}`` for seed 000,
``/events/harmonia/executions/{id}`` for seed 001).

Each event is sent with an ``id:`` line (the event id), ``event:`` (its type) and ``data:`` (the
union shape, or the profile's rendering of it). A reconnecting client sends ``Last-Event-ID``
(browsers do this by themselves) and receives everything after it. ``?after_event_id=N`` does
the same for clients that cannot set headers. A comment line is sent every 15 s of silence so
idle proxies keep the stream open. The stream ends after the run's final event.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from app.api.operations import streaming
from app.events.stream import EventStream, Overflow, Shape
from app.extensions import runtime
from app.models import Run
from app.services.errors import RunNotFound
from app.services.integrations import get_invocation

bp = Blueprint("sse", __name__)
KEEPALIVE_SECONDS = 15.0


def _after_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("after_event_id")
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def event_stream(
    run_id: str | None,
    invocation_id: str | None = None,
    render: Shape | None = None,
) -> Response:
    """One run's (or invocation's) events as SSE; ``render`` reshapes each event's data."""
    rt = runtime()
    with rt.db.transaction() as session:
        if run_id is not None and session.get(Run, run_id) is None:
            raise RunNotFound(run_id)
        if invocation_id is not None:
            get_invocation(session, invocation_id)
    stream = EventStream(
        rt,
        current_app.extensions["harmonia_hub"],
        run_id,
        _after_id(),
        idle=KEEPALIVE_SECONDS,
        invocation_id=invocation_id,
    )

    def generate():
        try:
            yield "retry: 3000\n\n"
            while True:
                delivery = stream.next()
                if delivery is None:
                    yield ": keep-alive\n\n"
                    continue
                event = delivery.event
                text = delivery.shaped(render)
                if text is not None:
                    yield f"id: {event['event_id']}\nevent: {event['type']}\ndata: {text}\n\n"
                if stream.finished(event):
                    return
        except Overflow:
            message = {
                "code": "overflow",
                "message": "client too slow: events were dropped",
                "last_event_id": stream.last_id,
            }
            yield f"event: error\ndata: {json.dumps(message)}\n\n"
        finally:
            stream.close()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(generate(), mimetype="text/event-stream", headers=headers)


@bp.get("/events/invocations/<invocation_id>")
@streaming
def invocation_events(invocation_id: str) -> Response:
    return event_stream(None, invocation_id)
