"""Liveness and readiness: database, Redis, and the Celery workers.

``liveness`` (``GET /health``) is probed often and must answer fast whatever is down: its checks
run side by side on a few threads kept for them, each bounded by ``LIVENESS_TIMEOUT``; a check
still waiting then is reported unhealthy. ``readiness`` (``GET /health/ready``) waits longer for
the workers.

The overall liveness status (README "Health"): ``healthy`` when every component is; ``unhealthy``
when storage (Postgres/SQLite) or the event system (Redis, also the Celery broker) is down, since
then nothing can be started, recorded or streamed; ``degraded`` when only the execution engine
is (no worker answers): runs are accepted and wait in their queue until a worker comes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import redis as redis_lib
from sqlalchemy import text

LIVENESS_TIMEOUT = 0.5  # seconds, for each check (they run at the same time)
READINESS_PING = 1.0
# Without them, either is down for everything: nothing starts, nothing is recorded.
ESSENTIAL = ("storage", "event_system")


def _timed(check: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        message = check()
    except Exception as exc:
        return {
            "status": "unhealthy",
            "message": f"{exc.__class__.__name__}: {exc}"[:500],
            "response_time_ms": None,
        }
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return {"status": "healthy", "message": message, "response_time_ms": elapsed}


def _database(rt) -> str:
    with rt.db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return "Database connection active"


def _workers(rt, timeout: float, limit: int | None = None) -> list:
    answers = rt.celery.control.ping(timeout=timeout, limit=limit) or []
    if not answers:
        raise RuntimeError(f"no worker online: no Celery worker answered a ping within {timeout}s")
    return answers


def readiness(rt) -> dict[str, Any]:
    def redis() -> str:
        rt.redis.ping()
        return "Redis connection active"

    def workers() -> str:
        return f"{len(_workers(rt, READINESS_PING))} worker(s) answering"

    checks = {
        "database": _timed(lambda: _database(rt)),
        "redis": _timed(redis),
        "workers": _timed(workers),
    }
    return {"ready": all(c["status"] == "healthy" for c in checks.values()), "checks": checks}


class _Probes:
    """This process's check threads, and a Redis client whose calls give up after the timeout
    (the shared one waits as long as Redis takes). Kept for the process: Celery's reply queue
    is per thread, so a thread per probe would leave a queue binding in Redis each time."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="harmonia-health")
        self.clients: dict[str, redis_lib.Redis] = {}

    def redis(self, url: str) -> redis_lib.Redis:
        client = self.clients.get(url)
        if client is None:
            client = redis_lib.Redis.from_url(
                url, socket_timeout=LIVENESS_TIMEOUT, socket_connect_timeout=LIVENESS_TIMEOUT
            )
            self.clients[url] = client
        return client


_probes: _Probes | None = None
_probes_lock = threading.Lock()


def _current_probes() -> _Probes:
    global _probes
    with _probes_lock:
        if _probes is None or _probes.pid != os.getpid():  # never reuse a parent's threads
            _probes = _Probes()
        return _probes


def liveness(rt) -> dict[str, Any]:
    """``{"status", "components": {name: "healthy"|"unhealthy"}, "services": {name: detail}}``
    for the components seed 004 names: ``api`` (this process, answering), ``storage``,
    ``event_system`` and ``execution_engine``."""
    probes = _current_probes()

    def event_system() -> str:
        probes.redis(rt.settings.redis_url).ping()
        return "Redis answers (event bus and Celery broker)"

    def execution_engine() -> str:
        # The first answer is enough: a live worker, reached through the broker.
        _workers(rt, LIVENESS_TIMEOUT, limit=1)
        return "a Celery worker answered a ping"

    checks: dict[str, Callable[[], str]] = {
        "storage": lambda: _database(rt),
        "event_system": event_system,
        "execution_engine": execution_engine,
    }
    futures: dict[str, Future] = {
        name: probes.pool.submit(_timed, check) for name, check in checks.items()
    }
    deadline = time.monotonic() + LIVENESS_TIMEOUT + 0.25  # the ping's own timeout, and a margin
    services: dict[str, dict[str, Any]] = {
        # Answering this request is the check.
        "api": {"status": "healthy", "message": "API process answering", "response_time_ms": None}
    }
    for name, future in futures.items():
        try:
            services[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            services[name] = {
                "status": "unhealthy",
                "message": f"no answer within {LIVENESS_TIMEOUT}s",
                "response_time_ms": None,
            }
    return {
        "status": overall_status({name: s["status"] for name, s in services.items()}),
        "components": {name: s["status"] for name, s in services.items()},
        "services": services,
    }


def overall_status(components: dict[str, str]) -> str:
    if all(status == "healthy" for status in components.values()):
        return "healthy"
    if any(components.get(name) != "healthy" for name in ESSENTIAL):
        return "unhealthy"
    return "degraded"
