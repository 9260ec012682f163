"""Progress reports: how far a run has got, what blocks it, which milestones it reached and when
it should finish (``GET /api/v1/runs/{id}/progress``; seed 003 renders the same report).

A report is computed when it is read, from the run's task rows and events
(``app/engine/progress.py``), so it is never stale and the engine keeps nothing for it. The
engine only says *that* a report changed: before ``Work`` writes a unit's events, a run whose
progress they change gets a ``progress_updated`` event in the same transaction, with the done
and total task counts. Those cost the worker no extra round trip (it counts in the statement
that takes its run lock, ``lock_run_counting``); elsewhere one COUNT (``task_counts``). Clients
fetch the report on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from app.engine.dag import SYNC_POINTS, Dag
from app.engine.progress import (
    BLOCKER_EVENTS,
    DONE,
    Blocker,
    Durations,
    Milestone,
    TaskFact,
    agent_of,
    blockers,
    milestones,
    remaining_seconds,
    waiting_on_agents,
)
from app.models import Agent, Event, Run, RunStatus, TaskExecution, TaskStatus, Workflow
from app.models.base import as_utc, utcnow
from app.services.definitions import dag_for
from app.services.errors import RunNotFound

# Only these runs are heading for completion by themselves: the others have no ETA.
PROGRESSING = frozenset({RunStatus.PENDING.value, RunStatus.RUNNING.value})
# Completed runs of the same workflow whose task durations inform the estimate.
HISTORY_RUNS = 5
# Events after which a run's report reads differently (counts, blockers, milestones or ETA).
CHANGES = frozenset(
    {
        "execution_started",
        "execution_paused",
        "execution_resumed",
        "execution_completed",
        "execution_failed",
        "execution_cancelled",
        "task_completed",
        "task_failed",
        "task_skipped",
        "task_retrying",
        "task_cancelled",
    }
)
# A run's streams end at its final event, so its progress_updated goes before that.
FINAL = frozenset({"execution_completed", "execution_failed", "execution_cancelled"})
_PLACE = re.compile(re.escape(SYNC_POINTS) + r"\[(\d+)\]$")


@dataclass(frozen=True)
class ProgressReport:
    id: str  # a run has one report: it has the run's id
    run_id: str
    status: str
    completed_tasks: int
    total_tasks: int
    estimated_completion: datetime | None
    blockers: list[Blocker]
    milestones: list[Milestone]
    generated_at: datetime


def progress_report(
    rt_or_session: Any, run_id: str, *, settings=None, now: datetime | None = None
) -> ProgressReport:
    """The run's report (``RunNotFound`` for an unknown id).

    ``@transactional``'s contract (a runtime opens a transaction, a session joins one), with the
    settings the DAG cache needs: the runtime's, or given along with a session."""
    if isinstance(rt_or_session, Session):
        if settings is None:
            raise TypeError("progress_report(session, …) needs settings=")
        return _report(rt_or_session, settings, run_id, now or utcnow())
    with rt_or_session.db.transaction() as session:
        return _report(session, settings or rt_or_session.settings, run_id, now or utcnow())


def _report(session: Session, settings, run_id: str, now: datetime) -> ProgressReport:
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(run_id)
    dag = dag_for(session, settings, run.workflow_definition_id)
    tasks = {
        row.task_id: TaskFact(
            row.task_id, row.status, as_utc(row.started_at), as_utc(row.completed_at), row.id
        )
        for row in session.execute(
            select(
                TaskExecution.id,
                TaskExecution.task_id,
                TaskExecution.status,
                TaskExecution.started_at,
                TaskExecution.completed_at,
            ).where(TaskExecution.run_id == run_id)
        )
    }
    real = [tid for tid in dag.tasks if tid not in dag.synchronization_points]
    progressing = run.status in PROGRESSING
    found = blockers(
        _blocker_events(session, run_id), tasks, {tid: t.name for tid, t in dag.tasks.items()}
    )
    if progressing:
        found += waiting_on_agents(dag, tasks, _agents(session, dag, tasks), as_utc(run.created_at))
    return ProgressReport(
        id=run.id,
        run_id=run.id,
        status=run.status,
        completed_tasks=sum(tid in tasks and tasks[tid].status in DONE for tid in real),
        total_tasks=len(real),
        estimated_completion=_eta(session, run, dag, tasks, now) if progressing else None,
        blockers=sorted(found, key=lambda b: b.created_at),
        milestones=milestones(
            dag,
            tasks,
            started_at=as_utc(run.started_at),
            completed_at=as_utc(run.completed_at),
            completed=run.status == RunStatus.COMPLETED.value,
            descriptions=_sync_descriptions(session, run, dag),
        ),
        generated_at=now,
    )


def _eta(
    session: Session, run: Run, dag: Dag, tasks: dict[str, TaskFact], now: datetime
) -> datetime | None:
    """Now plus the remaining critical path, each task expected to take what it (or this run's
    tasks) took; ``None`` until anything can be estimated."""
    sync = dag.synchronization_points
    done = [f.seconds for tid, f in tasks.items() if tid not in sync and f.seconds is not None]
    running = [
        (now - f.started_at).total_seconds()
        for f in tasks.values()
        if f.status == TaskStatus.RUNNING.value and f.started_at is not None
    ]
    durations = Durations(done, _history(session, run, sync), max(running) if running else None)
    remaining = remaining_seconds(dag, tasks, durations, now)
    return None if remaining is None else now + timedelta(seconds=remaining)


def _history(session: Session, run: Run, sync: frozenset[str]) -> dict[str, list[float]]:
    """Task durations of the workflow's last few completed runs, by task id."""
    recent = (
        select(Run.id)
        .where(
            Run.workflow_id == run.workflow_id,
            Run.id != run.id,
            Run.status == RunStatus.COMPLETED.value,
        )
        .order_by(Run.completed_at.desc())
        .limit(HISTORY_RUNS)
    )
    found: dict[str, list[float]] = {}
    for row in session.execute(
        select(TaskExecution.task_id, TaskExecution.started_at, TaskExecution.completed_at).where(
            TaskExecution.run_id.in_(recent.scalar_subquery()),
            TaskExecution.status == TaskStatus.COMPLETED.value,
        )
    ):
        completed = TaskStatus.COMPLETED.value
        fact = TaskFact(row.task_id, completed, as_utc(row.started_at), as_utc(row.completed_at))
        if row.task_id not in sync and fact.seconds is not None:
            found.setdefault(row.task_id, []).append(fact.seconds)
    return found


class _Recorded(NamedTuple):
    id: int
    type: str
    task_id: str | None
    created_at: datetime
    data: dict[str, Any] | None


def _blocker_events(session: Session, run_id: str) -> list[_Recorded]:
    rows = session.execute(
        select(Event.id, Event.type, Event.task_id, Event.created_at, Event.data)
        .where(Event.run_id == run_id, Event.type.in_(BLOCKER_EVENTS))
        .order_by(Event.id)
    )
    return [_Recorded(r.id, r.type, r.task_id, as_utc(r.created_at), r.data) for r in rows]


def _agents(
    session: Session, dag: Dag, tasks: dict[str, TaskFact]
) -> dict[str, tuple[str, datetime]]:
    """Status and last change of the agents the run's tasks call (none: no query)."""
    names = {agent_of(dag.tasks[tid]) for tid in tasks if tid in dag.tasks} - {None}
    if not names:
        return {}
    rows = session.execute(
        select(Agent.name, Agent.status, Agent.updated_at).where(Agent.name.in_(names))
    )
    return {row.name: (row.status, as_utc(row.updated_at)) for row in rows}


def _sync_descriptions(session: Session, run: Run, dag: Dag) -> dict[str, str]:
    """Each synchronization point's ``description``, as its definition wrote it."""
    if not dag.synchronization_points:
        return {}
    definition = session.execute(
        select(Workflow.definition).where(Workflow.id == run.workflow_definition_id)
    ).scalar_one()
    points = definition.get(SYNC_POINTS) if isinstance(definition, dict) else None
    found = {}
    for tid in dag.synchronization_points:
        place = _PLACE.match(dag.tasks[tid].path)
        index = int(place.group(1)) if place else -1
        spec = points[index] if isinstance(points, list) and 0 <= index < len(points) else None
        if isinstance(spec, dict) and isinstance(spec.get("description"), str):
            found[tid] = spec["description"]
    return found


# --- announcing changes (called by ``Work`` on every commit with events) ----------------------


def changed_runs(events: Sequence[Event]) -> dict[str, int]:
    """Runs whose report these events change → where in ``events`` their ``progress_updated``
    goes: before the run's final event if there is one, else at the end."""
    where: dict[str, int] = {}
    for index, event in enumerate(events):
        if event.run_id is None or event.type not in CHANGES:
            continue
        if event.type in FINAL:
            where[event.run_id] = min(where.get(event.run_id, index), index)
        else:
            where.setdefault(event.run_id, len(events))
    return where


# Statements built once: they run after every task, and building one costs more than running it.
_IS_DONE = or_(*(TaskExecution.status == status for status in sorted(DONE)))
_DONE_ROWS = (
    select(func.count())
    .select_from(TaskExecution)
    .where(TaskExecution.run_id == Run.id, _IS_DONE)
    .scalar_subquery()
)
_COUNT_DONE = select(Run.workflow_definition_id, _DONE_ROWS).where(Run.id == bindparam("run_id"))
_COUNT_DONE_AMONG = (
    select(func.count())
    .select_from(TaskExecution)
    .where(
        TaskExecution.run_id == bindparam("run_id"),
        TaskExecution.task_id.in_(bindparam("task_ids", expanding=True)),
        _IS_DONE,
    )
)
_DONE_OUTSIDE = (
    select(func.count())
    .select_from(TaskExecution)
    .where(
        TaskExecution.run_id == Run.id,
        _IS_DONE,
        TaskExecution.task_id.not_in(bindparam("sync", expanding=True)),
    )
    .scalar_subquery()
)
_LOCK_COUNTING = (
    select(Run.status, _DONE_OUTSIDE)
    .where(Run.id == bindparam("run_id"))
    .with_for_update(read=True, of=Run)
)


def lock_run_counting(session: Session, run_id: str, dag: Dag) -> tuple[str | None, int]:
    """``state.lock_run`` (the same share lock, taken at the same point) that also counts the
    run's done tasks, synchronization points excluded, in the same statement: the worker records
    a task's outcome and its ``progress_updated`` without another round trip. The count is
    taken before the caller's own change (``counts_after`` adds it)."""
    row = session.execute(
        _LOCK_COUNTING, {"run_id": run_id, "sync": sorted(dag.synchronization_points)}
    ).first()
    return (None, 0) if row is None else (row[0], row[1])


def counts_after(dag: Dag, done_before: int, task_id: str, outcome: str) -> dict[str, int]:
    """``progress_updated``'s counts once ``task_id`` has moved to ``outcome``."""
    sync = dag.synchronization_points
    done = done_before + (outcome in DONE and task_id not in sync)
    return {"completed_tasks": done, "total_tasks": len(dag.tasks) - len(sync)}


def task_counts(session: Session, settings, run_id: str) -> dict[str, int] | None:
    """``completed_tasks`` and ``total_tasks`` of a run without reading its task rows: the
    (cached) DAG gives the total, one COUNT on the run's (run, status) index the done ones. A
    synchronization point's row is counted out through the unique (run, task) index."""
    row = session.execute(_COUNT_DONE, {"run_id": run_id}).first()
    if row is None:
        return None
    dag = dag_for(session, settings, row[0])
    sync = dag.synchronization_points
    completed = row[1]
    if sync:
        completed -= session.execute(
            _COUNT_DONE_AMONG, {"run_id": run_id, "task_ids": sorted(sync)}
        ).scalar_one()
    return {"completed_tasks": completed, "total_tasks": len(dag.tasks) - len(sync)}
