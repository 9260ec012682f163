"""Harmonia's Prometheus metrics: every definition, and the few places that count.

Runs, tasks and events are counted from the events a unit of work committed
(``Work.after_commit`` calls ``record_events``): each event is committed exactly once, by
whichever process did the work (a worker for a task's outcome and a run's completion, the API for
a cancel), so every outcome is counted once. Webhook deliveries are counted where the notifier
records them, API requests by a request hook (``app/api/request_metrics.py``), stream clients
by the event hub.

In multiprocess mode (``config/metrics.py``) each process writes its own files, named by
``process_identity``; ``app/services/metrics.py`` sums them at scrape time. Recording never
raises: a metric must not fail the work it counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics, values
from prometheus_client.multiprocess import mark_process_dead

from config.metrics import multiprocess_dir, process_identity

log = logging.getLogger(__name__)

MULTIPROCESS_DIR = multiprocess_dir()
if MULTIPROCESS_DIR is not None:
    # prometheus_client names a process's files by its pid alone; see ``process_identity``.
    values.ValueClass = values.MultiProcessValue(process_identity)
# Multiprocess mode has no ``*_created`` series; a process counting in memory drops them too.
disable_created_metrics()

TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
RUN_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

RUNS = Counter(
    "harmonia_runs",
    "Runs that reached a final status (completed, failed, cancelled); a retried run counts again",
    ["status"],
)
RUNS_STARTED = Counter("harmonia_runs_started", "Runs whose first task started")
RUN_DURATION = Histogram(
    "harmonia_run_duration_seconds",
    "From a run's start to its completion or failure",
    ["status"],
    buckets=RUN_BUCKETS,
)
TASKS = Counter(
    "harmonia_task_executions",
    "Task attempts by outcome (completed, failed, retrying, cancelled, skipped, upstream_failed) "
    "and action",
    ["status", "action"],
)
TASK_DURATION = Histogram(
    "harmonia_task_duration_seconds",
    "How long a task's action ran, by outcome and action",
    ["status", "action"],
    buckets=TASK_BUCKETS,
)
EVENTS = Counter(
    "harmonia_events_published", "Events committed and published on the event bus", ["type"]
)
STREAM_CLIENTS = Gauge(
    "harmonia_stream_clients",
    "WebSocket and SSE clients connected to the API processes now",
    multiprocess_mode="livesum",
)
WEBHOOK_DELIVERIES = Counter(
    "harmonia_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, retrying (failed, will be tried again), "
    "failed (for good)",
    ["outcome"],
)
API_REQUESTS = Counter(
    "harmonia_api_requests",
    "API requests by route (the URL rule), method and status code",
    ["route", "method", "status"],
)
API_LATENCY = Histogram(
    "harmonia_api_request_duration_seconds",
    "API request latency by route and method (WebSocket and SSE streams excluded)",
    ["route", "method"],
    buckets=API_BUCKETS,
)
# Seed 002's example names (its api_info and api_uptime_seconds are written at scrape time).
API_REQUESTS_ALL = Counter("api_requests", "Total number of API requests")

RUN_FINAL = {
    "execution_completed": "completed",
    "execution_failed": "failed",
    "execution_cancelled": "cancelled",
}
TASK_OUTCOME = {
    "task_completed": "completed",
    "task_failed": "failed",
    "task_cancelled": "cancelled",
    "task_retrying": "retrying",
    "task_skipped": "skipped",
}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _action(data: dict[str, Any]) -> str:
    details = data.get("error_details")
    action = data.get("action") or (details.get("action") if isinstance(details, dict) else None)
    return action if isinstance(action, str) and action else "unknown"


def _record_event(event, published: bool) -> None:
    data = event.data if isinstance(event.data, dict) else {}
    if published:
        EVENTS.labels(event.type).inc()
    if event.type == "execution_started":
        RUNS_STARTED.inc()
    elif event.type in RUN_FINAL:
        status = RUN_FINAL[event.type]
        RUNS.labels(status).inc()
        duration = _number(data.get("duration_seconds"))
        if duration is not None:
            RUN_DURATION.labels(status).observe(duration)
    elif event.type in TASK_OUTCOME:
        status = TASK_OUTCOME[event.type]
        if event.type == "task_skipped" and isinstance(data.get("status"), str):
            status = data["status"].lower()  # SKIPPED, or UPSTREAM_FAILED
        action = _action(data)
        TASKS.labels(status, action).inc()
        duration = _number(data.get("duration"))
        if duration is not None:
            TASK_DURATION.labels(status, action).observe(duration)


def record_events(events: Iterable[Any], *, published: bool) -> None:
    """Count committed events (``published``: they also reached the event bus)."""
    try:
        for event in events:
            _record_event(event, published)
    except Exception:
        log.warning("could not record event metrics", exc_info=True)


def record_deliveries(outcome: str, count: int = 1) -> None:
    try:
        if count:
            WEBHOOK_DELIVERIES.labels(outcome).inc(count)
    except Exception:
        log.warning("could not record webhook delivery metrics", exc_info=True)


def record_request(route: str, method: str, status: int, seconds: float | None) -> None:
    """One answered API request (``seconds`` None: a stream, kept out of the latency)."""
    try:
        API_REQUESTS.labels(route, method, str(status)).inc()
        API_REQUESTS_ALL.inc()
        if seconds is not None:
            API_LATENCY.labels(route, method).observe(seconds)
    except Exception:
        log.warning("could not record request metrics", exc_info=True)


def process_exiting() -> None:
    """This process's live gauges leave the sums (a Celery pool process that is shutting down;
    gunicorn's master does it for its workers)."""
    if MULTIPROCESS_DIR is not None:
        try:
            mark_process_dead(process_identity(), str(MULTIPROCESS_DIR))
        except Exception:
            log.warning("could not remove this process's live gauges", exc_info=True)


def stream_opened() -> None:
    try:
        STREAM_CLIENTS.inc()
    except Exception:
        log.warning("could not record a stream client", exc_info=True)


def stream_closed() -> None:
    try:
        STREAM_CLIENTS.dec()
    except Exception:
        log.warning("could not record a stream client", exc_info=True)
