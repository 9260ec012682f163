"""The task wrapper protocol (DESIGN §4), ``advance`` and ``finalize_run``.

Every task: fence by generation → control check → upstream check → atomic claim → resolve →
run with timeout → retry with backoff or persist → publish. A task never raises to Celery (failure
is data), so chords always reach their body and ``finalize_run`` decides the run's status.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any

from sqlalchemy import func, select

from app.engine import expressions
from app.engine.catalogue import INTEGRATIONS
from app.engine.compiler import PlanIndex
from app.engine.dag import Dag, Task
from app.models import Agent, Run, RunStatus, TaskExecution, TaskStatus
from app.models.base import utcnow
from app.models.status import TASK_TERMINAL
from app.services.definitions import dag_for
from app.services.dispatch import emitter_for
from app.services.state import Work, read_control, transition_run, transition_task
from worker.actions import ActionContext, ActionError, run_action

log = logging.getLogger(__name__)

T = TaskStatus
BLOCKING = {T.FAILED.value, T.UPSTREAM_FAILED.value, T.CANCELLED.value}
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


class Retry(Exception):
    """Ask the Celery task to re-send itself after ``countdown`` seconds."""

    def __init__(self, countdown: float):
        self.countdown = countdown


def _cap(rt, text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return (
        text[: limit // 2]
        + f"\n… [{len(text) - limit} characters truncated] …\n"
        + text[-limit // 2 :]
    )


def execute_task(rt, run_id: str, task_id: str, generation: int, retries: int) -> str:
    control = read_control(rt, run_id)
    if control is None:
        return "unknown-run"
    status, current_generation = control
    if generation != current_generation:
        return "stale"
    if status in (RunStatus.CANCELLED.value, RunStatus.CANCELLING.value):
        with Work(rt) as work:
            if transition_task(
                work,
                run_id,
                task_id,
                T.CANCELLED,
                only_from=[T.PENDING, T.RETRYING],
                completed_at=utcnow(),
            ):
                work.emit(
                    run_id,
                    "task_cancelled",
                    task_id=task_id,
                    message=f"Task '{task_id}' cancelled with the run",
                )
        return "cancelled"
    if status in (RunStatus.PAUSED.value, RunStatus.PAUSING.value):
        return "parked"

    with Work(rt) as work:
        session = work.session
        run = session.get(Run, run_id)
        if run is None:
            return "unknown-run"  # deleted since the message was sent
        dag = dag_for(session, rt.settings, run.workflow_definition_id)
        task = dag.tasks.get(task_id)
        if task is None:
            return "unknown-task"
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
        blocked = [d for d in task.depends_on if rows.get(d) and rows[d].status in BLOCKING]
        skipped_reads = [t for t in reads if rows.get(t) and rows[t].status == T.SKIPPED.value]
        if blocked or skipped_reads:
            to = T.UPSTREAM_FAILED if blocked else T.SKIPPED
            reason = (
                f"upstream task '{blocked[0]}' did not complete"
                if blocked
                else f"reads the output of skipped task '{skipped_reads[0]}'"
            )
            if transition_task(
                work,
                run_id,
                task_id,
                to,
                only_from=[T.PENDING],
                completed_at=utcnow(),
                error_message=reason if blocked else None,
            ):
                work.emit(
                    run_id,
                    "task_skipped",
                    task_id=task_id,
                    data={"reason": reason, "status": to.value},
                    message=f"Task '{task.name}' skipped: {reason}",
                )
            return to.value

        claim_from = [T.PENDING] if retries == 0 else [T.RETRYING]
        extra = [] if retries == 0 else [TaskExecution.attempt == retries]
        claimed = transition_task(
            work,
            run_id,
            task_id,
            T.RUNNING,
            only_from=claim_from,
            extra_where=extra,
            attempt=TaskExecution.attempt + 1,
            started_at=utcnow(),
            worker=WORKER_ID,
            generation=generation,
            error_message=None,
        )
        if not claimed:
            return "duplicate"
        if run.status == RunStatus.PENDING.value and transition_run(
            work, run_id, RunStatus.RUNNING, only_from=[RunStatus.PENDING], started_at=utcnow()
        ):
            work.emit(
                run_id,
                "execution_started",
                data={"workflow_id": run.workflow_id},
                message=f"Run of '{run.workflow_name}' started",
            )
        attempt = retries + 1
        work.emit(
            run_id,
            "task_started",
            task_id=task_id,
            data={"attempt": attempt, "action": task.action},
            message=f"Task '{task.name}' started (attempt {attempt})",
        )
        context = _context(run, rows)
        agent = _agent(session, task)

    return _run_claimed(rt, run_id, task, context, agent, attempt)


def _tasks_read(task: Task, dag: Dag) -> set[str]:
    bodies = list(expressions.expressions_in(task.input))
    if task.condition:
        bodies.append(expressions.condition_body(task.condition))
    found: set[str] = set()
    for body in bodies:
        found |= expressions.task_ids_read(body, dag.tasks)
    return found & set(dag.tasks)


def _context(run: Run, rows: dict[str, Any]) -> dict[str, Any]:
    tasks = {tid: {"output": row.output_data, "status": row.status} for tid, row in rows.items()}
    return {
        **tasks,
        "workflow": {"input": run.input_data or {}, "id": run.workflow_id, "run_id": run.id},
        "tasks": tasks,
        "steps": tasks,
        "variables": run.variables or {},
        "state": (run.options or {}).get("state", {}),
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
    return {
        key: getattr(agent, key)
        for key in ("name", "url", "auth_type", "auth_config", "timeout_ms", "retry_config")
    }


def _run_claimed(
    rt, run_id: str, task: Task, context: dict[str, Any], agent: dict[str, Any] | None, attempt: int
) -> str:
    settings = rt.settings
    timeout = (
        task.timeout or (agent or {}).get("timeout_ms", 0) / 1000 or settings.default_task_timeout
    )
    ctx = ActionContext(run_id=run_id, task_id=task.id, timeout=timeout, agent=agent)
    started = time.monotonic()
    resolved: Any = None
    output: Any = None
    error: str | None = None
    retryable = True
    skip = False
    try:
        resolved = expressions.resolve(task.input, context)
        if task.condition and not expressions.evaluate_condition(task.condition, context):
            skip = True
        else:
            action = "agent.call" if _agent_name(task) else task.action
            output = run_action(action, resolved, ctx)
            size = len(json.dumps(output, default=str))
            if size > settings.max_output_bytes:
                error = f"output is {size} bytes, over the limit of {settings.max_output_bytes}"
                output, retryable = None, False
    except expressions.ExpressionError as exc:
        error, retryable = str(exc), False
    except ActionError as exc:
        error, output, retryable = exc.message, exc.output, exc.retryable
    except Exception as exc:  # an action's bug must not escape: failure is data
        log.exception("task %s of run %s raised", task.id, run_id)
        error = f"{exc.__class__.__name__}: {exc}"
    duration = round(time.monotonic() - started, 3)
    stdout = _cap(rt, ctx.logs.get("stdout") or None, settings.max_log_bytes)
    stderr = _cap(rt, ctx.logs.get("stderr") or None, settings.max_log_bytes)
    common = {"input_data": resolved, "stdout": stdout, "stderr": stderr}

    with Work(rt) as work:
        if skip:
            transition_task(
                work,
                run_id,
                task.id,
                T.SKIPPED,
                only_from=[T.RUNNING],
                completed_at=utcnow(),
                **common,
            )
            work.emit(
                run_id,
                "task_skipped",
                task_id=task.id,
                data={"reason": "condition is false", "condition": task.condition},
                message=f"Task '{task.name}' skipped: condition is false",
            )
            return T.SKIPPED.value
        if error is None:
            transition_task(
                work,
                run_id,
                task.id,
                T.COMPLETED,
                only_from=[T.RUNNING],
                completed_at=utcnow(),
                output_data=output,
                **common,
            )
            work.emit(
                run_id,
                "task_completed",
                task_id=task.id,
                data={
                    "duration": duration,
                    "output_size": len(json.dumps(output, default=str)),
                    "output": output,
                },
                message=f"Task '{task.name}' completed successfully",
            )
            return T.COMPLETED.value
        if retryable and attempt <= task.retry.count:
            delay = task.retry.countdown(attempt - 1)
            transition_task(
                work,
                run_id,
                task.id,
                T.RETRYING,
                only_from=[T.RUNNING],
                error_message=error,
                output_data=output,
                **common,
            )
            work.emit(
                run_id,
                "task_retrying",
                task_id=task.id,
                data={
                    "attempt": attempt,
                    "max_retries": task.retry.count,
                    "delay": delay,
                    "error": error,
                },
                message=f"Task '{task.name}' failed (attempt {attempt}), retrying in "
                f"{delay:g}s: {error}",
            )
        else:
            transition_task(
                work,
                run_id,
                task.id,
                T.FAILED,
                only_from=[T.RUNNING],
                completed_at=utcnow(),
                error_message=error,
                output_data=output,
                **common,
            )
            work.emit(
                run_id,
                "task_failed",
                task_id=task.id,
                data={"duration": duration, "error": error, "attempt": attempt},
                message=f"Task '{task.name}' failed: {error}",
            )
            return T.FAILED.value
    raise Retry(delay)


# -- advance and finalize ------------------------------------------------------------------------


def advance(rt, run_id: str, generation: int, kind: str, node_id: str, index: int) -> str:
    control = read_control(rt, run_id)
    if control is None or control[1] != generation:
        return "stale"
    with rt.db.transaction() as session:
        run = session.get(Run, run_id)
        if run is None:
            return "unknown-run"
        dag = dag_for(session, rt.settings, run.workflow_definition_id)
        plan = run.plan
        plan_index = PlanIndex(plan)
        if kind == "join":
            members = plan_index.tasks_under(plan_index.nodes[node_id])
            unfinished = session.execute(
                select(func.count())
                .select_from(TaskExecution)
                .where(
                    TaskExecution.run_id == run_id,
                    TaskExecution.task_id.in_(members),
                    TaskExecution.status.not_in([s.value for s in TASK_TERMINAL]),
                )
            ).scalar_one()
    emitter = emitter_for(rt, run_id, generation, plan, dag, index=plan_index)
    if kind == "continue":
        emitter.series(plan_index.nodes[node_id], index).apply_async()
        return "continued"
    if unfinished:
        return "waiting"
    # Every member saw the join complete only once it was; let exactly one of them continue.
    key = f"harmonia:join:{run_id}:{generation}:{node_id}"
    if not rt.redis.set(key, "1", nx=True, ex=7 * 24 * 3600):
        return "joined-elsewhere"
    emitter.after_join(node_id).apply_async()
    return "joined"


def finalize_run(rt, run_id: str, generation: int) -> str:
    control = read_control(rt, run_id)
    if control is None or control[1] != generation:
        return "stale"
    with Work(rt) as work:
        session = work.session
        run = session.get(Run, run_id)
        if run is None:
            return "unknown-run"
        rows = (
            session.execute(
                select(TaskExecution)
                .where(TaskExecution.run_id == run_id)
                .order_by(TaskExecution.position)
            )
            .scalars()
            .all()
        )
        if run.status == RunStatus.CANCELLING.value:
            transition_run(work, run_id, RunStatus.CANCELLED, completed_at=None)
            work.emit(run_id, "execution_cancelled", message="Run cancelled")
            return RunStatus.CANCELLED.value
        if any(r.status not in {s.value for s in TASK_TERMINAL} for r in rows):
            if run.status == RunStatus.PAUSING.value and transition_run(
                work, run_id, RunStatus.PAUSED
            ):
                work.emit(run_id, "execution_paused", message="Run paused")
                return RunStatus.PAUSED.value
            return "unfinished"
        failed = [r for r in rows if r.status == T.FAILED.value]
        if failed:
            first = failed[0]
            message = f"Step '{first.task_id}' failed: {first.error_message}"
            if transition_run(
                work, run_id, RunStatus.FAILED, completed_at=utcnow(), error_message=message
            ):
                work.emit(
                    run_id,
                    "execution_failed",
                    data={"failed_steps": [r.task_id for r in failed]},
                    message=message,
                )
            return RunStatus.FAILED.value
        dag = dag_for(session, rt.settings, run.workflow_definition_id)
        output = _run_output(dag, run, rows)
        if transition_run(
            work,
            run_id,
            RunStatus.COMPLETED,
            completed_at=utcnow(),
            output_data=output,
            error_message=None,
        ):
            work.emit(
                run_id,
                "execution_completed",
                data={"output": output},
                message=f"Run of '{run.workflow_name}' completed",
            )
        return RunStatus.COMPLETED.value


def _run_output(dag: Dag, run: Run, rows: list[TaskExecution]) -> Any:
    outputs = {r.task_id: {"output": r.output_data, "status": r.status} for r in rows}
    if dag.output_mapping is not None:
        context = {
            **outputs,
            "tasks": outputs,
            "steps": outputs,
            "workflow": {"input": run.input_data or {}},
            "variables": run.variables or {},
        }
        try:
            return expressions.resolve(dag.output_mapping, context)
        except expressions.ExpressionError as exc:
            return {"error": str(exc)}
    return {tid: outputs[tid]["output"] for tid in dag.sinks() if tid in outputs}
