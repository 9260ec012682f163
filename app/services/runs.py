"""Run use-cases: start a run, read runs, their steps and their logs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import case, insert, select
from sqlalchemy.orm import Session

from app.engine.compiler import build_plan
from app.engine.validation import InvalidInput, validate_input
from app.models import Event, Run, RunStatus, TaskExecution
from app.models.base import new_id, utcnow
from app.services.definitions import validate_definition
from app.services.dispatch import submit_generation
from app.services.errors import InvalidRequest, NotFound, run_not_found, workflow_not_found
from app.services.pagination import paginate
from app.services.state import Work
from app.services.workflows import get_workflow

SORTABLE = {"created_at", "updated_at", "completed_at", "status"}


def start_run(
    rt,
    workflow_id: str,
    input_data: Any,
    *,
    triggered_by: str = "system",
    profile: str = "v1",
    variables: dict[str, Any] | None = None,
) -> Run:
    """Write the run and its task rows, then submit the first canvas segment (outbox order)."""
    with Work(rt) as work:
        session = work.session
        workflow = get_workflow(session, workflow_id)
        if workflow.status == "deleted":
            raise workflow_not_found(workflow_id)
        if workflow.status != "active":
            raise InvalidRequest(
                f"Workflow '{workflow_id}' is not active (status: {workflow.status})"
            )
        dag = validate_definition(session, rt.settings, workflow.definition)
        try:
            data = validate_input(dag.input_schema, input_data)
        except InvalidInput as exc:
            raise InvalidRequest(
                "Input validation failed: " + str(exc), [p.to_dict() for p in exc.problems]
            ) from None
        run_id = new_id()
        plan = build_plan(dag)
        now = utcnow()
        run = Run(
            id=run_id,
            workflow_id=workflow.lineage_id,
            workflow_definition_id=workflow.id,
            workflow_name=workflow.name,
            status=RunStatus.PENDING.value,
            generation=1,
            input_data=data,
            variables={**dag.variables, **(variables or {})},
            triggered_by=triggered_by,
            profile=profile,
            options={},
            plan=plan,
            created_at=now,
            updated_at=now,
        )
        session.add(run)
        session.flush()
        session.execute(
            insert(TaskExecution),
            [
                {
                    "id": new_id(),
                    "run_id": run_id,
                    "task_id": task.id,
                    "name": task.name,
                    "action": task.action,
                    "agent_name": task.agent,
                    "position": position,
                    "status": "PENDING",
                    "attempt": 0,
                    "generation": 1,
                    "updated_at": now,
                }
                for position, task in enumerate(dag.tasks.values())
            ],
        )
        work.controls[run_id] = (RunStatus.PENDING.value, 1, 0)
    submit_generation(rt, run_id, 1, plan, dag)
    return run


def get_run(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise run_not_found(run_id)
    return run


def list_runs(
    session: Session,
    *,
    page: int,
    page_size: int,
    status: str | None = None,
    workflow_id: str | None = None,
    workflow_definition_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort_by: str = "created_at",
    sort_order: str = "desc",
) -> dict[str, Any]:
    query = select(Run)
    if status:
        query = query.where(Run.status == status)
    if workflow_id:
        query = query.where(Run.workflow_id == workflow_id)
    if workflow_definition_id:
        query = query.where(Run.workflow_definition_id == workflow_definition_id)
    # Stored times are UTC; SQLite compares them as text, so the bounds must be UTC too.
    if created_after:
        query = query.where(Run.created_at > created_after.astimezone(timezone.utc))
    if created_before:
        query = query.where(Run.created_at < created_before.astimezone(timezone.utc))
    column = getattr(Run, sort_by if sort_by in SORTABLE else "created_at")
    ordered = column.asc() if sort_order == "asc" else column.desc()
    if sort_by == "completed_at":  # unfinished runs last, on every database
        ordered = (case((column.is_(None), 1), else_=0), ordered)
    else:
        ordered = (ordered,)
    return paginate(session, query.order_by(*ordered, Run.id), page, page_size)


def list_steps(session: Session, run_id: str) -> list[TaskExecution]:
    get_run(session, run_id)
    rows = (
        session.execute(select(TaskExecution).where(TaskExecution.run_id == run_id)).scalars().all()
    )
    # Seed 002: ordered by start time; steps that have not started follow in definition order.
    return sorted(rows, key=lambda r: (r.started_at is None, r.started_at or utcnow(), r.position))


def get_step(session: Session, run_id: str, step_id: str) -> TaskExecution:
    get_run(session, run_id)
    row = session.execute(
        select(TaskExecution).where(
            TaskExecution.run_id == run_id, TaskExecution.task_id == step_id
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Step '{step_id}' not found in run '{run_id}'")
    return row


def run_logs(session: Session, run_id: str, step_id: str | None = None) -> dict[str, Any]:
    """Engine lines (from the run's events) and each step's stdout/stderr, in time order."""
    run = get_run(session, run_id)
    if step_id is not None:
        get_step(session, run_id, step_id)
    events = select(Event).where(Event.run_id == run_id)
    if step_id is not None:
        events = events.where(Event.task_id == step_id)
    lines: list[dict[str, Any]] = [
        {
            "timestamp": event.created_at,
            "source": "engine",
            "step_id": event.task_id,
            "stream": "event",
            "level": "ERROR" if event.type.endswith("failed") else "INFO",
            "message": event.message or event.type,
        }
        for event in session.execute(events.order_by(Event.id)).scalars()
    ]
    steps = select(TaskExecution).where(TaskExecution.run_id == run_id)
    if step_id is not None:
        steps = steps.where(TaskExecution.task_id == step_id)
    for step in session.execute(steps.order_by(TaskExecution.position)).scalars():
        stamp = step.completed_at or step.started_at or step.updated_at
        for stream in ("stdout", "stderr"):
            for text in (getattr(step, stream) or "").splitlines():
                lines.append(
                    {
                        "timestamp": stamp,
                        "source": "step",
                        "step_id": step.task_id,
                        "stream": stream,
                        "level": "ERROR" if stream == "stderr" else "INFO",
                        "message": text,
                    }
                )
    lines.sort(key=lambda line: line["timestamp"])
    return {"run_id": run.id, "status": run.status, "lines": lines}
