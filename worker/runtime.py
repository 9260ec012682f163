"""The worker process's runtime: built lazily, rebuilt after a fork (never share sockets).

``while_database_down`` retries a unit of work while the database is unreachable, so a task that
already ran its action keeps its outcome through an outage instead of losing it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.runtime import Runtime
from config.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Lost or refused connections, pool exhaustion, and (also OperationalError) deadlocks,
# serialization failures and a busy SQLite: each is worth another try of the whole transaction.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)

_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        _runtime = Runtime.build(Settings.from_env())
    return _runtime


def reset_runtime() -> None:
    global _runtime
    _runtime = None


def while_database_down(rt: Runtime, what: str, work: Callable[[], T]) -> T:
    """``work()``, tried again with backoff while the database is unavailable, for up to
    ``db_retry_seconds``; then the last error is raised. ``work`` must be one transaction (or
    several idempotent ones): a failed try changed nothing, or nothing a second try repeats."""
    deadline = time.monotonic() + rt.settings.db_retry_seconds
    delay = 0.25
    while True:
        try:
            return work()
        except DATABASE_DOWN as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "database unavailable while %s (%s); retrying in %.2fs",
                what,
                f"{exc.__class__.__name__}: {exc}"[:200],
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
