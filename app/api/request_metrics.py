"""Counts every API request by route, method and status code, and times it.

The route is the URL rule (``/api/v1/runs/<run_id>``), never the raw path, so the number of
label values stays bounded whatever clients send; a path no rule matches is ``unmatched``.
Installed first in ``create_app``: its ``before_request`` runs before the security guard, so
refused requests are timed too, and its ``after_request`` runs last, on the final response.
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, g, request

from app.api.operations import is_stream
from app.api.security import WEBSOCKETS
from app.metrics import record_request

UNMATCHED = "unmatched"


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    started = g.get("metrics_started")
    rule = request.url_rule
    view = current_app.view_functions.get(request.endpoint or "")
    # A WebSocket or SSE request lasts as long as its client stays: not a latency.
    streaming = request.blueprint == WEBSOCKETS or is_stream(view)
    seconds = None if started is None or streaming else time.perf_counter() - started
    record_request(rule.rule if rule else UNMATCHED, request.method, response.status_code, seconds)
    return response


def init_request_metrics(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_count)
