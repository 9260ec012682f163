"""The recovery sweep: finish what a crash left behind (run every ``sweep_interval`` by beat).

- A run that was written but never submitted (the API died between commit and send) is sent.
- A PAUSING or CANCELLING run is settled once nothing runs; tasks its dead workers left RUNNING
  are parked (pausing) or cancelled (cancelling) first.
- A stalled run, where no task is RUNNING on a live worker and nothing has moved for
  ``stall_seconds``, gets a new generation. Tasks stuck RUNNING on dead workers, and RETRYING
  ones, are reset, and what is left is submitted.
- The webhook outbox, and endpoints with deliveries due, are woken when no task is responsible
  for them (a lost message, a notifier killed mid-delivery).
- A direct invocation written but never sent is sent; one left RUNNING by a dead worker is
  FAILED with the reason (a direct call may have had side effects: it is not run again).

One sweep runs at a time across the fleet: a Redis lock decides which.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, func, select

from app.models import (
    Delivery,
    DeliveryStatus,
    Invocation,
    InvocationStatus,
    OutboxEntry,
    Run,
    RunStatus,
    TaskExecution,
    TaskStatus,
    Webhook,
)
from app.models.base import as_utc, utcnow
from app.services.control import recover_run, release_lost_task, settle_run
from app.services.definitions import dag_for
from app.services.delivery import wake, wake_expander
from app.services.dispatch import send_begin, submit_generation
from app.services.integrations import fail_lost_invocation, send_invocation
from app.services.leases import (
    LEASE_REFRESH,
    invocation_scope,
    lease_held,
    owner_alive,
    worker_id,
)

log = logging.getLogger(__name__)

LOCK = "harmonia:sweep:lock"
R, T = RunStatus, TaskStatus
ACTIVE = [R.PENDING.value, R.RUNNING.value]


def sweep(
    rt, *, unsent_after: float | None = None, stalled_after: float | None = None
) -> dict[str, Any]:
    settings = rt.settings
    unsent_after = settings.unsent_grace if unsent_after is None else unsent_after
    stalled_after = settings.stall_seconds if stalled_after is None else stalled_after
    me = worker_id()
    # Long enough to cover a sweep, short enough that one killed mid-sweep holds up the next
    # ones for two intervals at most (each step is a guarded compare-and-set: an overlap of two
    # sweeps wastes work but breaks nothing).
    lock_seconds = int(max(10, min(120, 2 * settings.sweep_interval)))
    if not rt.redis.set(LOCK, me, nx=True, ex=lock_seconds):
        return {"skipped": "another sweep is running"}
    try:
        return {
            "submitted": _submit_unsent(rt, unsent_after),
            "settled": _settle_stopping(rt),
            "recovered": _recover_stalled(rt, stalled_after),
            "invocations_sent": _send_unsent_invocations(rt, unsent_after),
            "invocations_failed": _fail_lost_invocations(rt),
            "webhooks_woken": _wake_webhooks(rt, unsent_after),
        }
    finally:
        if rt.redis.get(LOCK) == me:
            rt.redis.delete(LOCK)


def _submit_unsent(rt, after: float) -> list[str]:
    cutoff = utcnow() - timedelta(seconds=after)
    with rt.db.transaction() as session:
        rows = session.execute(
            select(Run.id, Run.generation, Run.workflow_definition_id, Run.plan).where(
                Run.submitted_at.is_(None), Run.status.in_(ACTIVE), Run.updated_at < cutoff
            )
        ).all()
        dags = {  # a run not begun yet needs none here: its worker loads it
            r.workflow_definition_id: dag_for(session, rt.settings, r.workflow_definition_id)
            for r in rows
            if r.plan
        }
    # A run with no plan was never begun: the worker that begins it writes its plan and submits.
    return [
        r.id
        for r in rows
        if (
            submit_generation(rt, r.id, r.generation, r.plan, dags[r.workflow_definition_id])
            if r.plan
            else send_begin(rt, r.id)
        )
    ]


def _settle_stopping(rt) -> list[str]:
    """PAUSING and CANCELLING runs: release tasks their dead workers left RUNNING, then settle."""
    with rt.db.transaction() as session:
        ids = (
            session.execute(
                select(Run.id).where(Run.status.in_([R.PAUSING.value, R.CANCELLING.value]))
            )
            .scalars()
            .all()
        )
        running = _running_tasks(session, ids)
    for run_id in ids:
        for row in running[run_id]:
            if not _still_running(rt, run_id, row):
                release_lost_task(rt, run_id, row.task_id, row.worker)
        settle_run(rt, run_id)
    return list(ids)


def _running_tasks(session, run_ids) -> dict[str, list]:
    """Each run's RUNNING tasks: who claimed them, and when."""
    found: dict[str, list] = {run_id: [] for run_id in run_ids}
    if not found:
        return found
    rows = session.execute(
        select(
            TaskExecution.run_id,
            TaskExecution.task_id,
            TaskExecution.worker,
            TaskExecution.started_at,
        ).where(TaskExecution.run_id.in_(list(found)), TaskExecution.status == T.RUNNING.value)
    )
    for row in rows:
        found[row.run_id].append(row)
    return found


def _recover_stalled(rt, after: float) -> list[str]:
    cutoff = utcnow() - timedelta(seconds=after)
    with rt.db.transaction() as session:
        last_move = (
            select(TaskExecution.run_id, func.max(TaskExecution.updated_at).label("moved"))
            .group_by(TaskExecution.run_id)
            .subquery()
        )
        candidates = (
            session.execute(
                select(Run.id)
                .join(last_move, last_move.c.run_id == Run.id)
                .where(
                    Run.status.in_(ACTIVE),
                    Run.submitted_at.is_not(None),
                    Run.updated_at < cutoff,
                    last_move.c.moved < cutoff,
                )
            )
            .scalars()
            .all()
        )
        running = _running_tasks(session, candidates)
    recovered = []
    for run_id in candidates:
        if any(_still_running(rt, run_id, row) for row in running[run_id]):
            continue  # something really runs: a long task is not a stall
        if recover_run(rt, run_id):
            recovered.append(run_id)
    return recovered


def _still_running(rt, run_id: str, row) -> bool:
    """Its owner lives and is still at it: the lease is fresh, or it started too recently to have
    written one. A live process whose task ended without recording it (its writes failed for
    longer than it retried) holds no lease, so the task is recovered, not left RUNNING forever."""
    if not owner_alive(rt, run_id, row.task_id, row.worker):
        return False
    started = as_utc(row.started_at)
    recent = started is not None and utcnow() - started < timedelta(seconds=2 * LEASE_REFRESH)
    return recent or lease_held(rt, run_id, row.task_id)


def _send_unsent_invocations(rt, after: float) -> list[str]:
    cutoff = utcnow() - timedelta(seconds=after)
    with rt.db.transaction() as session:
        rows = session.execute(
            select(Invocation.id, Invocation.parameters).where(
                Invocation.submitted_at.is_(None),
                Invocation.status == InvocationStatus.PENDING.value,
                Invocation.created_at < cutoff,
            )
        ).all()
    sent = []
    for row in rows:
        try:
            send_invocation(rt, row.id, row.parameters or {})
        except Exception:
            log.warning("could not send invocation %s; next sweep retries", row.id, exc_info=True)
            continue
        sent.append(row.id)
    return sent


def _fail_lost_invocations(rt) -> list[str]:
    with rt.db.transaction() as session:
        rows = session.execute(
            select(
                Invocation.id.label("invocation_id"),
                Invocation.capability_id.label("task_id"),
                Invocation.worker,
                Invocation.started_at,
            ).where(Invocation.status == InvocationStatus.RUNNING.value)
        ).all()
    return [
        row.invocation_id
        for row in rows
        if not _still_running(rt, invocation_scope(row.invocation_id), row)
        and fail_lost_invocation(rt, row.invocation_id, row.worker)
    ]


def _wake_webhooks(rt, after: float) -> list[str]:
    """Wake the outbox's expander if an entry has waited ``after`` seconds, and endpoints with a
    delivery due that long; ``wake`` leaves alone what a live task is responsible for. Returns
    what was woken."""
    cutoff = utcnow() - timedelta(seconds=after)
    with rt.db.transaction() as session:
        waiting = session.execute(
            select(OutboxEntry.seq).where(OutboxEntry.created_at < cutoff).limit(1)
        ).first()
        due = select(Webhook.id).where(  # by webhook: the deliveries' index begins with it
            exists().where(
                Delivery.webhook_id == Webhook.id,
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.created_at < cutoff,
                (Delivery.next_attempt_at.is_(None)) | (Delivery.next_attempt_at < cutoff),
            )
        )
        ids = session.execute(due).scalars().all()
    woken = ["outbox"] if waiting is not None and wake_expander(rt) else []
    return woken + wake(rt, ids)
