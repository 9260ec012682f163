"""The task wrapper protocol (DESIGN §4), ``advance`` and ``finalize_run``.

Every task: fence by generation → control check → upstream check → atomic claim → resolve →
run with timeout → retry with backoff or persist → publish. A task never raises to Celery (failure
is data), so chords always reach their body and ``finalize_run`` decides the run's status.
The ``phase`` markers name these steps for the bench's probe (``app/phases.py``); without it
they are a shared no-op.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, NamedTuple

from sqlalchemy import select

from app.engine import expressions
from app.engine.catalogue import INTEGRATIONS
from app.engine.dag import Dag, Task
from app.models import Agent, Run, RunStatus, TaskExecution, TaskStatus
from app.models.base import utcnow
from app.phases import phase
from app.services import checkpoints, progress
from app.services.control import settle_run
from app.services.definitions import dag_for
from app.services.leases import Lease, owner_alive, worker_id
from app.services.run_state import merge_state, read_state
from app.services.state import (
    Work,
    claim_task,
    lock_run,
    read_control,
    run_accepts_claims,
    transition_run,
    transition_task,
)
from worker.actions import ActionCancelled, ActionContext, ActionError, Emit, run_action
from worker.runtime import while_database_down

log = logging.getLogger(__name__)

R, T = RunStatus, TaskStatus
BLOCKING = {T.FAILED.value, T.UPSTREAM_FAILED.value, T.CANCELLED.value}
DONE = {T.COMPLETED.value, T.SKIPPED.value}
CANCEL = (R.CANCELLING.value, R.CANCELLED.value)
# What a task reads of its run (not the stored plan or the run's output).
RUN_FIELDS = (
    Run.id,
    Run.status,
    Run.workflow_id,
    Run.workflow_name,
    Run.workflow_definition_id,
    Run.input_data,
    Run.variables,
    Run.options,
)
# Task outputs up to this size travel inside their task_completed event.
EVENT_OUTPUT_BYTES = 4096


class Stop(Exception):
    """End this message here without continuing its chain (stale, parked, duplicate…)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Retry(Exception):
    """Ask the Celery task to re-send itself after ``countdown`` seconds."""

    def __init__(self, countdown: float):
        self.countdown = countdown


def _cap(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return (
        text[: limit // 2]
        + f"\n… [{len(text) - limit} characters truncated] …\n"
        + text[-limit // 2 :]
    )


def execute_task(rt, run_id: str, task_id: str, generation: int, retries: int) -> str:
    with phase("fence"):
        control = read_control(rt, run_id)
    if control is None:
        raise Stop("unknown-run")
    if control[1] > generation:
        # Generations only grow, so even a lagging cache proves this message is stale.
        raise Stop("stale")
    try:
        with phase("claim and load"):
            claimed = while_database_down(
                rt,
                f"claiming task {task_id} of run {run_id}",
                lambda: _claim_and_load(rt, run_id, task_id, generation, retries),
            )
        if isinstance(claimed, str):
            return claimed
        return _run_claimed(rt, run_id, claimed, retries)
    except Stop as stop:
        if stop.reason == "settle":
            settle_run(rt, run_id)  # a paused or cancelled run may now have nothing running
        raise


class Claimed(NamedTuple):
    """A task this worker has claimed, with everything its action needs."""

    task: Task
    task_input: Any
    context: dict[str, Any]
    agent: dict[str, Any] | None
    attempt: int
    meta: dict[str, Any]
    checkpoint_every: int | None
    dag: Dag


def _claim_and_load(rt, run_id: str, task_id: str, generation: int, retries: int) -> Claimed | str:
    """One transaction: skip, or claim the task and load its inputs. Returns the task's status
    when there is nothing to run (skipped, or already finished in this generation)."""
    with Work(rt) as work:
        session = work.session
        with phase("load run"):
            run = session.execute(select(*RUN_FIELDS).where(Run.id == run_id)).first()
            if run is None:
                raise Stop("unknown-run")  # deleted since the message was sent
            dag = dag_for(session, rt.settings, run.workflow_definition_id)
            task = dag.tasks.get(task_id)
            if task is None:
                raise Stop("unknown-task")
        with phase("upstream check"):
            reads = _tasks_read(task, dag)
            rows = {
                row.task_id: row
                for row in session.execute(
                    select(
                        TaskExecution.task_id, TaskExecution.status, TaskExecution.output_data
                    ).where(
                        TaskExecution.run_id == run_id,
                        TaskExecution.task_id.in_(set(task.depends_on) | reads),
                    )
                )
            }
            meta = _meta(task, dag)
            skipped = _skip_if_upstream_blocked(work, run_id, task, rows, reads, meta)
        if skipped:
            return skipped
        with phase("claim"):
            # Promote the run first: taking its row lock before the claim's FOR SHARE keeps two
            # first claims from deadlocking on the same run.
            if run.status == R.PENDING.value and transition_run(
                work,
                run_id,
                R.RUNNING,
                only_from=[R.PENDING],
                extra_where=[Run.generation == generation],
                started_at=utcnow(),
            ):
                work.emit(
                    run_id,
                    "execution_started",
                    data={"workflow_id": run.workflow_id, "workflow_name": run.workflow_name},
                    message=f"Run of '{run.workflow_name}' started",
                )
            lock_run(session, run_id)
            attempt = _claim(work, rt, run_id, task_id, generation, retries)
        if isinstance(attempt, str):
            return attempt  # a finished task in this generation: let its chain continue
        work.emit(
            run_id,
            "task_started",
            task_id=task_id,
            data={"attempt": attempt, "action": task.action, **meta},
            message=f"Task '{task.name}' started (attempt {attempt})",
        )
        with phase("input context"):
            agent = _agent(session, task)
            overrides = (run.options or {}).get("input_overrides") or {}
            task_input = overrides.get(task_id, task.input)
            state = read_state(session, run_id) if _reads_state(task, task_input) else {}
            context = _context(run, rows, state)

    return Claimed(
        task, task_input, context, agent, attempt, meta, dag.checkpoint.every_n_tasks, dag
    )


def _reads_state(task: Task, task_input: Any) -> bool:
    """Whether the task's input or condition may read ``${state...}`` (only then is it loaded)."""
    if task_input is task.input:
        bodies: tuple[str, ...] | list[str] = task.expression_bodies
    else:  # a rerun-from-step override: its own expressions, and the condition's
        bodies = [*expressions.expressions_in(task_input), task.condition or ""]
    return any("state" in body for body in bodies)


def _meta(task: Task, dag: Dag) -> dict[str, Any]:
    """Task fields every task event carries (seed 001 clients read them from ``data``; the
    action labels the task metrics, app/metrics.py)."""
    return {
        "action": task.action,
        "task_name": task.name,
        "task_index": list(dag.tasks).index(task.id),
        "total_tasks": len(dag.tasks),
    }


def _skip_if_upstream_blocked(
    work: Work, run_id: str, task: Task, rows, reads, meta: dict[str, Any]
) -> str | None:
    blocked = [d for d in task.depends_on if rows.get(d) and rows[d].status in BLOCKING]
    skipped_reads = [t for t in reads if rows.get(t) and rows[t].status == T.SKIPPED.value]
    if not (blocked or skipped_reads):
        return None
    to = T.UPSTREAM_FAILED if blocked else T.SKIPPED
    reason = (
        f"upstream task '{blocked[0]}' did not complete"
        if blocked
        else f"reads the output of skipped task '{skipped_reads[0]}'"
    )
    if transition_task(
        work,
        run_id,
        task.id,
        to,
        only_from=[T.PENDING],
        completed_at=utcnow(),
        error_message=reason if blocked else None,
    ):
        work.emit(
            run_id,
            "task_skipped",
            task_id=task.id,
            data={"reason": reason, "status": to.value, **meta},
            message=f"Task '{task.name}' skipped: {reason}",
        )
    return to.value


def _claim(work: Work, rt, run_id: str, task_id: str, generation: int, retries: int) -> int | str:
    """Atomically take the task, only while the run accepts claims for this generation.

    A first delivery claims a PENDING task; a Celery retry claims its own RETRYING attempt. A
    message redelivered after its worker died re-claims the task from the dead owner (it runs
    once more at most). Anything else is a duplicate and is stopped.

    Returns the attempt number when claimed, or the status of a task already finished in this
    generation (its chain may continue).
    """
    now = utcnow()
    guard = [run_accepts_claims(run_id, generation)]
    if retries:
        taken = claim_task(
            work,
            run_id,
            task_id,
            only_from=[T.RETRYING],
            extra_where=[*guard, TaskExecution.attempt == retries],
            attempt=TaskExecution.attempt + 1,
            started_at=now,
            worker=worker_id(),
            generation=generation,
        )
    else:
        taken = claim_task(
            work,
            run_id,
            task_id,
            only_from=[T.PENDING],
            extra_where=guard,
            attempt=TaskExecution.attempt + 1,
            started_at=now,
            worker=worker_id(),
            generation=generation,
            error_message=None,
        )
    if taken is not None:
        return taken
    run = work.session.execute(select(Run.status, Run.generation).where(Run.id == run_id)).one()
    if run.generation != generation:
        raise Stop("stale")
    if run.status in CANCEL or run.status in (R.PAUSING.value, R.PAUSED.value):
        raise Stop("settle")  # parked (stays PENDING) or cancelled: the caller settles the run
    row = work.session.execute(
        select(TaskExecution.status, TaskExecution.worker, TaskExecution.generation).where(
            TaskExecution.run_id == run_id, TaskExecution.task_id == task_id
        )
    ).one()
    # Re-claim from a dead owner, or from this very process: its own claim committed but the
    # answer was lost with the connection (one process runs one task at a time).
    if (
        row.generation == generation
        and row.status == T.RUNNING.value
        and (row.worker == worker_id() or not owner_alive(rt, run_id, task_id, row.worker))
    ):
        retaken = claim_task(
            work,
            run_id,
            task_id,
            only_from=[T.RUNNING],
            extra_where=[*guard, TaskExecution.worker == row.worker],
            attempt=TaskExecution.attempt + 1,
            started_at=now,
            worker=worker_id(),
        )
        if retaken is not None:
            work.emit(
                run_id,
                "task_reclaimed",
                task_id=task_id,
                data={"previous_worker": row.worker},
                message=f"Task '{task_id}' re-claimed from a worker that died ({row.worker})",
            )
            return retaken
    if row.generation == generation and row.status in DONE:
        # Redelivered after it finished but maybe before its chain moved on: move on again
        # (each dependant is claimed once, so a second continuation runs nothing twice).
        return row.status
    raise Stop("duplicate")


def _tasks_read(task: Task, dag: Dag) -> set[str]:
    found: set[str] = set()
    for body in task.expression_bodies:
        found |= expressions.task_ids_read(body, dag.tasks)
    return found & set(dag.tasks)


def _context(run: Run, rows: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    tasks = {tid: {"output": row.output_data, "status": row.status} for tid, row in rows.items()}
    return {
        **tasks,
        "workflow": {"input": run.input_data or {}, "id": run.workflow_id, "run_id": run.id},
        "tasks": tasks,
        "steps": tasks,
        "variables": run.variables or {},
        "state": state,
    }


def _agent_name(task: Task) -> str | None:
    """Agent steps: ``agent_name`` (002), or a ``component`` that names a registered agent."""
    if task.action == "agent.call":
        return task.agent
    return task.integration if task.integration not in INTEGRATIONS else None


def _agent(session, task: Task) -> dict[str, Any] | None:
    name = _agent_name(task)
    if name is None:
        return None
    agent = session.execute(select(Agent).where(Agent.name == name)).scalar_one_or_none()
    if agent is None:
        return None
    return agent.call_context()


def _stop_checker(rt, run_id: str):
    """A cheap ``should_stop()`` for actions: the run is being cancelled (checked ≤ 4×/s)."""
    last = {"at": 0.0, "stop": False}

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last["at"] >= 0.25:
            last["at"] = now
            control = read_control(rt, run_id)
            last["stop"] = control is None or control[0] in CANCEL
        return last["stop"]

    return should_stop


def action_emitter(
    rt, run_id: str | None, task_id: str | None = None, *, invocation_id: str | None = None
) -> Emit:
    """``ctx.emit`` for a running action (a run's task, or a direct invocation): each event in
    its own short transaction, then published.

    Callers throttle (progress ≤ 10/s, output flushed every ~100 ms), so one small commit per
    event is cheap and each event reaches clients promptly. Losing a progress or output event must
    not fail the task: errors are logged and dropped.
    """

    def emit(type_: str, data: dict[str, Any], message: str | None) -> None:
        try:
            with Work(rt) as work:
                work.emit(
                    run_id,
                    type_,
                    task_id=task_id,
                    invocation_id=invocation_id,
                    data=data,
                    message=message,
                )
        except Exception:
            log.warning(
                "could not record a %s event of %s",
                type_,
                f"invocation {invocation_id}" if invocation_id else f"task {task_id} of {run_id}",
                exc_info=True,
            )

    return emit


def _run_claimed(rt, run_id: str, claimed: Claimed, retries: int) -> str:
    task, attempt, meta = claimed.task, claimed.attempt, claimed.meta
    settings = rt.settings
    # An agent step bounds each attempt by the agent's timeout_ms itself; the step as a whole
    # (with its retries) by the task's timeout.
    timeout = task.timeout or settings.default_task_timeout
    ctx = ActionContext(
        run_id=run_id,
        task_id=task.id,
        timeout=timeout,
        agent=claimed.agent,
        should_stop=_stop_checker(rt, run_id),
        task_name=task.name,
        emit=action_emitter(rt, run_id, task.id),
    )
    started = time.monotonic()
    resolved: Any = None
    output: Any = None
    error: str | None = None
    retryable = True
    outcome = T.COMPLETED
    with phase("action"), Lease(rt, run_id, task.id):
        try:
            with phase("resolve"):
                resolved = expressions.resolve(claimed.task_input, claimed.context)
                condition = task.condition
                skip = condition and not expressions.evaluate_condition(condition, claimed.context)
            if skip:
                outcome = T.SKIPPED
            else:
                with phase("run action"):
                    action = "agent.call" if _agent_name(task) else task.action
                    output = run_action(action, resolved, ctx)
                    size = len(json.dumps(output, default=str))
                if size > settings.max_output_bytes:
                    error = f"output is {size} bytes, over the limit of {settings.max_output_bytes}"
                    output, retryable = None, False
        except expressions.ExpressionError as exc:
            error, retryable = str(exc), False
        except ActionCancelled as exc:
            error, output, outcome = exc.message, exc.output, T.CANCELLED
        except ActionError as exc:
            error, output, retryable = exc.message, exc.output, exc.retryable
        except Exception as exc:  # an action's bug must not escape: failure is data
            log.exception("task %s of run %s raised", task.id, run_id)
            error = f"{exc.__class__.__name__}: {exc}"
        ctx.flush_progress(final=True)  # a report the throttle held back precedes the outcome
    if error is not None and outcome == T.COMPLETED:
        outcome = T.RETRYING if retryable and retries < task.retry.count else T.FAILED
    done = {
        "input_data": resolved,
        "output": output,
        "error": error,
        "duration": round(time.monotonic() - started, 3),
        "stdout": _cap(ctx.logs.get("stdout") or None, settings.max_log_bytes),
        "stderr": _cap(ctx.logs.get("stderr") or None, settings.max_log_bytes),
        "meta": meta,
        "state": ctx.state_updates,
    }
    # The action has run: its outcome must be kept through a database outage.
    with phase("record"):
        result, run_status = while_database_down(
            rt,
            f"recording task {task.id} of run {run_id}",
            lambda: _record(rt, run_id, claimed.dag, task, outcome, attempt, retries, done),
        )
    if result == T.COMPLETED.value and claimed.checkpoint_every:
        while_database_down(
            rt,
            f"checkpointing run {run_id}",
            lambda: checkpoints.after_task_completed(rt, run_id, claimed.checkpoint_every),
        )
    if run_status in (R.PAUSING.value, *CANCEL):
        while_database_down(rt, f"settling run {run_id}", lambda: settle_run(rt, run_id))
    if outcome == T.RETRYING:
        raise Retry(task.retry.countdown(retries))
    if outcome == T.CANCELLED:
        raise Stop("cancelled")
    return result


def _record(
    rt,
    run_id: str,
    dag: Dag,
    task: Task,
    outcome: TaskStatus,
    attempt: int,
    retries: int,
    done: dict[str, Any],
) -> tuple[str, str]:
    """Persist the task's outcome and its event (one transaction), then publish.

    Also returns the run's status as the database sees it after this write, so a pause or
    cancel that waits for this task to stop is settled without trusting a lagging cache.
    """
    output, error = done["output"], done["error"]
    common = {"input_data": done["input_data"], "stdout": done["stdout"], "stderr": done["stderr"]}
    finished = {"completed_at": utcnow(), **common}
    name = task.name
    with Work(rt) as work:
        with phase("lock run"):
            locked_status, done_before = progress.lock_run_counting(work.session, run_id, dag)
        if outcome == T.COMPLETED and done["state"]:
            limit = rt.settings.max_state_bytes
            with phase("merge state"):
                error = merge_state(work, run_id, done["state"], limit=limit, task_id=task.id)
            if error is not None:
                outcome, output = T.FAILED, None
        if outcome == T.SKIPPED:
            fields = finished
            kind, message = "task_skipped", f"Task '{name}' skipped: condition is false"
            data = {"reason": "condition is false", "condition": task.condition}
        elif outcome == T.COMPLETED:
            fields = {"output_data": output, **finished}
            size = len(json.dumps(output, default=str))
            kind, message = "task_completed", f"Task '{name}' completed successfully"
            data = {"duration": done["duration"], "output_size": size}
            if size <= EVENT_OUTPUT_BYTES:
                data["output"] = output
        elif outcome == T.RETRYING:
            delay = task.retry.countdown(retries)
            fields = {"error_message": error, "output_data": output, **common}
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
            fields = {"error_message": error, "output_data": output, **finished}
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
        for event in work.events:  # every task event carries the task's name and position
            event.data = {**(event.data or {}), **done["meta"]}
        # Postgres: the share lock pins the status. SQLite: re-read inside the write transaction.
        run_status = (
            locked_status
            if not rt.db.is_sqlite
            else work.session.execute(select(Run.status).where(Run.id == run_id)).scalar_one()
        )
    return outcome.value, run_status


def _recorded_by_me(work: Work, run_id: str, task_id: str, outcome: TaskStatus) -> bool:
    """This process already recorded ``outcome``: a write retried after its commit went through
    (the answer was lost with the connection). Nothing to write or emit again."""
    row = work.session.execute(
        select(TaskExecution.status, TaskExecution.worker).where(
            TaskExecution.run_id == run_id, TaskExecution.task_id == task_id
        )
    ).one()
    return (row.status, row.worker) == (outcome.value, worker_id())
