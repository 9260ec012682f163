"""One door for state: every run and task status change, its event, and the control record.

A ``Work`` is a unit of work: one database transaction plus the events and control records that are
published once it commits. ``transition_run`` / ``transition_task`` are the only code that writes a
``status``; each is a conditional UPDATE guarded by the transition table, so racing callers (two
workers, a worker and the API) can never move a row along an edge the table forbids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from sqlalchemy import exists, func, insert, select, text, update
from sqlalchemy.orm import Session

from app.events.bus import publish
from app.events.model import Committed, render_event
from app.metrics import record_events
from app.models import Event, Run, TaskExecution
from app.models.base import utcnow
from app.models.status import (
    RUN_CLAIMABLE,
    RUN_TRANSITIONS,
    TASK_TRANSITIONS,
    RunStatus,
    TaskStatus,
)
from app.phases import phase
from app.services import progress
from app.services.delivery import wake_expander
from app.services.webhooks import any_listening, outbox

log = logging.getLogger(__name__)

CONTROL_TTL = 7 * 24 * 3600


def control_key(run_id: str) -> str:
    return f"harmonia:control:{run_id}"


class Work:
    """``snapshot=True``: every read sees one point in time, for reads that must agree with each
    other (checkpoints): REPEATABLE READ on Postgres; on SQLite, whose driver would otherwise run
    each SELECT on its own, ``BEGIN IMMEDIATE`` (it also holds the write lock, so a later write in
    the same unit cannot fail on a stale snapshot)."""

    def __init__(self, rt, *, snapshot: bool = False):
        self.rt = rt
        self.session: Session = rt.db.session()
        self.events: list[Event] = []
        self.controls: dict[str, tuple[str, int, int]] = {}
        # Counts for progress_updated a caller already knows (run id → counts): no query for them.
        self.progress_counts: dict[str, dict[str, int]] = {}
        # Whether this unit wrote webhook outbox entries: the notifier is woken once it commits.
        self.notify = False
        if snapshot and rt.db.is_sqlite:
            self.session.execute(text("BEGIN IMMEDIATE"))
        elif snapshot:
            # Reset to the pool's default when the connection is returned.
            self.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

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
        invocation_id: str | None = None,
    ) -> Event:
        event = Event(
            run_id=run_id,
            task_id=task_id,
            invocation_id=invocation_id,
            type=type_,
            data=data or {},
            message=message,
            created_at=utcnow(),
        )
        self.events.append(event)  # written with the others in one INSERT at commit
        return event

    def commit(self) -> None:
        with phase("commit"):
            if self.events:
                self._announce_progress()
                self._insert_events()
            self.session.commit()
        with phase("publish"):
            self.after_commit()

    def _announce_progress(self) -> None:
        """A ``progress_updated`` event for each run whose progress report this unit's events
        change, in the same transaction. Its counts are the caller's (``progress_counts``: the
        worker counts along with its run lock) or one COUNT on the run's (run, status) index
        (``progress.task_counts``). Clients refetch the report on it. It goes before the run's
        final event, where the run's streams end."""
        changed = progress.changed_runs(self.events)
        for run_id, position in sorted(changed.items(), key=lambda item: -item[1]):
            counts = self.progress_counts.get(run_id) or progress.task_counts(
                self.session, self.rt.settings, run_id
            )
            if counts is None:
                continue
            done, total = counts["completed_tasks"], counts["total_tasks"]
            event = self.emit(
                run_id,
                "progress_updated",
                data=counts,
                message=f"Progress: {done} of {total} tasks done",
            )
            if position < len(self.events) - 1:  # dated like the event it precedes
                event.created_at = self.events[position].created_at
            self.events.insert(position, self.events.pop())

    def _insert_events(self) -> None:
        table = Event.__table__
        rows = [
            {
                "run_id": e.run_id,
                "task_id": e.task_id,
                "invocation_id": e.invocation_id,
                "type": e.type,
                "data": e.data,
                "message": e.message,
                "created_at": e.created_at,
            }
            for e in self.events
        ]
        # Whether any webhook listens comes back with the ids: no second round trip for the
        # outbox when none does (the common case).
        stmt = insert(table).returning(
            table.c.id, any_listening().label("listening"), sort_by_parameter_order=True
        )
        inserted = self.session.execute(stmt, rows).all()
        for event, row in zip(self.events, inserted, strict=True):
            event.id = row.id
        listening = any(row.listening for row in inserted)
        self.notify = outbox(self.session, self.events, listening=listening) or self.notify

    def after_commit(self) -> None:
        announce(self.rt, self.events, self.controls, notify=self.notify)
        self.events = []
        self.controls = {}
        self.progress_counts = {}
        self.notify = False


def announce(
    rt,
    events: list[Event] | list[Committed],
    controls: dict[str, tuple[str, int, int]] | None = None,
    *,
    notify: bool = False,
) -> None:
    """After a commit: publish its events and control records (one Redis round trip each), wake
    the webhook notifier if it wrote outbox entries (``notify``), and count the events
    (app/metrics.py; once, by whichever process committed them)."""
    published = False
    try:
        if events:
            publish(rt.redis, [render_event(e) for e in events])
            published = True
        for run_id, (status, generation, seq) in (controls or {}).items():
            write_control(rt.redis, run_id, status, generation, seq)
    except Exception:  # Redis is a cache and a fan-out: Postgres already holds the truth
        log.warning("could not publish %d events to Redis", len(events), exc_info=True)
    if notify:
        try:
            wake_expander(rt)
        except Exception:  # the outbox is stored: the recovery sweep wakes the notifier
            log.warning("could not wake the webhook notifier", exc_info=True)
    record_events(events, published=published)


def _sources(table: dict, to, only_from: Iterable[Any] = ()) -> list[str]:
    """Statuses the table allows a move to ``to`` from (narrowed to ``only_from`` if given)."""
    narrow = {f.value for f in only_from}
    return [
        src.value
        for src, targets in table.items()
        if to in targets and (not narrow or src.value in narrow)
    ]


def transition_run(
    work: Work,
    run_id: str,
    to: RunStatus,
    *,
    only_from: Iterable[RunStatus] = (),
    extra_where: Iterable[Any] = (),
    **fields: Any,
) -> bool:
    """Move a run to ``to`` if the table allows it from its current status; True if it moved."""
    allowed = _sources(RUN_TRANSITIONS, to, only_from)
    stmt = (
        update(Run)
        .where(Run.id == run_id, Run.status.in_(allowed), *extra_where)
        .values(status=to.value, updated_at=utcnow(), control_seq=Run.control_seq + 1, **fields)
        .returning(Run.generation, Run.control_seq)
        .execution_options(synchronize_session=False)
    )
    moved = work.session.execute(stmt).first()
    if moved is None:
        return False
    work.controls[run_id] = (to.value, *moved)
    return True


def promote_run(
    work: Work, run_id: str, generation: int, workflow_id: str, workflow_name: str
) -> bool:
    """PENDING → RUNNING in this generation, with ``execution_started``; True if it moved."""
    if not transition_run(
        work,
        run_id,
        RunStatus.RUNNING,
        only_from=[RunStatus.PENDING],
        extra_where=[Run.generation == generation],
        started_at=utcnow(),
    ):
        return False
    work.emit(
        run_id,
        "execution_started",
        data={"workflow_id": workflow_id, "workflow_name": workflow_name},
        message=f"Run of '{workflow_name}' started",
    )
    return True


def _task_update(
    run_id: str,
    task_id: str,
    to: TaskStatus,
    only_from: Iterable[TaskStatus],
    extra_where: Iterable[Any],
    fields: dict[str, Any],
):
    """The guarded UPDATE behind every task transition (the table decides the sources)."""
    allowed = _sources(TASK_TRANSITIONS, to, only_from)
    return (
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


def claim_task(
    work: Work,
    run_id: str,
    task_id: str,
    *,
    only_from: Iterable[TaskStatus],
    extra_where: Iterable[Any] = (),
    **fields: Any,
) -> int | None:
    """``transition_task`` to RUNNING that returns the new attempt number (None: not claimed)."""
    stmt = _task_update(run_id, task_id, TaskStatus.RUNNING, only_from, extra_where, fields)
    return work.session.execute(stmt.returning(TaskExecution.attempt)).scalar_one_or_none()


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
    stmt = _task_update(run_id, task_id, to, only_from, extra_where, fields)
    return work.session.execute(stmt).rowcount == 1


# Control records only move forward: a write carrying an older ``seq`` than the stored one is
# dropped, so two commits publishing out of order cannot leave a stale status in Redis.
_WRITE_CONTROL = """
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
if seq < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'generation', ARGV[2], 'seq', ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
"""


def write_control(redis_client, run_id: str, status: str, generation: int, seq: int) -> None:
    redis_client.eval(_WRITE_CONTROL, 1, control_key(run_id), status, generation, seq, CONTROL_TTL)


def read_control(rt, run_id: str) -> tuple[str, int] | None:
    """``(status, generation)`` from Redis, falling back to the database (and re-caching).

    A cache: it may lag a commit by a moment. Decisions that must be exact (may this task
    start?) are taken by the database in the claim; this serves fast fences and polling.
    """
    try:
        status, generation = rt.redis.hmget(control_key(run_id), "status", "generation")
    except Exception:
        status = generation = None
    if status and generation:
        return status, int(generation)
    with rt.db.transaction() as session:
        row = session.execute(
            select(Run.status, Run.generation, Run.control_seq).where(Run.id == run_id)
        ).first()
    if row is None:
        return None
    with suppress(Exception):
        write_control(rt.redis, run_id, row.status, row.generation, row.control_seq)
    return row.status, int(row.generation)


def transition_tasks(
    work: Work,
    run_id: str,
    to: TaskStatus,
    *,
    only_from: Iterable[TaskStatus] = (),
    task_ids: Iterable[str] | None = None,
    **fields: Any,
) -> int:
    """Bulk form of ``transition_task`` (e.g. cancel every pending task); returns rows moved."""
    allowed = _sources(TASK_TRANSITIONS, to, only_from)
    stmt = update(TaskExecution).where(
        TaskExecution.run_id == run_id, TaskExecution.status.in_(allowed)
    )
    if task_ids is not None:
        stmt = stmt.where(TaskExecution.task_id.in_(list(task_ids)))
    stmt = stmt.values(status=to.value, updated_at=utcnow(), **fields)
    return work.session.execute(stmt.execution_options(synchronize_session=False)).rowcount


def run_accepts_claims(run_id: str, generation: int):
    """SQL condition: the run lets a task of ``generation`` start now.

    Used inside the claim's UPDATE; ``FOR SHARE`` (Postgres) makes a concurrent pause or cancel,
    which updates the run row, wait for the claim to commit (or the claim wait for it), so "no
    task is RUNNING" is exact when the pause settles. SQLite serialises writers anyway.
    """
    return exists(
        select(Run.id)
        .where(
            Run.id == run_id,
            Run.generation == generation,
            Run.status.in_([s.value for s in RUN_CLAIMABLE]),
        )
        .with_for_update(read=True)
    )


def nothing_running(run_id: str):
    return ~exists(
        select(TaskExecution.id).where(
            TaskExecution.run_id == run_id, TaskExecution.status == TaskStatus.RUNNING.value
        )
    )


def running_count(session: Session, run_id: str) -> int:
    return session.execute(
        select(func.count())
        .select_from(TaskExecution)
        .where(TaskExecution.run_id == run_id, TaskExecution.status == TaskStatus.RUNNING.value)
    ).scalar_one()


def lock_run(session: Session, run_id: str) -> str | None:
    """Share-lock the run row (Postgres) and return its status.

    Lock order everywhere is run row, then task rows: control operations update the run first,
    so a worker that takes the run lock before touching a task can never deadlock with them.
    """
    return session.execute(
        select(Run.status).where(Run.id == run_id).with_for_update(read=True)
    ).scalar_one_or_none()
