"""Claim a task and load what its action reads (DESIGN §4, steps 2–5).

The common case is one statement (``claim_in_one``, ``app/services/attempts.py``); anything else —
a run to promote, a park, a cancel, a skip, a re-claim, a duplicate, SQLite —
is decided step by step in one transaction (``claim_and_load``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.engine import expressions
from app.engine.catalogue import INTEGRATIONS
from app.engine.dag import Dag, Task
from app.models import Agent, Run, RunStatus, TaskExecution, TaskStatus
from app.models.base import utcnow
from app.phases import phase
from app.services import attempts
from app.services.definitions import dag_for, dag_of_version
from app.services.leases import owner_alive, worker_id
from app.services.run_state import read_state
from app.services.state import (
    Work,
    announce,
    claim_task,
    lock_run,
    promote_run,
    read_control,
    run_accepts_claims,
    transition_task,
)
from worker.protocol import CANCEL, Claimed, Stop

R, T = RunStatus, TaskStatus

BLOCKING = {T.FAILED.value, T.UPSTREAM_FAILED.value, T.CANCELLED.value}
DONE = {T.COMPLETED.value, T.SKIPPED.value}
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


# Run id → its workflow version, which never changes (bounded: cleared when full).
_VERSIONS: dict[str, str] = {}
_VERSIONS_KEPT = 1024


def _dag_of(rt, run_id: str) -> Dag | None:
    version = _VERSIONS.get(run_id)
    if version is None:
        version = attempts.definition_of(rt, run_id)
        if version is None:
            return None
        if len(_VERSIONS) >= _VERSIONS_KEPT:
            _VERSIONS.clear()
        _VERSIONS[run_id] = version
    return dag_of_version(rt.db, rt.settings, version)


def claim(rt, run_id: str, task_id: str, generation: int, retries: int) -> Claimed | str:
    """Claim the task and load its inputs; or its status when there is nothing to run (skipped,
    or already finished in this generation); or ``Stop``.

    The fence (DESIGN §4, step 1) is the claim's own guard: the statement that claims checks the
    generation under the run's lock, and when it claims nothing, the run it read fences the
    message. Only when no statement ran (SQLite) does the control record in Redis fence it.
    """
    claimed = claim_in_one(rt, run_id, task_id, generation, retries)
    if isinstance(claimed, Claimed):
        return claimed
    with phase("fence"):
        control = (claimed.status, claimed.generation) if claimed else read_control(rt, run_id)
    if control is None:
        raise Stop("unknown-run")
    if control[1] > generation:
        # Generations only grow, so even a lagging cache proves this message is stale.
        raise Stop("stale")
    return claim_and_load(rt, run_id, task_id, generation, retries)


def claim_in_one(rt, run_id: str, task_id: str, generation: int, retries: int) -> Claimed | Any:
    """The common case in one statement (``attempts.claim``): a RUNNING run of this generation,
    the task waiting for this message, nothing upstream blocking it.
    Anything else is for ``claim_and_load`` to decide (nothing was written): then the run's row
    as the statement read it, or None when none was read."""
    dag = _dag_of(rt, run_id)
    task = dag.tasks.get(task_id) if dag else None
    if task is None or agent_name(task):
        return None
    meta = _meta(task, dag)
    got = attempts.claim(
        rt,
        run_id,
        task_id,
        generation,
        retries,
        worker=worker_id(),
        depends_on=task.depends_on,
        reads=_tasks_read(task, dag),
        wants_state=_reads_state(task, task.input),
        data={"action": task.action, **meta},
        message=f"Task '{task.name}' started",
    )
    if not isinstance(got, attempts.Taken):
        return got
    with phase("publish"):
        announce(rt, got.events, notify=got.notified)
    with phase("input context"):
        overrides = (got.run.options or {}).get("input_overrides") or {}
        task_input = overrides.get(task_id, task.input)
        state = got.state
        if state is None and _reads_state(task, task_input):  # a rerun's input override
            with rt.db.transaction() as session:
                state = read_state(session, run_id)
        context = _context(got.run, got.upstream, state or {})
    return Claimed(
        task, task_input, context, None, got.attempt, meta, dag.checkpoint.every_n_tasks, dag
    )


def claim_and_load(rt, run_id: str, task_id: str, generation: int, retries: int) -> Claimed | str:
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
            if run.status == R.PENDING.value:
                promote_run(work, run_id, generation, run.workflow_id, run.workflow_name)
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


def agent_name(task: Task) -> str | None:
    """Agent steps: ``agent_name`` (002), or a ``component`` that names a registered agent."""
    if task.action == "agent.call":
        return task.agent
    return task.integration if task.integration not in INTEGRATIONS else None


def _agent(session, task: Task) -> dict[str, Any] | None:
    name = agent_name(task)
    if name is None:
        return None
    agent = session.execute(select(Agent).where(Agent.name == name)).scalar_one_or_none()
    if agent is None:
        return None
    return agent.call_context()
