"""``GET /metrics``: the Prometheus exposition, and seed 004's JSON summary.

The exposition sums every process's metric files (multiprocess mode, ``config/metrics.py``) and
adds what is read at scrape time: ``api_info``, ``api_uptime_seconds`` (of the API process that
answers) and ``harmonia_queue_depth`` per Celery queue (Redis list lengths). A process without a
metrics directory exposes its own in-memory metrics instead.

The JSON summary is computed from the database (``runs`` and ``task_executions``, on SQLite and
Postgres alike) and from this process's resource usage.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from app import VERSION
from app.metrics import MULTIPROCESS_DIR
from app.models import Run, TaskExecution
from app.models.status import RunStatus, TaskStatus

log = logging.getLogger(__name__)

# kombu's Redis transport keeps a queue's messages of priority 0 under its name, the others
# under the name, this separator and the priority step.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
BINDINGS = "_kombu.binding."
QUEUE_REFRESH = 60.0  # seconds between looks for queues besides the configured ones


class _Union:
    """The metrics of several collectors, as one (what the encoders read)."""

    def __init__(self, *collectors) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


class _Discovered:
    """Queue names found in kombu's bindings (any a task's ``queue`` created), per process,
    refreshed every ``QUEUE_REFRESH`` seconds: finding them scans Redis's keys."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.at = -math.inf
        self.lock = threading.Lock()

    def get(self, redis) -> set[str]:
        with self.lock:
            if time.monotonic() - self.at >= QUEUE_REFRESH:
                self.names = set(bound_queues(redis))
                self.at = time.monotonic()
            return set(self.names)


_discovered = _Discovered()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def bound_queues(redis) -> Iterator[str]:
    for key in redis.scan_iter(match=f"{BINDINGS}*", count=1000):
        exchange = _text(key)[len(BINDINGS) :]
        # Celery's control and event exchanges: replies and events, not task queues.
        if "pidbox" in exchange or exchange.startswith("celeryev"):
            continue
        for member in redis.smembers(key):
            queue = _text(member).split(PRIORITY_SEPARATOR)[-1]
            if queue:
                yield queue


def queue_depths(rt) -> dict[str, int]:
    """Messages waiting in each queue: the configured ones and any a task's ``queue`` named."""
    settings = rt.settings
    names = {settings.default_queue, settings.sweep_queue, settings.notify_queue}
    return queue_lengths(rt.redis, names | _discovered.get(rt.redis))


def queue_lengths(redis, names: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each named queue, every priority level counted (one round trip)."""
    ordered = sorted(set(names))
    pipe = redis.pipeline(transaction=False)
    for name in ordered:
        pipe.llen(name)
        for step in PRIORITY_STEPS:
            pipe.llen(f"{name}{PRIORITY_SEPARATOR}{step}")
    lengths = pipe.execute()
    per_queue = 1 + len(PRIORITY_STEPS)
    return {
        name: sum(lengths[i * per_queue : (i + 1) * per_queue]) for i, name in enumerate(ordered)
    }


class _ScrapeTime:
    """Metrics read when scraped rather than counted as things happen."""

    def __init__(self, rt, started: float) -> None:
        self.rt = rt
        self.started = started

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("api_info", "API information", labels=["version"])
        info.add_metric([VERSION], 1)
        yield info
        yield GaugeMetricFamily(
            "api_uptime_seconds",
            "Uptime of the API process that answered, in seconds",
            value=round(time.time() - self.started, 2),
        )
        try:
            depths = queue_depths(self.rt)
        except Exception:  # Redis away: the rest of the scrape is still worth having
            log.warning("could not read the Celery queue depths", exc_info=True)
            return
        depth = GaugeMetricFamily(
            "harmonia_queue_depth", "Messages waiting in each Celery queue", labels=["queue"]
        )
        for name, length in depths.items():
            depth.add_metric([name], length)
        yield depth


def prometheus_exposition(rt, started: float, accept: str | None) -> tuple[bytes, str]:
    """The metrics of every process of this deployment in the format ``accept`` asks for
    (Prometheus text, or OpenMetrics); returns the body and its content type."""
    if MULTIPROCESS_DIR is not None:
        counted = MultiProcessCollector(None, path=str(MULTIPROCESS_DIR))
    else:
        counted = REGISTRY
    metrics = _Union(counted, _ScrapeTime(rt, started))
    try:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(metrics), content_type
    except (TypeError, ValueError):  # a version in Accept it cannot read: the classic format
        return generate_latest(metrics), CONTENT_TYPE_PLAIN_0_0_4


def nearest_rank(count: int, quantile: float) -> int:
    """The 1-based position of the ``quantile`` of ``count`` sorted values (nearest-rank
    method: the smallest value at least ``quantile`` of all values are at or below)."""
    if count <= 0:
        raise ValueError("no values")
    return min(count, max(1, math.ceil(quantile * count)))


def _duration_ms(session: Session, started, ended):
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(ended) - func.julianday(started)) * 86_400_000.0
    return extract("epoch", ended - started) * 1000.0


def _timing(session: Session, model, statuses: Iterable[str]) -> tuple[float | None, float | None]:
    """Average and p95 duration (ms) of the rows of ``model`` in ``statuses`` that have a start
    and an end; (None, None) when there are none."""
    duration = _duration_ms(session, model.started_at, model.completed_at)
    finished = (
        model.status.in_(list(statuses)),
        model.started_at.is_not(None),
        model.completed_at.is_not(None),
    )
    count, average = session.execute(
        select(func.count(), func.avg(duration)).where(*finished)
    ).one()
    if not count:
        return None, None
    p95 = session.execute(
        select(duration)
        .where(*finished)
        .order_by(duration)
        .offset(nearest_rank(count, 0.95) - 1)
        .limit(1)
    ).scalar_one()
    return round(float(average), 1), round(float(p95), 1)


def _by_status(session: Session, model) -> dict[str, int]:
    rows = session.execute(select(model.status, func.count()).group_by(model.status))
    return {status: count for status, count in rows}


class _CpuMeter:
    """This process's CPU use since the previous reading (the first: since it was built)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last = (time.monotonic(), self._cpu())

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def percent(self) -> float:
        with self.lock:
            now, cpu = time.monotonic(), self._cpu()
            wall = now - self.last[0]
            used = cpu - self.last[1]
            self.last = (now, cpu)
        return round(100.0 * used / wall, 1) if wall > 0 else 0.0


_cpu_meter = _CpuMeter()


def memory_mb() -> float:
    """This process's resident memory (its peak where /proc is not available)."""
    try:
        with open(f"/proc/{os.getpid()}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, else KiB
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


TERMINAL_RUNS = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
TIMED_TASKS = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


def execution_summary(rt) -> dict[str, Any]:
    """Seed 004's ``/metrics`` body. ``active`` is every run not in a final status (created,
    pending, running, pausing, paused, cancelling); times are of runs and steps that finished,
    in ms, ``null`` while there are none."""
    with rt.db.transaction() as session:
        runs = _by_status(session, Run)
        tasks = _by_status(session, TaskExecution)
        run_avg, run_p95 = _timing(session, Run, [s.value for s in TERMINAL_RUNS])
        task_avg, task_p95 = _timing(session, TaskExecution, [s.value for s in TIMED_TASKS])
    final = {s.value for s in TERMINAL_RUNS}
    return {
        "executions": {
            "total": sum(runs.values()),
            "active": sum(n for status, n in runs.items() if status not in final),
            "completed": runs.get(RunStatus.COMPLETED.value, 0),
            "failed": runs.get(RunStatus.FAILED.value, 0),
            "cancelled": runs.get(RunStatus.CANCELLED.value, 0),
        },
        "steps": {
            "total": sum(tasks.values()),
            "succeeded": tasks.get(TaskStatus.COMPLETED.value, 0),
            "failed": tasks.get(TaskStatus.FAILED.value, 0),
        },
        "performance": {
            "average_execution_time_ms": run_avg,
            "average_step_time_ms": task_avg,
            "p95_execution_time_ms": run_p95,
            "p95_step_time_ms": task_p95,
        },
        "resource_usage": {"memory_mb": memory_mb(), "cpu_percent": _cpu_meter.percent()},
    }
