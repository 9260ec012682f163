"""Run control: pause, resume, cancel, retry, rerun from a step (DESIGN §4 "Control operations").

Every operation is a compare-and-set on the run row (status and generation), so concurrent calls
serialise in the database: the loser gets ``InvalidTransition`` naming the status it found.
Resume, retry and rerun start a new *generation*: tasks to run again are reset to PENDING, the
plan of what is left is compiled and submitted, and every message of an older generation is
fenced off by the workers. Completed tasks keep their outputs and are not run again.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sqlalchemy import select, update

from app.engine.compiler import build_plan
from app.models import Run, RunStatus, TaskExecution, TaskStatus
from app.models.base import utcnow
from app.services import checkpoints
from app.services.definitions import dag_for
from app.services.dispatch import submit_generation
from app.services.errors import InvalidTransition, StepNotFound
from app.services.runs import ensure_tasks, get_run, get_task_execution
from app.services.state import (
    Work,
    nothing_running,
    transition_run,
    transition_task,
    transition_tasks,
)

R, T = RunStatus, TaskStatus
ACTIVE = (R.PENDING, R.RUNNING)


# How many times a transition is tried when the run changed between its read and its update.
CHANGED_UNDER_US = 3


def _refuse(run: Run, operation: str, allowed: tuple[RunStatus, ...]) -> InvalidTransition:
    names = ", ".join(s.value for s in allowed)
    return InvalidTransition(
        f"Run '{run.id}' cannot be {operation}: its status is {run.status} (allowed from: {names})"
    )


def _same_generation(run: Run):
    return Run.generation == run.generation


def _set_options(work: Work, run_id: str, **changes: Any) -> None:
    options = work.session.execute(select(Run.options).where(Run.id == run_id)).scalar_one() or {}
    options = {**options, **changes}
    options = {key: value for key, value in options.items() if value is not None}
    work.session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(options=options)
        .execution_options(synchronize_session=False)
    )


def _fresh(rt, run_id: str) -> Run:
    with rt.db.transaction() as session:
        return get_run(session, run_id)


def pause_run(rt, run_id: str, reason: str | None = None) -> Run:
    """No new task starts; running tasks finish; PAUSED once nothing runs (PAUSING until then)."""
    with Work(rt) as work:
        run = get_run(work.session, run_id)
        if run.status == R.PAUSING.value:
            _set_options(work, run_id, resume_requested=None)  # a later pause beats a resume
        else:
            if run.status not in {s.value for s in ACTIVE} or not transition_run(
                work, run_id, R.PAUSING, only_from=ACTIVE, extra_where=[_same_generation(run)]
            ):
                raise _refuse(get_run(work.session, run_id), "paused", ACTIVE)
            _set_options(work, run_id, pause_reason=reason, resume_requested=None)
            ensure_tasks(work, run_id)  # a run not begun yet gets its rows, for resume to run
            _settle(work, run_id)
    return _fresh(rt, run_id)


def resume_run(rt, run_id: str) -> Run:
    """Start a new generation with what is left. While PAUSING, resume once the pause settles."""
    with Work(rt) as work:
        run = get_run(work.session, run_id)
        if run.status == R.PAUSING.value:
            _set_options(work, run_id, resume_requested=True)
            generation = None
        elif run.status != R.PAUSED.value:
            raise _refuse(run, "resumed", (R.PAUSED, R.PAUSING))
        else:
            generation, plan, dag = _regenerate(
                work, run, R.RUNNING, reset=[T.RETRYING], reason="resume"
            )
    if generation is not None:
        submit_generation(rt, run_id, generation, plan, dag)
    return _fresh(rt, run_id)


def start_created_run(rt, run_id: str) -> Run:
    """CREATED → PENDING, and send its first segment (seed 004's ``POST …/start``)."""
    with Work(rt) as work:
        run = get_run(work.session, run_id)
        if run.status != R.CREATED.value or not transition_run(
            work, run_id, R.PENDING, only_from=[R.CREATED], started_at=utcnow()
        ):
            raise _refuse(get_run(work.session, run_id), "started", (R.CREATED,))
        plan = work.session.execute(select(Run.plan).where(Run.id == run_id)).scalar_one()
        dag = dag_for(work.session, rt.settings, run.workflow_definition_id)
    submit_generation(rt, run_id, run.generation, plan, dag)
    return _fresh(rt, run_id)


def cancel_run(rt, run_id: str, reason: str | None = None, cancelled_by: str = "system") -> Run:
    """CANCELLING while running tasks are stopped (their process groups too), then CANCELLED.

    The update is conditional on the generation read; a run that moved on between the read and
    the update (a pause settling into the generation a resume asked for) is read again."""
    allowed = (R.CREATED, R.PENDING, R.RUNNING, R.PAUSING, R.PAUSED)
    for _attempt in range(CHANGED_UNDER_US):
        with Work(rt) as work:
            run = get_run(work.session, run_id)
            if run.status not in {s.value for s in allowed}:
                raise _refuse(run, "cancelled", allowed)
            now = utcnow()
            message = f"Cancelled: {reason}" if reason else "Cancelled"
            if transition_run(
                work,
                run_id,
                R.CANCELLING,
                only_from=allowed,
                extra_where=[_same_generation(run)],
                cancelled_at=now,
                cancelled_by=cancelled_by,
                error_message=message,
            ):
                _set_options(work, run_id, cancel_reason=reason, resume_requested=None)
                ensure_tasks(work, run_id)  # a run not begun yet gets its rows, cancelled
                transition_tasks(
                    work, run_id, T.CANCELLED, only_from=[T.PENDING, T.RETRYING], completed_at=now
                )
                _settle(work, run_id)
                cancelled = True
            else:
                cancelled = False
        if cancelled:  # committed
            return _fresh(rt, run_id)
    raise _refuse(_fresh(rt, run_id), "cancelled", allowed)


def retry_run(rt, run_id: str) -> Run:
    """FAILED or CANCELLED → PENDING: run the failed, cancelled and unstarted tasks again."""
    allowed = (R.FAILED, R.CANCELLED)
    with Work(rt) as work:
        run = get_run(work.session, run_id)
        if run.status not in {s.value for s in allowed}:
            raise _refuse(run, "retried", allowed)
        generation, plan, dag = _regenerate(
            work,
            run,
            R.PENDING,
            reset=[T.FAILED, T.UPSTREAM_FAILED, T.CANCELLED, T.RETRYING],
            reason="retry",
        )
    submit_generation(rt, run_id, generation, plan, dag)
    return _fresh(rt, run_id)


def rerun_from_step(rt, run_id: str, step_id: str, step_input: Any = None) -> Run:
    """Run one step and everything downstream of it again (optionally with a new step input)."""
    allowed = (R.COMPLETED, R.FAILED, R.CANCELLED, R.PAUSED)
    with Work(rt) as work:
        run = get_run(work.session, run_id)
        dag = dag_for(work.session, rt.settings, run.workflow_definition_id)
        if step_id not in dag.tasks:
            raise StepNotFound(run_id, step_id)
        if run.status not in {s.value for s in allowed}:
            raise _refuse(run, "rerun from a step", allowed)
        downstream = _downstream(dag, step_id)
        overrides = dict((run.options or {}).get("input_overrides") or {})
        if step_input is not None:
            overrides[step_id] = step_input
        _set_options(work, run_id, input_overrides=overrides or None)
        generation, plan, dag = _regenerate(
            work,
            run,
            R.PENDING,
            reset=[s for s in T if s != T.PENDING],
            only=downstream,
            reason="rerun_from_step",
            step_id=step_id,
        )
    submit_generation(rt, run_id, generation, plan, dag)
    return _fresh(rt, run_id)


def retry_task_execution(rt, task_execution_id: str) -> TaskExecution:
    """Run a failed task execution again, with what depends on it (seed 003's
    ``POST /api/tasks/{id}/retry``); its other tasks keep their results."""
    with rt.db.transaction() as session:
        task = get_task_execution(session, task_execution_id)
        run_id, task_id, status = task.run_id, task.task_id, task.status
    if status != T.FAILED.value:
        raise InvalidTransition(
            f"Task execution '{task_execution_id}' cannot be retried: its status is {status} "
            "(only a FAILED task is retried)"
        )
    rerun_from_step(rt, run_id, task_id)
    with rt.db.transaction() as session:
        return get_task_execution(session, task_execution_id)


def _downstream(dag, step_id: str) -> set[str]:
    children = dag.dependants()
    found, stack = {step_id}, [step_id]
    while stack:
        for child in children[stack.pop()]:
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _regenerate(
    work: Work,
    run: Run,
    to: RunStatus,
    *,
    reset: list[TaskStatus],
    reason: str,
    only: set[str] | None = None,
    step_id: str | None = None,
):
    """New generation: reset tasks, plan what is left (the PENDING tasks), record the plan."""
    session = work.session
    generation = run.generation + 1
    fields: dict[str, Any] = {"generation": generation, "submitted_at": None}
    if to == R.PENDING:
        fields.update(
            completed_at=None,
            cancelled_at=None,
            cancelled_by=None,
            error_message=None,
            output_data=None,
        )
    if not transition_run(work, run.id, to, extra_where=[_same_generation(run)], **fields):
        raise _refuse(get_run(session, run.id), reason.replace("_", " "), (to,))
    transition_tasks(
        work,
        run.id,
        T.PENDING,
        only_from=reset,
        task_ids=only,
        completed_at=None,
        error_message=None,
        output_data=None,
    )
    pending = set(
        session.execute(
            select(TaskExecution.task_id).where(
                TaskExecution.run_id == run.id, TaskExecution.status == T.PENDING.value
            )
        ).scalars()
    )
    dag = dag_for(session, work.rt.settings, run.workflow_definition_id)
    plan = build_plan(dag, done=set(dag.tasks) - pending)
    session.execute(
        update(Run)
        .where(Run.id == run.id)
        .values(plan=plan)
        .execution_options(synchronize_session=False)
    )
    _set_options(work, run.id, resume_requested=None)
    work.emit(
        run.id,
        "execution_resumed",
        data={
            "reason": reason,
            "generation": generation,
            "step_id": step_id,
            "tasks_to_run": len(pending),
        },
        message=f"Run {reason.replace('_', ' ')}: {len(pending)} task(s) to run "
        f"(generation {generation})",
    )
    return generation, plan, dag


def _settle(work: Work, run_id: str) -> bool:
    """PAUSING → PAUSED and CANCELLING → CANCELLED once no task is RUNNING. True if a resume
    was requested while pausing (the caller resumes after committing)."""
    resume = False
    if transition_run(
        work, run_id, R.PAUSED, only_from=[R.PAUSING], extra_where=[nothing_running(run_id)]
    ):
        options = work.session.execute(select(Run.options).where(Run.id == run_id)).scalar_one()
        work.emit(
            run_id,
            "execution_paused",
            data={"reason": (options or {}).get("pause_reason")},
            message="Run paused",
        )
        checkpoints.on_pause(work, run_id)
        resume = bool((options or {}).get("resume_requested"))
    if transition_run(
        work, run_id, R.CANCELLED, only_from=[R.CANCELLING], extra_where=[nothing_running(run_id)]
    ):
        options = work.session.execute(select(Run.options).where(Run.id == run_id)).scalar_one()
        work.emit(
            run_id,
            "execution_cancelled",
            data={"reason": (options or {}).get("cancel_reason")},
            message="Run cancelled",
        )
    return resume


def recover_run(rt, run_id: str) -> bool:
    """A stalled run: reset tasks stuck on dead workers and submit what is left (the sweep)."""
    with Work(rt) as work:
        run = get_run(work.session, run_id)
        if run.status not in {s.value for s in ACTIVE}:
            return False
        try:
            generation, plan, dag = _regenerate(
                work, run, RunStatus(run.status), reset=[T.RUNNING, T.RETRYING], reason="recover"
            )
        except InvalidTransition:
            return False
    submit_generation(rt, run_id, generation, plan, dag)
    return True


def release_lost_task(rt, run_id: str, task_id: str, worker: str | None) -> bool:
    """A task left RUNNING by a worker that died while its run was pausing or cancelling: park it
    (PENDING, to run on resume) or cancel it, so the run can settle. Guarded by the dead owner,
    so a task re-claimed meanwhile is left alone."""
    with Work(rt) as work:
        status = work.session.execute(select(Run.status).where(Run.id == run_id)).scalar()
        to = {R.PAUSING.value: T.PENDING, R.CANCELLING.value: T.CANCELLED}.get(status)
        if to is None:
            return False
        fields = {"completed_at": utcnow()} if to == T.CANCELLED else {}
        moved = transition_task(
            work,
            run_id,
            task_id,
            to,
            only_from=[T.RUNNING],
            extra_where=[TaskExecution.worker == worker],
            error_message=f"its worker ({worker}) was lost while the run was stopping",
            **fields,
        )
        if moved:
            work.emit(
                run_id,
                "task_cancelled" if to == T.CANCELLED else "task_reclaimed",
                task_id=task_id,
                data={"previous_worker": worker, "status": to.value},
                message=f"Task '{task_id}' released from a worker that died ({worker})",
            )
        return moved


def settle_run(rt, run_id: str) -> None:
    """Called whenever a task stops while its run is PAUSING or CANCELLING (and by the sweep)."""
    with Work(rt) as work:
        resume = _settle(work, run_id)
    if resume:
        with suppress(InvalidTransition):  # another caller settled and resumed first
            resume_run(rt, run_id)
