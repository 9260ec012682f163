"""Record an attempt's outcome (DESIGN §4, step 7): the task row, its event and the run's
``progress_updated`` in one statement when it can (``attempts.finish``), else in one transaction.
Then publish."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.engine.dag import Dag, Task
from app.models import Run, TaskExecution, TaskStatus
from app.models.base import utcnow
from app.phases import phase
from app.services import attempts, progress
from app.services.leases import worker_id
from app.services.run_state import merge_state
from app.services.state import Work, announce, transition_task
from worker.protocol import Stop

T = TaskStatus

# Task outputs up to this size travel inside their task_completed event.
EVENT_OUTPUT_BYTES = 4096


def _outcome(
    task: Task, outcome: TaskStatus, attempt: int, retries: int, done: dict[str, Any]
) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """What recording ``outcome`` writes: the task row's fields, and its event's type, message and
    data (with the task's name and position, as every task event carries them)."""
    output, error, name = done["output"], done["error"], task.name
    fields: dict[str, Any] = {
        "input_data": done["input_data"],
        "stdout": done["stdout"],
        "stderr": done["stderr"],
    }
    if outcome != T.RETRYING:
        fields["completed_at"] = utcnow()
    if outcome != T.SKIPPED:
        fields["output_data"] = output
    if outcome not in (T.SKIPPED, T.COMPLETED):
        fields["error_message"] = error
    if outcome == T.SKIPPED:
        kind, message = "task_skipped", f"Task '{name}' skipped: condition is false"
        data = {"reason": "condition is false", "condition": task.condition}
    elif outcome == T.COMPLETED:
        size = len(json.dumps(output, default=str))
        kind, message = "task_completed", f"Task '{name}' completed successfully"
        data = {"duration": done["duration"], "output_size": size}
        if size <= EVENT_OUTPUT_BYTES:
            data["output"] = output
    elif outcome == T.RETRYING:
        delay = task.retry.countdown(retries)
        kind = "task_retrying"
        message = f"Task '{name}' failed (attempt {attempt}), retrying in {delay:g}s: {error}"
        data = {
            "attempt": attempt,
            "retry_count": attempt,
            "max_retries": task.retry.count,
            "delay": delay,
            "error": error,
        }
    else:
        verb = "cancelled" if outcome == T.CANCELLED else "failed"
        kind, message = f"task_{verb}", f"Task '{name}' {verb}: {error}"
        data = {
            "duration": done["duration"],
            "error": error,
            "error_details": {"action": task.action, "attempt": attempt},
            "attempt": attempt,
            "retry_count": attempt - 1,
            "max_retries": task.retry.count,
        }
    return fields, kind, message, {**data, **done["meta"]}


def record(
    rt,
    run_id: str,
    dag: Dag,
    task: Task,
    outcome: TaskStatus,
    attempt: int,
    retries: int,
    done: dict[str, Any],
) -> tuple[str, str]:
    """Persist the task's outcome and its event (one statement, or one transaction), then
    publish.

    Also returns the run's status as the database sees it after this write, so a pause or
    cancel that waits for this task to stop is settled without trusting a lagging cache.
    """
    if not done["state"]:  # a state update is merged by the transaction below
        with phase("record in one"):
            written = _outcome(task, outcome, attempt, retries, done)
            recorded = _record_in_one(rt, run_id, dag, task, outcome, written)
        if recorded is not None:
            return recorded
    with Work(rt) as work:
        with phase("lock run"):
            locked_status, done_before = progress.lock_run_counting(work.session, run_id, dag)
        if outcome == T.COMPLETED and done["state"]:
            limit = rt.settings.max_state_bytes
            with phase("merge state"):
                error = merge_state(work, run_id, done["state"], limit=limit, task_id=task.id)
            if error is not None:
                outcome, done = T.FAILED, {**done, "output": None, "error": error}
        fields, kind, message, data = _outcome(task, outcome, attempt, retries, done)
        # Only while this process still holds the task.
        with phase("transition"):
            moved = transition_task(
                work,
                run_id,
                task.id,
                outcome,
                only_from=[T.RUNNING],
                extra_where=[TaskExecution.worker == worker_id()],
                **fields,
            )
        if moved:
            work.emit(run_id, kind, task_id=task.id, data=data, message=message)
            work.progress_counts[run_id] = progress.counts_after(
                dag, done_before, task.id, outcome.value
            )
        elif not _recorded_by_me(work, run_id, task.id, outcome):
            # Taken over by another worker (this one was thought dead): record nothing, and
            # leave the chain to the message that now owns the task.
            raise Stop("duplicate")
        # Postgres: the share lock pins the status. SQLite: re-read inside the write transaction.
        run_status = (
            locked_status
            if not rt.db.is_sqlite
            else work.session.execute(select(Run.status).where(Run.id == run_id)).scalar_one()
        )
    return outcome.value, run_status


def _record_in_one(
    rt, run_id: str, dag: Dag, task: Task, outcome: TaskStatus, written: tuple
) -> tuple[str, str] | None:
    """``record``'s common case in one statement (``attempts.finish``); None when it wrote
    nothing (the task is no longer this worker's, SQLite)."""
    fields, kind, message, data = written
    sync = dag.synchronization_points
    counts = progress.counts_after(dag, 0, task.id, outcome.value)
    finished = attempts.finish(
        rt,
        run_id,
        task.id,
        outcome,
        fields,
        worker=worker_id(),
        kind=kind,
        data=data,
        message=message,
        sync=sync,
        adds=counts["completed_tasks"],
        total=counts["total_tasks"],
    )
    if finished is None:
        return None
    with phase("publish"):
        announce(rt, finished.events, notify=finished.notified)
    return outcome.value, finished.run_status


def _recorded_by_me(work: Work, run_id: str, task_id: str, outcome: TaskStatus) -> bool:
    """This process already recorded ``outcome``: a write retried after its commit went through
    (the answer was lost with the connection). Nothing to write or emit again."""
    row = work.session.execute(
        select(TaskExecution.status, TaskExecution.worker).where(
            TaskExecution.run_id == run_id, TaskExecution.task_id == task_id
        )
    ).one()
    return (row.status, row.worker) == (outcome.value, worker_id())
