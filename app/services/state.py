"""One door for state: every run and task status change, its event, and the control record.

A ``Work`` is a unit of work: one database transaction plus the events and control records that are
published once it commits. ``transition_run`` / ``transition_task`` are the only code that writes a
``status``; each is a conditional UPDATE guarded by the transition table, so racing callers (two
workers, a worker and the API) can never move a row along an edge the table forbids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.events.bus import publish
from app.events.model import render_event
from app.models import Event, Run, TaskExecution
from app.models.base import utcnow
from app.models.status import RUN_TRANSITIONS, TASK_TRANSITIONS, RunStatus, TaskStatus

log = logging.getLogger(__name__)

CONTROL_TTL = 7 * 24 * 3600


def control_key(run_id: str) -> str:
    return f"harmonia:control:{run_id}"


class Work:
    def __init__(self, rt):
        self.rt = rt
        self.session: Session = rt.db.session()
        self.events: list[Event] = []
        self.controls: dict[str, tuple[str, int]] = {}

    def __enter__(self) -> Work:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.session.rollback()
        finally:
            self.session.close()

    def emit(
        self,
        run_id: str | None,
        type_: str,
        *,
        task_id: str | None = None,
        data: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> Event:
        event = Event(
            run_id=run_id,
            task_id=task_id,
            type=type_,
            data=data or {},
            message=message,
            created_at=utcnow(),
        )
        self.session.add(event)
        self.events.append(event)
        return event

    def commit(self) -> None:
        if self.events:
            self.session.flush()
        self.session.commit()
        self.after_commit()

    def after_commit(self) -> None:
        try:
            if self.events:
                publish(self.rt.redis, [render_event(e) for e in self.events])
            if self.controls:
                pipe = self.rt.redis.pipeline(transaction=False)
                for run_id, (status, generation) in self.controls.items():
                    value = json.dumps({"status": status, "generation": generation})
                    pipe.set(control_key(run_id), value, ex=CONTROL_TTL)
                pipe.execute()
        except Exception:  # Redis is a cache and a fan-out: Postgres already holds the truth
            log.warning("could not publish %d events to Redis", len(self.events), exc_info=True)
        self.events = []
        self.controls = {}


def _sources(table: dict, to) -> list[str]:
    return [src.value for src, targets in table.items() if to in targets]


def transition_run(
    work: Work, run_id: str, to: RunStatus, *, only_from: Iterable[RunStatus] = (), **fields: Any
) -> bool:
    """Move a run to ``to`` if the table allows it from its current status; True if it moved."""
    allowed = _sources(RUN_TRANSITIONS, to)
    if only_from:
        allowed = [s for s in allowed if s in {f.value for f in only_from}]
    stmt = (
        update(Run)
        .where(Run.id == run_id, Run.status.in_(allowed))
        .values(status=to.value, updated_at=utcnow(), **fields)
        .returning(Run.generation)
        .execution_options(synchronize_session=False)
    )
    generation = work.session.execute(stmt).scalar_one_or_none()
    if generation is None:
        return False
    work.controls[run_id] = (to.value, generation)
    return True


def transition_task(
    work: Work,
    run_id: str,
    task_id: str,
    to: TaskStatus,
    *,
    only_from: Iterable[TaskStatus] = (),
    extra_where: Iterable[Any] = (),
    **fields: Any,
) -> bool:
    allowed = _sources(TASK_TRANSITIONS, to)
    if only_from:
        allowed = [s for s in allowed if s in {f.value for f in only_from}]
    stmt = (
        update(TaskExecution)
        .where(
            TaskExecution.run_id == run_id,
            TaskExecution.task_id == task_id,
            TaskExecution.status.in_(allowed),
            *extra_where,
        )
        .values(status=to.value, updated_at=utcnow(), **fields)
        .execution_options(synchronize_session=False)
    )
    return work.session.execute(stmt).rowcount == 1


def read_control(rt, run_id: str) -> tuple[str, int] | None:
    """``(status, generation)`` from Redis, falling back to Postgres (and re-caching)."""
    try:
        raw = rt.redis.get(control_key(run_id))
    except Exception:
        raw = None
    if raw:
        value = json.loads(raw)
        return value["status"], int(value["generation"])
    with rt.db.transaction() as session:
        row = session.execute(select(Run.status, Run.generation).where(Run.id == run_id)).first()
    if row is None:
        return None
    try:
        value = json.dumps({"status": row.status, "generation": row.generation})
        rt.redis.set(control_key(run_id), value, ex=CONTROL_TTL)
    except Exception:
        pass
    return row.status, int(row.generation)
