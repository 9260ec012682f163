"""Celery tasks: thin, named, idempotent; each takes ids and reloads state (DESIGN §4)."""

from __future__ import annotations

import gc

from celery import shared_task
from celery.exceptions import Ignore
from celery.signals import worker_process_init, worker_process_shutdown

from app import metrics
from app.services import delivery, recovery, runs
from worker import execution, invocation, progression
from worker.runtime import get_runtime, reset_runtime, while_database_down


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    # Never reuse a parent's database or Redis sockets after fork; build this process's own
    # runtime now (it also connects the opt-in message-size recorder).
    reset_runtime()
    get_runtime()
    # What the process has loaded by now lives as long as it does: keep it out of the garbage
    # collector's full collections (about 120 ms each otherwise, a stall in whatever task runs).
    gc.freeze()


@worker_process_shutdown.connect
def _leave_live_gauges(**_kwargs) -> None:
    metrics.process_exiting()


# The run's state lives in the database: nothing reads these tasks' Celery results, so none is
# stored (a Redis write per task saved). A chord still counts its members through the result
# backend, which Celery does whether or not the result is kept.
RUN_TASK_OPTIONS = {"acks_late": True, "ignore_result": True}


@shared_task(name="harmonia.run_task", bind=True, max_retries=None, **RUN_TASK_OPTIONS)
def run_task(self, run_id: str, task_id: str, generation: int) -> str:
    try:
        return execution.execute_task(
            get_runtime(), run_id, task_id, generation, self.request.retries
        )
    except execution.Retry as retry:
        raise self.retry(countdown=retry.countdown, max_retries=None) from None
    except execution.Stop:
        # Stale, parked, cancelled or duplicate: end here without continuing the chain.
        raise Ignore() from None


@shared_task(name="harmonia.begin_run", **RUN_TASK_OPTIONS)
def begin_run(run_id: str) -> str:
    """Write a run's task rows and plan and submit its first segment (``runs.begin_run``)."""
    rt = get_runtime()
    submitted = while_database_down(
        rt, f"beginning run {run_id}", lambda: runs.begin_run(rt, run_id)
    )
    return "submitted" if submitted else "not submitted"


@shared_task(name="harmonia.advance", **RUN_TASK_OPTIONS)
def advance(
    run_id: str,
    generation: int,
    kind: str,
    node_id: str,
    index: int = 0,
    member: int | None = None,
    expected: int | None = None,
) -> str:
    rt = get_runtime()
    return while_database_down(
        rt,
        f"advancing run {run_id}",
        lambda: progression.advance(rt, run_id, generation, kind, node_id, index),
    )


@shared_task(name="harmonia.finalize_run", **RUN_TASK_OPTIONS)
def finalize_run(run_id: str, generation: int) -> str:
    rt = get_runtime()
    return while_database_down(
        rt, f"finalizing run {run_id}", lambda: progression.finalize_run(rt, run_id, generation)
    )


# Both limits, always: a task that sets only one is checked against the app-wide other one
# (``task_soft_time_limit`` is the default task timeout, an hour), and Celery refuses to send it.
SWEEP_LIMITS = {"soft_time_limit": 240, "time_limit": 300}


@shared_task(name="harmonia.sweep", acks_late=True, **SWEEP_LIMITS)
def sweep() -> dict:
    """The periodic recovery sweep (scheduled by Celery beat, see worker/celery_app.py)."""
    return recovery.sweep(get_runtime())


@shared_task(name="harmonia.invoke", acks_late=True)
def invoke(invocation_id: str) -> str:
    """A direct invocation of one capability (``POST /api/v1/integrations/.../capabilities/...``).
    Its time limits come with the message, from the invocation's own timeout."""
    return invocation.run_invocation(get_runtime(), invocation_id)


@shared_task(name="harmonia.notify", acks_late=True, soft_time_limit=3000, time_limit=3600)
def notify(webhook_id: str) -> dict:
    """Send one endpoint's due webhook deliveries, in order (``app/services/delivery.py``). Runs
    on the notify queue (``harmonia notifier``); many endpoints are drained side by side, each by
    one drain at a time."""
    return delivery.drain(get_runtime(), webhook_id)


@shared_task(name="harmonia.notify_outbox", acks_late=True, soft_time_limit=3000, time_limit=3600)
def notify_outbox() -> dict:
    """Turn webhook outbox entries into deliveries and wake their endpoints (one at a time)."""
    return delivery.expand(get_runtime())
