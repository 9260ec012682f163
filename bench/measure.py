"""One shape on both sides (warm-up, then alternating measured runs), and the compile timing."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

from app.services import message_stats
from bench.report import COMPILE_TARGET_S, RATIO_TARGETS
from bench.runners import create_workflow, time_bare, time_compile, time_harmonia
from bench.shapes import Deps, Shape

SIDES = ("bare", "harmonia")


@dataclass
class Harness:
    """What a measurement talks to: the bare-Celery client, the in-process API and Redis."""

    client: Celery  # bare-Celery client (``make_celery(settings)``)
    http: Any  # the Harmonia app's test client
    redis: redis.Redis  # message-size records
    events: redis.Redis  # event subscriptions
    timeout: float
    log: Callable[[str], None]
    # Before each timed Harmonia run: the database as autovacuum keeps it (``services.vacuum``),
    # so no run pays for the dead rows of the runs timed before it, where autovacuum is off.
    vacuum: Callable[[], None] = lambda: None
    worker_pid: int | None = None  # the worker's main process, for the CPU split (bench/cpu.py)


def measure_shape(shape: Shape, h: Harness, repeat: int) -> dict[str, Any]:
    workflow_id = create_workflow(h.http, shape)
    runs: dict[str, list[float]] = {side: [] for side in SIDES}
    submits: dict[str, list[float]] = {side: [] for side in SIDES}
    for attempt in range(repeat + 1):  # attempt 0 is the warm-up
        for side in SIDES:
            h.client.control.purge()
            if side == "bare":
                timing = time_bare(h.client, shape, h.timeout)
            else:
                h.vacuum()
                timing = time_harmonia(h.http, h.events, workflow_id, h.timeout)
            label = "warm-up" if attempt == 0 else f"run {attempt}/{repeat}"
            h.log(
                f"{shape.name:<20} {side:<9} {label:<9} {timing.total:.3f} s "
                f"(submitted in {timing.submit:.3f} s)"
            )
            if attempt:
                runs[side].append(timing.total)
                submits[side].append(timing.submit)
    bare = statistics.median(runs["bare"])
    harmonia = statistics.median(runs["harmonia"])
    ratio = harmonia / bare
    return {
        "name": shape.name,
        "key": shape.key,
        "tasks": shape.size,
        "bare_s": bare,
        "harmonia_s": harmonia,
        "ratio": ratio,
        "target": RATIO_TARGETS[shape.key],
        "pass": ratio <= RATIO_TARGETS[shape.key],
        "bare_runs": runs["bare"],
        "harmonia_runs": runs["harmonia"],
        "bare_submit_s": statistics.median(submits["bare"]),
        "harmonia_submit_s": statistics.median(submits["harmonia"]),
    }


def measure_sizes(shape: Shape, h: Harness) -> dict[str, int | None]:
    """The largest task message each side publishes for ``shape``: one untimed run per side on a
    worker that records every message it publishes (``Worker(record_sizes=True)``), as this
    process does while it runs (``message_stats.enable``)."""
    workflow_id = create_workflow(h.http, shape)
    largest: dict[str, int | None] = {}
    message_stats.enable(h.redis)
    try:
        for side in SIDES:
            h.client.control.purge()
            message_stats.reset(h.redis)
            if side == "bare":
                time_bare(h.client, shape, h.timeout)
            else:
                time_harmonia(h.http, h.events, workflow_id, h.timeout)
            top = message_stats.largest(h.redis)
            largest[f"{side}_largest_message_bytes"] = None if top is None else top[1]
    finally:
        message_stats.disable()
    h.log(
        f"{shape.name:<20} largest message: bare {largest['bare_largest_message_bytes']} B, "
        f"harmonia {largest['harmonia_largest_message_bytes']} B"
    )
    return largest


def measure_compile(
    deps: Deps, client: Celery, segment_size: int, log: Callable[[str], None], repeat: int = 3
) -> dict[str, Any]:
    runs = [time_compile(deps, client, segment_size) for _ in range(repeat)]
    seconds = statistics.median(runs)
    log(f"validate+compile {len(deps):,} tasks: {', '.join(f'{r:.3f}' for r in runs)} s")
    return {
        "tasks": len(deps),
        "seconds": seconds,
        "runs": runs,
        "target_s": COMPILE_TARGET_S,
        "pass": seconds < COMPILE_TARGET_S,
    }
