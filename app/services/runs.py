"""Run use-cases: start a run, read runs, their steps and their logs."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import case, insert, null, select, update
from sqlalchemy.orm import Session

from app.engine.compiler import build_plan
from app.engine.dag import Dag
from app.engine.validation import InvalidInput, validate_input
from app.models import Event, Run, RunState, RunStatus, TaskExecution, Workflow
from app.models.base import new_id, utcnow
from app.services.definitions import dag_for, dag_in, runnable_dag
from app.services.dispatch import send_begin, submit_generation
from app.services.errors import (
    InvalidRequest,
    RunNotFound,
    StepNotFound,
    TaskExecutionNotFound,
    WorkflowNotFound,
)
from app.services.pagination import Page, Window, list_contains, paginate, paginate_list
from app.services.state import Work, promote_run
from app.services.transactions import transactional
from app.services.workflows import get_current_workflow, get_workflow, labels

SORTABLE = {"created_at", "updated_at", "completed_at", "status"}


def start_run(
    rt,
    workflow_id: str,
    input_data: Any,
    *,
    triggered_by: str = "system",
    profile: str = "v1",
    variables: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    latest: bool = False,
    start: bool = True,
) -> Run:
    """Write the run, then send the message that begins it on a worker (outbox order).

    The request does the same work for a run of 1,000 tasks as for one of 2: the run's row and
    state row. ``harmonia.begin_run`` writes the task rows and the plan and submits the first
    segment (``begin_run``). Until it has, the run is PENDING with no task rows: readers show its
    steps PENDING (``_unbegun_steps``), and seed 003's start answer lists none, as its document
    does.

    ``latest`` runs the workflow's latest version whichever version ``workflow_id`` names
    (clients that know no versions); ``options`` are recorded on the run as given (their
    ``metadata``'s ``tags`` and ``created_by`` are what lists filter by). Without ``start`` the
    run is written whole and left CREATED: ``control.start_created_run`` sends it."""
    with Work(rt) as work:
        session = work.session
        workflow = (get_current_workflow if latest else get_workflow)(session, workflow_id)
        if workflow.status == "deleted":
            raise WorkflowNotFound(workflow_id)
        if workflow.status != "active":
            raise InvalidRequest(
                f"Workflow '{workflow_id}' is not active (status: {workflow.status})"
            )
        dag = runnable_dag(session, rt.settings, workflow)
        try:
            data = validate_input(dag.input_schema, input_data)
        except InvalidInput as exc:
            raise InvalidRequest(
                "Input validation failed: " + str(exc), [p.to_dict() for p in exc.problems]
            ) from None
        run, _plan = create_run(
            work,
            workflow,
            dag,
            input_data=data,
            variables={**dag.variables, **(variables or {})},
            triggered_by=triggered_by,
            profile=profile,
            options=options,
            status=RunStatus.PENDING if start else RunStatus.CREATED,
            tasks=not start,
        )
    if start:
        send_begin(rt, run.id)
    return run


def begin_run(rt, run_id: str) -> bool:
    """Write a started run's task rows and plan, move it to RUNNING and submit its first segment
    (the worker's ``harmonia.begin_run``); True if this call submitted it.

    Only the call that writes the rows goes on. A second message finds them and does nothing:
    if the first was lost between its commit and its send, the recovery sweep sends the segment
    (the run is active, planned and unsent). A run paused or cancelled before it began got its
    rows from that operation (``ensure_tasks``) and is not submitted. Promoting the run here lets
    its first task take the single-statement claim (``attempts.claim``)."""
    with Work(rt) as work:
        run = work.session.execute(
            select(
                Run.workflow_definition_id, Run.generation, Run.workflow_id, Run.workflow_name
            ).where(Run.id == run_id)
        ).one_or_none()
        if run is None:
            return False
        dag = dag_for(work.session, rt.settings, run.workflow_definition_id)
        plan, wrote = ensure_tasks(work, run_id, dag)
        if not wrote:
            return False
        promote_run(work, run_id, run.generation, run.workflow_id, run.workflow_name)
    return submit_generation(rt, run_id, run.generation, plan, dag)


def ensure_tasks(work: Work, run_id: str, dag: Dag | None = None) -> tuple[dict[str, Any], bool]:
    """The run's plan, and whether this call wrote it: a run not begun yet gets its plan and
    task rows here.

    Whoever sets the plan (a conditional UPDATE, so racing callers serialise on the run's row)
    writes the rows, in the same transaction; everyone else reads the plan it wrote."""
    session = work.session
    plan = session.execute(select(Run.plan).where(Run.id == run_id)).scalar_one()
    if plan is not None:
        return plan, False
    if dag is None:
        version = session.execute(
            select(Run.workflow_definition_id).where(Run.id == run_id)
        ).scalar_one()
        dag = dag_for(session, work.rt.settings, version)
    plan = build_plan(dag)
    won = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.plan.is_(None))
        .values(plan=plan)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        return session.execute(select(Run.plan).where(Run.id == run_id)).scalar_one(), False
    _write_tasks(session, run_id, dag, {}, utcnow())
    return plan, True


def create_run(
    work: Work,
    workflow: Workflow,
    dag: Dag,
    *,
    input_data: dict[str, Any],
    variables: dict[str, Any],
    triggered_by: str,
    profile: str = "v1",
    state: dict[str, Any] | None = None,
    carried: dict[str, dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
    original_run_id: str | None = None,
    checkpoint_id: str | None = None,
    status: RunStatus = RunStatus.PENDING,
    tasks: bool = True,
) -> tuple[Run, dict[str, Any] | None]:
    """Write a new run of one workflow version: its row, task rows, state row and plan.

    Without ``tasks`` only the run's row and state row are written: ``begin_run`` writes the
    rest on a worker.

    ``carried`` holds tasks that are already done (a restore): they are written with their
    status, output and timestamps and are left out of the plan, so they do not run again.
    """
    session = work.session
    carried = carried or {}
    run_id = new_id()
    plan = build_plan(dag, done=set(carried)) if tasks else None
    now = utcnow()
    run = Run(
        id=run_id,
        workflow_id=workflow.lineage_id,
        workflow_definition_id=workflow.id,
        workflow_name=workflow.name,
        status=status.value,
        generation=1,
        input_data=input_data,
        variables=variables,
        triggered_by=triggered_by,
        profile=profile,
        options=options or {},
        plan=plan if tasks else null(),  # SQL NULL, not JSON null: ``ensure_tasks`` asks
        created_at=now,
        updated_at=now,
        original_run_id=original_run_id,
        checkpoint_id=checkpoint_id,
        **labels((options or {}).get("metadata")),
    )
    session.add(run)
    session.flush()
    if tasks:
        _write_tasks(session, run_id, dag, carried, now)
    session.execute(
        insert(RunState),
        [{"run_id": run_id, "data": state or {}, "updated_at": now if state else None}],
    )
    work.controls[run_id] = (status.value, 1, 0)
    return run, plan


def _write_tasks(
    session: Session,
    run_id: str,
    dag: Dag,
    carried: dict[str, dict[str, Any]],
    now: datetime,
) -> None:
    session.execute(insert(TaskExecution), _task_rows(run_id, dag, carried, now))


def _task_rows(
    run_id: str, dag: Dag, carried: dict[str, dict[str, Any]], now: datetime | None
) -> list[dict[str, Any]]:
    return [
        {
            "id": task_row_id(run_id, task.id),
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
            **_carried_fields(carried.get(task.id)),
        }
        for position, task in enumerate(dag.tasks.values())
    ]


def task_row_id(run_id: str, task_id: str) -> str:
    """A task row's id, derived from its run's and its task's: the steps of a run not begun yet
    are shown with the ids their rows will have."""
    return str(uuid.uuid5(uuid.UUID(run_id), task_id))


def _unbegun_steps(session: Session, run: Run) -> list[TaskExecution]:
    """A run not begun yet has no task rows: its steps as ``begin_run`` will write them, PENDING
    (built here, never added to the session).

    Called when a read found no task rows: ``begin_run`` writes the rows and the plan in one
    transaction, so the run had not begun when that read ran. Its plan is not asked again (a
    deferred column, loaded by a later statement that could see the run begun since)."""
    dag = dag_in(session, run.workflow_definition_id)
    return [TaskExecution(**row) for row in _task_rows(run.id, dag, {}, None)]


def _carried_fields(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    if snapshot is None:
        return {}
    return {
        "status": snapshot["status"],
        "attempt": snapshot.get("attempt") or 0,
        "input_data": snapshot.get("input"),
        "output_data": snapshot.get("output"),
        "started_at": _when(snapshot.get("started_at")),
        "completed_at": _when(snapshot.get("completed_at")),
    }


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@transactional
def get_run(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(run_id)
    return run


@transactional
def list_runs(
    session: Session,
    *,
    window: Window,
    status: str | list[str] | None = None,
    workflow_id: str | None = None,
    workflow_definition_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    tag: str | None = None,
    created_by: str | None = None,
    sort_by: str = "created_at",
    sort_order: str = "desc",
) -> Page:
    query = select(Run)
    if tag:
        query = query.where(list_contains(session, Run.tags, tag))
    if created_by:
        query = query.where(Run.created_by == created_by)
    if status:
        query = query.where(Run.status.in_([status] if isinstance(status, str) else status))
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
    return paginate(session, query.order_by(*ordered, Run.id), window)


class RunDetail(NamedTuple):
    """A run with its task rows in definition order."""

    run: Run
    steps: list[TaskExecution]


@transactional
def describe_run(session: Session, run_id: str, *, unbegun: bool = True) -> RunDetail:
    """``unbegun=False``: a run not begun yet has no steps (not its planned ones)."""
    # One statement, so the run and its tasks are read at one instant: two SELECTs under READ
    # COMMITTED could show a task RUNNING in a run still PENDING (a claim committed between).
    rows = session.execute(
        select(Run, TaskExecution)
        .outerjoin(TaskExecution, TaskExecution.run_id == Run.id)
        .where(Run.id == run_id)
        .order_by(TaskExecution.position)
        .execution_options(populate_existing=True)
    ).all()
    if not rows:
        raise RunNotFound(run_id)
    run = rows[0][0]
    steps = [step for _, step in rows if step is not None]
    return RunDetail(run, steps or (_unbegun_steps(session, run) if unbegun else []))


class Execution(NamedTuple):
    """A run, the workflow version it runs, its task rows in definition order, and which of
    them are synchronization points (milestones, not tasks, to seed 003's clients)."""

    run: Run
    workflow: Workflow
    steps: list[TaskExecution]
    sync_points: frozenset[str]


def describe_execution(rt, run_id: str, *, unbegun: bool = True) -> Execution:
    with rt.db.transaction() as session:
        run, steps = describe_run(session, run_id, unbegun=unbegun)
        dag = dag_for(session, rt.settings, run.workflow_definition_id)
        workflow = session.get(Workflow, run.workflow_definition_id)
        return Execution(run, workflow, steps, dag.synchronization_points)


@transactional
def steps_by_run(session: Session, run_ids: list[str]) -> dict[str, list[TaskExecution]]:
    """The task rows of many runs in one query, each run's in definition order."""
    found: dict[str, list[TaskExecution]] = {run_id: [] for run_id in run_ids}
    if run_ids:
        rows = session.execute(
            select(TaskExecution)
            .where(TaskExecution.run_id.in_(run_ids))
            .order_by(TaskExecution.run_id, TaskExecution.position)
        ).scalars()
        for row in rows:
            found[row.run_id].append(row)
        empty = [run_id for run_id, steps in found.items() if not steps]
        if empty:
            for run in session.execute(select(Run).where(Run.id.in_(empty))).scalars():
                found[run.id] = _unbegun_steps(session, run)
    return found


@transactional
def runs_by_id(session: Session, run_ids: list[str]) -> dict[str, Run]:
    """Many runs in one query (an unknown id is left out)."""
    if not run_ids:
        return {}
    rows = session.execute(select(Run).where(Run.id.in_(run_ids))).scalars()
    return {run.id: run for run in rows}


@transactional
def get_task_execution(session: Session, task_execution_id: str) -> TaskExecution:
    """A task row by its own id (seed 003 addresses task executions so)."""
    row = session.get(TaskExecution, task_execution_id)
    if row is None:
        raise TaskExecutionNotFound(task_execution_id)
    return row


def list_task_executions(
    rt, run_id: str, *, window: Window, statuses: list[str] | None = None
) -> Page:
    """A run's task rows in definition order, without synchronization points (milestones)."""
    with rt.db.transaction() as session:
        run = get_run(session, run_id)
        hidden = dag_for(session, rt.settings, run.workflow_definition_id).synchronization_points
        begun = session.execute(
            select(TaskExecution.id).where(TaskExecution.run_id == run_id).limit(1)
        ).first()
        if begun is None:  # begin_run writes every row at once: none yet, the run has not begun
            rows = [
                row
                for row in _unbegun_steps(session, run)
                if row.task_id not in hidden and (statuses is None or row.status in statuses)
            ]
            return paginate_list(rows, window)
        query = select(TaskExecution).where(TaskExecution.run_id == run_id)
        if hidden:
            query = query.where(TaskExecution.task_id.not_in(hidden))
        if statuses is not None:
            query = query.where(TaskExecution.status.in_(statuses))
        return paginate(session, query.order_by(TaskExecution.position), window)


@transactional
def list_steps(session: Session, run_id: str) -> list[TaskExecution]:
    run = get_run(session, run_id)
    rows = (
        session.execute(select(TaskExecution).where(TaskExecution.run_id == run_id)).scalars().all()
    ) or _unbegun_steps(session, run)
    # Seed 002: ordered by start time; steps that have not started follow in definition order.
    return sorted(rows, key=lambda r: (r.started_at is None, r.started_at or utcnow(), r.position))


@transactional
def get_step(session: Session, run_id: str, step_id: str) -> TaskExecution:
    run = get_run(session, run_id)
    row = session.execute(
        select(TaskExecution).where(
            TaskExecution.run_id == run_id, TaskExecution.task_id == step_id
        )
    ).scalar_one_or_none()
    if row is None:
        row = next((s for s in _unbegun_steps(session, run) if s.task_id == step_id), None)
    if row is None:
        raise StepNotFound(run_id, step_id)
    return row


@transactional
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


@transactional
def run_variables(session: Session, run_id: str, render=None) -> dict[str, Any]:
    """Seed 004's view: the run's variables plus ``<step>_output`` for every completed step
    (each passed through ``render`` when given)."""
    render = render or (lambda output: output)
    run = get_run(session, run_id)
    outputs = session.execute(
        select(TaskExecution.task_id, TaskExecution.output_data)
        .where(TaskExecution.run_id == run_id, TaskExecution.status == "COMPLETED")
        .order_by(TaskExecution.position)
    ).all()
    return {
        "run_id": run.id,
        "execution_id": run.id,
        "input_data": run.input_data or {},
        "variables": {
            **(run.variables or {}),
            **{f"{row.task_id}_output": render(row.output_data) for row in outputs},
        },
    }
