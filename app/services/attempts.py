"""A task attempt's two writes on Postgres, each one statement: ``claim`` and ``finish``.

The worker's protocol (DESIGN §4) takes a dozen statements when written step by step: read the run,
read the upstream rows, share-lock the run, claim the task, insert its event, commit, and again at
the end. Here each half is a single statement of data-modifying CTEs, sent in autocommit (no BEGIN
or COMMIT round trip) and prepared (``Database.statements``): one round trip to claim and load,
one to record the outcome.

Each statement does all of its work or none of it. Its writes are guarded by everything the
common case needs: the run RUNNING in this generation (share-locked first, in the lock order of
``state.lock_run``), the task still the caller's to move, no upstream task blocking it. With its
events it writes their webhook outbox entries, matched in SQL as ``webhooks.outbox`` matches them
in Python (``Webhook.event_types``, the webhook's filters, active and not expired). When a guard
fails nothing is written and the caller takes the step-by-step path, which handles every other
case (a run to promote, a park, a skip, a re-claim, a duplicate). SQLite takes that path always:
it has no data-modifying CTEs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import String

from app.events.model import Committed
from app.models import RunStatus, TaskStatus
from app.models.base import utcnow

T = TaskStatus
BLOCKING = [T.FAILED.value, T.UPSTREAM_FAILED.value, T.CANCELLED.value]
DONE = [T.COMPLETED.value, T.SKIPPED.value]
_ARRAYS = ("upstream", "depends_on", "reads", "blocking", "done", "sync")


class Taken(NamedTuple):
    """A task the claim took, and what it read in the same snapshot as its guard."""

    attempt: int
    run: Any  # id, status, workflow_id, workflow_name, input_data, variables, options
    upstream: dict[str, Any]  # task id → (task_id, status, output_data)
    state: dict[str, Any] | None  # None: not asked for
    events: list[Committed]
    notified: bool  # webhook outbox entries were written: wake the notifier


class Finished(NamedTuple):
    run_status: str
    events: list[Committed]
    notified: bool


class UpstreamRow(NamedTuple):
    task_id: str
    status: str
    output_data: Any


def _statement(sql: str):
    arrays = [name for name in _ARRAYS if f":{name})" in sql]
    return text(sql).bindparams(*(bindparam(name, type_=ARRAY(String)) for name in arrays))


def _outbox(events: str) -> str:
    """The CTE ``notified``: one webhook outbox entry per row of ``events`` (id, type) that
    webhooks receive, naming them (``webhooks.outbox``, in SQL). Needs the CTE ``run`` with the
    run's workflow ids."""
    return f"""notified AS (
    INSERT INTO webhook_outbox (event_id, event_type, run_id, webhook_ids, created_at)
    SELECT e.id, e.type, :run_id, hooks.ids, :now
    FROM {events} e CROSS JOIN run CROSS JOIN LATERAL (
        SELECT jsonb_agg(w.id ORDER BY w.id) AS ids FROM webhooks w
        WHERE w.active AND (w.expires_at IS NULL OR w.expires_at > :now)
          AND w.event_types @> jsonb_build_array(e.type)
          AND (w.run_id IS NULL OR w.run_id = :run_id)
          AND (w.workflow_id IS NULL
               OR w.workflow_id IN (run.workflow_id, run.workflow_definition_id))
    ) hooks
    WHERE hooks.ids IS NOT NULL
    RETURNING 1
)"""


_CLAIM = f"""
WITH run AS (
    SELECT id, status, generation, workflow_id, workflow_definition_id, workflow_name,
           input_data, variables, options
    FROM runs WHERE id = :run_id FOR SHARE
), upstream AS (
    SELECT task_id, status, output_data FROM task_executions
    WHERE run_id = :run_id AND task_id = ANY(:upstream)
), go AS (
    SELECT 1 FROM run
    WHERE status = '{RunStatus.RUNNING.value}' AND generation = :generation
      AND NOT EXISTS (
          SELECT 1 FROM upstream
          WHERE (task_id = ANY(:depends_on) AND status = ANY(:blocking))
             OR (task_id = ANY(:reads) AND status = '{T.SKIPPED.value}'))
), claimed AS (
    UPDATE task_executions
    SET status = '{T.RUNNING.value}', attempt = attempt + 1, started_at = :now, updated_at = :now,
        worker = :worker, generation = :generation,
        error_message = CASE WHEN :first THEN NULL ELSE error_message END
    WHERE run_id = :run_id AND task_id = :task_id AND EXISTS (SELECT 1 FROM go)
      AND ((:first AND status = '{T.PENDING.value}')
           OR (NOT :first AND status = '{T.RETRYING.value}' AND attempt = :retries))
    RETURNING attempt
), started AS (
    INSERT INTO events (run_id, task_id, type, data, message, created_at)
    SELECT :run_id, :task_id, 'task_started',
           CAST(:data AS jsonb) || jsonb_build_object('attempt', attempt),
           :message || ' (attempt ' || attempt || ')', :now
    FROM claimed
    RETURNING id, type
), {_outbox("started")}
SELECT run.id, run.status, run.generation, run.workflow_id, run.workflow_name, run.input_data,
       run.variables, run.options,
       (SELECT attempt FROM claimed) AS attempt,
       (SELECT id FROM started) AS started,
       (SELECT json_agg(json_build_array(task_id, status, output_data)) FROM upstream) AS upstream,
       (SELECT data FROM run_state WHERE run_id = :run_id AND :wants_state) AS state,
       EXISTS (SELECT 1 FROM notified) AS notified
FROM run
"""
_CLAIM_STATEMENT = _statement(_CLAIM)


def claim(
    rt,
    run_id: str,
    task_id: str,
    generation: int,
    retries: int,
    *,
    worker: str,
    depends_on: Iterable[str],
    reads: Iterable[str],
    wants_state: bool,
    data: dict[str, Any],
    message: str,
) -> Taken | Any | None:
    """Claim ``task_id`` and read what its action needs, in one statement.

    Returns ``Taken``; or the run's row (its ``status`` and ``generation`` as locked) when the
    statement read it but wrote nothing (a guard failed: take the step-by-step path); or None when
    there is no such run, or the statement was not tried (SQLite).

    ``data`` and ``message`` make the ``task_started`` event; the statement adds the attempt."""
    if not _worth_trying(rt):
        return None
    depends_on, reads = sorted(depends_on), sorted(reads)
    now = utcnow()
    params = {
        "run_id": run_id,
        "task_id": task_id,
        "generation": generation,
        "retries": retries,
        "first": retries == 0,
        "worker": worker,
        "upstream": sorted({*depends_on, *reads}),
        "depends_on": depends_on,
        "reads": reads,
        "blocking": BLOCKING,
        "wants_state": wants_state,
        "data": json.dumps(data),
        "message": message,
        "now": now,
    }
    row = _execute(rt, _CLAIM_STATEMENT, params)
    if row is None:
        return None
    if row.attempt is None:
        return row
    # As the statement wrote it.
    started = {**data, "attempt": row.attempt}
    text_ = f"{message} (attempt {row.attempt})"
    event = Committed(row.started, run_id, task_id, "task_started", started, text_, now)
    upstream = {tid: UpstreamRow(tid, status, out) for tid, status, out in row.upstream or ()}
    state = (row.state or {}) if wants_state else None
    return Taken(row.attempt, row, upstream, state, [event], row.notified)


def _finish_sql(fields: tuple[str, ...]) -> str:
    assignments = ", ".join(
        f"{name} = CAST(:{name} AS jsonb)" if name in _JSON_FIELDS else f"{name} = :{name}"
        for name in fields
    )
    return f"""
WITH run AS (
    SELECT status, workflow_id, workflow_definition_id,
           (SELECT count(*) FROM task_executions t
            WHERE t.run_id = runs.id AND t.status = ANY(:done) AND NOT t.task_id = ANY(:sync))
           AS done
    FROM runs WHERE id = :run_id FOR SHARE
), moved AS (
    UPDATE task_executions SET status = :to, updated_at = :now, {assignments}
    WHERE run_id = :run_id AND task_id = :task_id AND status = '{T.RUNNING.value}'
      AND worker = :worker AND EXISTS (SELECT 1 FROM run)
    RETURNING 1
), recorded AS (
    INSERT INTO events (run_id, task_id, type, data, message, created_at)
    SELECT :run_id, :task_id, :kind, CAST(:data AS jsonb), :message, :now FROM moved
    UNION ALL
    SELECT :run_id, NULL, 'progress_updated',
           jsonb_build_object('completed_tasks', run.done + :adds, 'total_tasks', :total),
           'Progress: ' || (run.done + :adds) || ' of ' || :total || ' tasks done', :now
    FROM moved, run
    RETURNING id, type
), {_outbox("recorded")}
SELECT run.status,
       (SELECT json_object_agg(type, id) FROM recorded) AS recorded,
       run.done,
       EXISTS (SELECT 1 FROM notified) AS notified
FROM run
"""


_JSON_FIELDS = {"input_data", "output_data"}


def finish(
    rt,
    run_id: str,
    task_id: str,
    to: TaskStatus,
    fields: dict[str, Any],
    *,
    worker: str,
    kind: str,
    data: dict[str, Any],
    message: str,
    sync: Iterable[str],
    adds: int,
    total: int,
) -> Finished | None:
    """Record the attempt's outcome, its event and the run's ``progress_updated``, in one
    statement, while ``worker`` still holds the task. None: nothing was written (take the
    step-by-step path). ``adds`` is what this outcome adds to the done count (the statement counts
    the others under the run's share lock), ``total`` the run's task count."""
    if not _worth_trying(rt):
        return None
    names = tuple(sorted(fields))
    now = utcnow()
    params = {
        "run_id": run_id,
        "task_id": task_id,
        "to": to.value,
        "worker": worker,
        "kind": kind,
        "data": json.dumps(data),
        "message": message,
        "done": DONE,
        "sync": sorted(sync),
        "adds": adds,
        "total": total,
        "now": now,
        **{
            name: json.dumps(value) if name in _JSON_FIELDS else value
            for name, value in fields.items()
        },
    }
    row = _execute(rt, _finish_statement(names), params)
    if row is None or not row.recorded:
        return None
    # As the statement wrote them.
    done = row.done + adds
    counts = {"completed_tasks": done, "total_tasks": total}
    progress = f"Progress: {done} of {total} tasks done"
    events = [
        Committed(row.recorded[kind], run_id, task_id, kind, data, message, now),
        Committed(
            row.recorded["progress_updated"],
            run_id,
            None,
            "progress_updated",
            counts,
            progress,
            now,
        ),
    ]
    return Finished(row.status, events, row.notified)


def _worth_trying(rt) -> bool:
    return not rt.db.is_sqlite


_DEFINITION = text("SELECT workflow_definition_id FROM runs WHERE id = :run_id")


def definition_of(rt, run_id: str) -> str | None:
    """The workflow version a run executes (fixed for the run's life); None: no such run, or
    no single-statement path."""
    if rt.db.is_sqlite:
        return None
    row = _execute(rt, _DEFINITION, {"run_id": run_id})
    return None if row is None else row[0]


def _execute(rt, statement, params: dict[str, Any]):
    """One statement on its own (autocommit: its writes commit with it, no BEGIN or COMMIT)."""
    return rt.db.first(statement, params)


@cache
def _finish_statement(fields: tuple[str, ...]):
    return _statement(_finish_sql(fields))
