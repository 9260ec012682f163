"""Checkpoints and restore (DESIGN §4): snapshot a run in the database, start a new run from it.

A checkpoint holds what a run needs to carry on: its status and generation, the workflow version,
the input, variables, custom state, per-step input overrides, and every task's status, attempts,
input and output. It is read in one consistent snapshot (REPEATABLE READ on Postgres; SQLite's
transactions are serialisable), so a task is never half in it.

Restoring creates a NEW run of the same workflow version: the tasks that were done (COMPLETED, or
SKIPPED by their condition) are written as done with their outputs and are not run again; the rest
is compiled and submitted. Checkpoints are also taken automatically when the workflow's
``checkpoint`` option asks (every N completed tasks, on pause); ``auto_key`` makes each of those
happen once however many workers race to take it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Checkpoint, Run, TaskExecution, Workflow
from app.models.base import as_utc
from app.models.status import TASK_DONE
from app.services.definitions import dag_for
from app.services.dispatch import submit_generation
from app.services.errors import CheckpointNotFound, InvalidRequest
from app.services.pagination import Page, Window, paginate
from app.services.run_state import read_state
from app.services.runs import RunDetail, create_run, describe_run, get_run
from app.services.state import Work
from app.services.transactions import transactional

log = logging.getLogger(__name__)

DONE = {status.value for status in TASK_DONE}


def create_checkpoint(
    rt, run_id: str, *, name: str | None = None, description: str | None = None
) -> Checkpoint:
    """A manual checkpoint, in any run status."""
    with Work(rt, snapshot=True) as work:
        get_run(work.session, run_id)
        return snapshot(work, run_id, trigger="manual", name=name, description=description)


def snapshot(
    work: Work,
    run_id: str,
    *,
    trigger: str,
    name: str | None = None,
    description: str | None = None,
    auto_key: str | None = None,
) -> Checkpoint:
    """Write a checkpoint of the run as this transaction sees it, and its event."""
    session = work.session
    run = session.execute(
        select(
            Run.status,
            Run.generation,
            Run.workflow_id,
            Run.workflow_definition_id,
            Run.input_data,
            Run.variables,
            Run.options,
        ).where(Run.id == run_id)
    ).one()
    rows = session.execute(  # not the logs: a checkpoint keeps what a restore needs
        select(
            TaskExecution.task_id,
            TaskExecution.status,
            TaskExecution.attempt,
            TaskExecution.input_data,
            TaskExecution.output_data,
            TaskExecution.error_message,
            TaskExecution.started_at,
            TaskExecution.completed_at,
        )
        .where(TaskExecution.run_id == run_id)
        .order_by(TaskExecution.position)
    )
    tasks = {
        row.task_id: {
            "status": row.status,
            "attempt": row.attempt,
            "input": row.input_data,
            "output": row.output_data,
            "error_message": row.error_message,
            "started_at": _iso(row.started_at),
            "completed_at": _iso(row.completed_at),
        }
        for row in rows
    }
    checkpoint = Checkpoint(
        run_id=run_id,
        workflow_id=run.workflow_id,
        workflow_definition_id=run.workflow_definition_id,
        name=name,
        description=description,
        trigger=trigger,
        auto_key=auto_key,
        run_status=run.status,
        generation=run.generation,
        input_data=run.input_data or {},
        variables=run.variables or {},
        state=read_state(session, run_id),
        input_overrides=(run.options or {}).get("input_overrides") or {},
        tasks=tasks,
        created_at=datetime.now(timezone.utc),
    )
    session.add(checkpoint)
    session.flush()
    done = [tid for tid, task in tasks.items() if task["status"] in DONE]
    work.emit(
        run_id,
        "checkpoint_created",
        data={
            "checkpoint_id": checkpoint.id,
            "name": name,
            "trigger": trigger,
            "run_status": run.status,
            "completed_tasks": done,
        },
        message=f"Checkpoint {name or checkpoint.id} created ({trigger}, {len(done)} task(s) done)",
    )
    return checkpoint


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


@transactional
def get_checkpoint(session: Session, checkpoint_id: str) -> Checkpoint:
    checkpoint = session.get(Checkpoint, checkpoint_id)
    if checkpoint is None:
        raise CheckpointNotFound(checkpoint_id)
    return checkpoint


@transactional
def list_checkpoints(session: Session, *, window: Window, run_id: str | None = None) -> Page:
    query = select(Checkpoint)
    if run_id:
        query = query.where(Checkpoint.run_id == run_id)
    query = query.order_by(Checkpoint.created_at.desc(), Checkpoint.id)
    return paginate(session, query, window)


@transactional
def list_run_checkpoints(session: Session, run_id: str, **page) -> Page:
    get_run(session, run_id)
    return list_checkpoints(session, run_id=run_id, **page)


def delete_checkpoint(rt, checkpoint_id: str) -> None:
    with rt.db.transaction() as session:
        session.delete(get_checkpoint(session, checkpoint_id))


def restore_checkpoint(
    rt,
    checkpoint_id: str,
    *,
    triggered_by: str = "system",
    profile: str = "v1",
    options: dict[str, Any] | None = None,
) -> Run:
    """A new run from the checkpoint: done tasks keep their outputs; the rest runs.
    ``options`` are recorded on the new run as given."""
    with Work(rt) as work:
        session = work.session
        checkpoint = get_checkpoint(session, checkpoint_id)
        workflow = session.get(Workflow, checkpoint.workflow_definition_id)
        if workflow is None:
            raise InvalidRequest(
                f"Checkpoint '{checkpoint_id}' cannot be restored: its workflow version "
                f"'{checkpoint.workflow_definition_id}' no longer exists"
            )
        dag = dag_for(session, rt.settings, checkpoint.workflow_definition_id)
        carried = {
            tid: task
            for tid, task in (checkpoint.tasks or {}).items()
            if task["status"] in DONE and tid in dag.tasks
        }
        overrides = checkpoint.input_overrides or {}
        run, plan = create_run(
            work,
            workflow,
            dag,
            input_data=checkpoint.input_data or {},
            variables=checkpoint.variables or {},
            triggered_by=triggered_by,
            profile=profile,
            state=checkpoint.state or {},
            carried=carried,
            options={**(options or {}), **({"input_overrides": overrides} if overrides else {})},
            original_run_id=checkpoint.run_id,
            checkpoint_id=checkpoint.id,
        )
        work.emit(
            run.id,
            "execution_restored",
            data={
                "original_run_id": checkpoint.run_id,
                "checkpoint_id": checkpoint.id,
                "restored_tasks": sorted(carried),
                "tasks_to_run": len(dag.tasks) - len(carried),
            },
            message=f"Run restored from checkpoint {checkpoint.name or checkpoint.id} of run "
            f"{checkpoint.run_id}: {len(carried)} task(s) carried over",
        )
    submit_generation(rt, run.id, 1, plan, dag)
    return run


def restore_checkpoint_detail(rt, checkpoint_id: str, **kwargs: Any) -> RunDetail:
    """``restore_checkpoint``, answered with the new run's tasks (for documents that show
    each task's status in the answer)."""
    return describe_run(rt, restore_checkpoint(rt, checkpoint_id, **kwargs).id)


# -- automatic checkpoints ------------------------------------------------------------------------


def after_task_completed(rt, run_id: str, every_n_tasks: int) -> Checkpoint | None:
    """Take the checkpoint due when the run's completed tasks reach a multiple of N."""
    try:
        with Work(rt, snapshot=True) as work:
            completed = work.session.execute(
                select(func.count())
                .select_from(TaskExecution)
                .where(TaskExecution.run_id == run_id, TaskExecution.status == "COMPLETED")
            ).scalar_one()
            if completed < every_n_tasks:
                return None
            key = f"tasks:{completed - completed % every_n_tasks}"
            if _taken(work.session, run_id, key):
                return None
            return snapshot(work, run_id, trigger="every_n_tasks", auto_key=key)
    except IntegrityError:  # another worker took this one first
        return None


def on_pause(work: Work, run_id: str) -> None:
    """Within the transaction that moved the run to PAUSED: checkpoint it if the workflow asks."""
    run = work.session.execute(
        select(Run.workflow_definition_id, Run.generation).where(Run.id == run_id)
    ).one()
    dag = dag_for(work.session, work.rt.settings, run.workflow_definition_id)
    if not dag.checkpoint.on_pause:
        return
    key = f"pause:{run.generation}"
    if not _taken(work.session, run_id, key):
        snapshot(work, run_id, trigger="on_pause", auto_key=key)


def _taken(session: Session, run_id: str, key: str) -> bool:
    return (
        session.execute(
            select(Checkpoint.id).where(Checkpoint.run_id == run_id, Checkpoint.auto_key == key)
        ).first()
        is not None
    )
