"""Liveness and readiness: database, Redis, and at least one worker answering a ping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text


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


def readiness(rt) -> dict[str, Any]:
    def database() -> str:
        with rt.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return "Database connection active"

    def redis() -> str:
        rt.redis.ping()
        return "Redis connection active"

    def workers() -> str:
        answers = rt.celery.control.ping(timeout=1.0) or []
        if not answers:
            raise RuntimeError("no worker online: no Celery worker answered a ping within 1s")
        return f"{len(answers)} worker(s) answering"

    checks = {"database": _timed(database), "redis": _timed(redis), "workers": _timed(workers)}
    return {"ready": all(c["status"] == "healthy" for c in checks.values()), "checks": checks}
