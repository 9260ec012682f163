"""Handing canvases to the broker: the first segment of a generation, and every continuation."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import update

from app.engine.compiler import Emitter, PlanIndex
from app.engine.dag import Dag
from app.models import Run
from app.models.base import utcnow

log = logging.getLogger(__name__)

# Headroom over a task's own timeout before Celery's hard limit kills the worker process.
HARD_LIMIT_GRACE = 30


def emitter_for(
    rt, run_id: str, generation: int, plan: dict[str, Any], dag: Dag, index: PlanIndex | None = None
) -> Emitter:
    def task_options(tid: str) -> dict[str, Any]:
        task = dag.tasks[tid]
        options: dict[str, Any] = {}
        if task.queue:
            options["queue"] = task.queue
        if task.timeout:
            options["soft_time_limit"] = task.timeout + 5
            options["time_limit"] = task.timeout + HARD_LIMIT_GRACE
        return options

    return Emitter(
        plan,
        run_id,
        generation,
        app=rt.celery,
        segment_size=rt.settings.segment_size,
        task_options=task_options,
        index=index,
    )


# One canvas at a time per process. Sending a group of chains or chords takes a producer from the
# process's pool (``broker_pool_limit``), then a nested one for each member (Celery's chain drops
# the producer it is handed), so as many concurrent sends as the pool has producers each hold one
# and wait for a second: every API thread submitting a run then blocks for good (celery#5220).
_SENDING = threading.Lock()


def send(canvas, app) -> None:
    """Hand a canvas to the broker (the one place Harmonia submits work).

    The app's result backend (``worker.celery_app.ResultBackend``) keeps Celery from subscribing
    this process to the results of every group member it sends.
    """
    with _SENDING:
        canvas.apply_async()


def send_begin(rt, run_id: str) -> bool:
    """Ask a worker to begin a run the API wrote (``harmonia.begin_run``: task rows, plan, first
    segment). Unsent, the run stays PENDING with no plan, and the recovery sweep sends it."""
    try:
        send(rt.celery.signature("harmonia.begin_run", args=(run_id,)), rt.celery)
    except Exception:
        log.exception("could not send run %s to begin; the recovery sweep will retry", run_id)
        return False
    return True


def submit_generation(rt, run_id: str, generation: int, plan: dict[str, Any], dag: Dag) -> bool:
    """Send the first segment of a run's generation; mark the outbox once the broker has it."""
    try:
        send(emitter_for(rt, run_id, generation, plan, dag).start(), rt.celery)
    except Exception:
        log.exception(
            "could not submit run %s generation %s; the recovery sweep will retry",
            run_id,
            generation,
        )
        return False
    try:
        with rt.db.transaction() as session:
            session.execute(
                update(Run)
                .where(Run.id == run_id, Run.generation == generation)
                .values(submitted_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    except Exception:
        # Sent but not marked: the sweep sends this generation again, and atomic claims make
        # the second copy run nothing twice. Failing here would tell the caller it was not sent.
        log.warning("run %s was sent but could not be marked as sent", run_id, exc_info=True)
    return True
