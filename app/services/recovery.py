"""The recovery sweep: finish what a crash left behind (run every ``sweep_interval`` by beat).

- A run that was written but never submitted (the API died between commit and send) is sent.
- A PAUSING or CANCELLING run with nothing left running is settled.
- A stalled run, where no task is RUNNING on a live worker and nothing has moved for
  ``stall_seconds``, gets a new generation. Tasks stuck RUNNING on dead workers, and RETRYING
  ones, are reset, and what is left is submitted.

One sweep runs at a time across the fleet: a Redis lock decides which.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.models import Run, RunStatus, TaskExecution, TaskStatus
from app.models.base import utcnow
from app.services.control import recover_run, settle_run
from app.services.definitions import dag_for
from app.services.dispatch import submit_generation
from app.services.leases import owner_alive, worker_id

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
    if not rt.redis.set(LOCK, me, nx=True, ex=120):
        return {"skipped": "another sweep is running"}
    try:
        return {
            "submitted": _submit_unsent(rt, unsent_after),
            "settled": _settle_stopping(rt),
            "recovered": _recover_stalled(rt, stalled_after),
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
        dags = {
            r.workflow_definition_id: dag_for(session, rt.settings, r.workflow_definition_id)
            for r in rows
        }
    return [
        r.id
        for r in rows
        if r.plan
        and submit_generation(rt, r.id, r.generation, r.plan, dags[r.workflow_definition_id])
    ]


def _settle_stopping(rt) -> list[str]:
    with rt.db.transaction() as session:
        ids = (
            session.execute(
                select(Run.id).where(Run.status.in_([R.PAUSING.value, R.CANCELLING.value]))
            )
            .scalars()
            .all()
        )
    for run_id in ids:
        settle_run(rt, run_id)
    return list(ids)


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
        running = {
            run_id: session.execute(
                select(TaskExecution.task_id, TaskExecution.worker).where(
                    TaskExecution.run_id == run_id, TaskExecution.status == T.RUNNING.value
                )
            ).all()
            for run_id in candidates
        }
    recovered = []
    for run_id in candidates:
        if any(owner_alive(rt, run_id, row.task_id, row.worker) for row in running[run_id]):
            continue  # something really runs: a long task is not a stall
        if recover_run(rt, run_id):
            recovered.append(run_id)
    return recovered
