"""Timing one run on each side, and the in-process validate + compile of a large DAG."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

from app.engine.compiler import Emitter, build_plan
from app.engine.validation import Catalogue, load_definition
from app.events.bus import global_channel
from bench.services import BENCH_PREFIX
from bench.shapes import Deps, Shape, harmonia_definition

TERMINAL_EVENTS = ("execution_completed", "execution_failed")
TERMINAL_STATUSES = {"COMPLETED", "FAILED", "CANCELLED"}
POLL_INTERVAL = 0.02
# With no event for this long, ask the API as well (an event can be lost; the table cannot).
SILENCE_CHECK = 1.0


@dataclass(frozen=True)
class Timing:
    total: float  # submit → final result (bare) or → the run's final event (Harmonia)
    submit: float  # until ``apply_async`` / ``POST …/execute`` returned
    run_id: str | None = None  # Harmonia's run


def time_bare(client: Celery, shape: Shape, timeout: float, runs: int = 1) -> Timing:
    """From submitting ``runs`` copies of the hand-written canvas, back to back, to the last
    one's final result."""
    canvases = [shape.canvas(client) for _ in range(runs)]
    started = time.perf_counter()
    results = [canvas.apply_async() for canvas in canvases]
    submitted = time.perf_counter()
    deadline = started + timeout
    try:
        for result in results:
            left = max(deadline - time.perf_counter(), 0.1)
            result.get(timeout=left, disable_sync_subtasks=False)
    finally:
        del results
    return Timing(time.perf_counter() - started, submitted - started)


def drop_waiters(client: Celery) -> int:
    """Forget the results a Celery client registered as pending and never waited on; how many.

    Building a ``GroupResult`` (any chord header) registers every member as a pending result and
    subscribes to its Redis channel; they stay until their messages are drained (celery#4925).
    Left alone, each one's ``__del__`` tries to unsubscribe during interpreter shutdown.
    """
    pending = getattr(client.backend, "_pending_results", ())
    count = sum(len(waiters) for mapping in pending for waiters in mapping.values())
    for mapping in pending:
        mapping.clear()
    return count


def create_workflow(http, shape: Shape) -> str:
    name = f"{BENCH_PREFIX}{shape.key}-{uuid.uuid4().hex[:8]}"
    response = http.post("/api/v1/workflows", json=harmonia_definition(name, shape.deps))
    if response.status_code != 201:
        raise RuntimeError(f"creating {shape.name} failed: {response.status_code} {response.json}")
    return response.json["id"]


def time_harmonia(
    http, events: redis.Redis, workflow_id: str, timeout: float, runs: int = 1
) -> Timing:
    """From the first of ``runs`` back-to-back ``POST …/execute`` until the last run's final
    event; every run must complete."""
    pubsub = events.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(global_channel(events))  # before posting, so no event can be missed
    try:
        started = time.perf_counter()
        run_ids = [_execute(http, workflow_id) for _ in range(runs)]
        submitted = time.perf_counter()
        _wait_for_end(http, pubsub, set(run_ids), started + timeout)
        timing = Timing(time.perf_counter() - started, submitted - started, run_ids[-1])
    finally:
        pubsub.close()
    for run_id in run_ids:
        run = http.get(f"/api/v1/runs/{run_id}").json
        if run["status"] != "COMPLETED":
            raise RuntimeError(f"run {run_id} ended {run['status']}: {run.get('error_message')}")
    return timing


def _execute(http, workflow_id: str) -> str:
    response = http.post(f"/api/v1/workflows/{workflow_id}/execute", json={"input_data": {}})
    if response.status_code != 202:
        raise RuntimeError(f"execute failed: {response.status_code} {response.json}")
    return response.json["run_id"]


def _wait_for_end(http, pubsub, run_ids: set[str], deadline: float) -> None:
    pending = set(run_ids)
    last_check = time.perf_counter()
    use_events = True
    while time.perf_counter() < deadline:
        if use_events:
            try:
                message = pubsub.get_message(timeout=POLL_INTERVAL)
            except redis.RedisError:
                use_events = False  # fall back to polling the API
                continue
            if message:
                pending.discard(_ended_run(message["data"]))
                if not pending:
                    return
            if message or time.perf_counter() - last_check < SILENCE_CHECK:
                continue
        else:
            time.sleep(POLL_INTERVAL)
        last_check = time.perf_counter()
        pending = {
            run_id
            for run_id in pending
            if http.get(f"/api/v1/runs/{run_id}").json["status"] not in TERMINAL_STATUSES
        }
        if not pending:
            return
    raise TimeoutError(f"{len(pending)} of {len(run_ids)} runs did not finish in time")


def _ended_run(data: Any) -> str | None:
    """The run whose final event ``data`` is, or None."""
    if not isinstance(data, str) or "execution_" not in data:
        return None  # cheap filter: most events are task events
    event = json.loads(data)
    return event.get("run_id") if event.get("type") in TERMINAL_EVENTS else None


def time_compile(deps: Deps, client: Celery, segment_size: int) -> float:
    """Seconds to validate, plan and emit the first canvas segment of ``deps``, in process."""
    doc = harmonia_definition("bench-compile", deps)
    started = time.perf_counter()
    dag = load_definition(doc, Catalogue())
    plan = build_plan(dag)
    Emitter(plan, "bench", 1, app=client, segment_size=segment_size).start()
    return time.perf_counter() - started
