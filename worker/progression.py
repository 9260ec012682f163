"""How a run moves on: ``harmonia.advance`` continues a plan, ``harmonia.finalize_run`` ends it.

``advance`` either continues a series from a stored plan (a segment was full) or joins a parallel
node: once every task under it is finished, exactly one member continues (a Redis ``SET NX``
picks it; duplicates are harmless because claims are atomic). ``finalize_run`` decides the run's
status and computes its output.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

from sqlalchemy import func, select

from app.engine import expressions
from app.engine.compiler import PlanIndex
from app.engine.dag import Dag
from app.models import Run, RunStatus, TaskExecution, TaskStatus
from app.models.base import as_utc, utcnow
from app.models.status import TASK_TERMINAL
from app.services import checkpoints
from app.services.definitions import dag_for
from app.services.dispatch import emitter_for, send
from app.services.state import Work, read_control, transition_run

T = TaskStatus


class Planned(NamedTuple):
    """What a run's continuations are cut from, for one generation."""

    workflow_definition_id: str
    plan: dict[str, Any]
    index: PlanIndex


# A run's plan never changes within a generation (a new plan comes with a new generation, in the
# same transaction: app/services/control.py), so each process keeps the last few it read and a
# join's every arrival does not read and index the stored plan again. Few: a plan of 1,000 tasks
# is large.
_PLANS: OrderedDict[tuple[str, int], Planned] = OrderedDict()
PLANS_KEPT = 8


def _planned(session, run_id: str, generation: int) -> Planned | None:
    key = (run_id, generation)
    found = _PLANS.get(key)
    if found is not None:
        _PLANS.move_to_end(key)
        return found
    row = session.execute(
        select(Run.workflow_definition_id, Run.plan, Run.generation).where(Run.id == run_id)
    ).first()
    if row is None:
        return None
    planned = Planned(row.workflow_definition_id, row.plan, PlanIndex(row.plan))
    if row.generation == generation:  # a lagging control cache: read again next time
        _PLANS[key] = planned
        while len(_PLANS) > PLANS_KEPT:
            _PLANS.popitem(last=False)
    return planned


def advance(rt, run_id: str, generation: int, kind: str, node_id: str, index: int) -> str:
    control = read_control(rt, run_id)
    if control is None or control[1] != generation:
        return "stale"
    with rt.db.transaction() as session:
        planned = _planned(session, run_id, generation)
        if planned is None:
            return "unknown-run"
        dag = dag_for(session, rt.settings, planned.workflow_definition_id)
        plan, plan_index = planned.plan, planned.index
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
        send(emitter.series(plan_index.nodes[node_id], index), rt.celery)
        return "continued"
    if unfinished:
        return "waiting"
    # Every member saw the join complete only once it was; let exactly one of them continue.
    key = f"harmonia:join:{run_id}:{generation}:{node_id}"
    if not rt.redis.set(key, "1", nx=True, ex=7 * 24 * 3600):
        return "joined-elsewhere"
    send(emitter.after_join(node_id), rt.celery)
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
        # The columns deciding the run's end, not ORM objects: a 1,000-task run builds none.
        rows = session.execute(
            select(
                TaskExecution.task_id,
                TaskExecution.status,
                TaskExecution.error_message,
                TaskExecution.output_data,
            )
            .where(TaskExecution.run_id == run_id)
            .order_by(TaskExecution.position)
        ).all()
        if run.status == RunStatus.CANCELLING.value:
            transition_run(work, run_id, RunStatus.CANCELLED, completed_at=None)
            work.emit(run_id, "execution_cancelled", message="Run cancelled")
            return RunStatus.CANCELLED.value
        if any(r.status not in {s.value for s in TASK_TERMINAL} for r in rows):
            if run.status == RunStatus.PAUSING.value and transition_run(
                work, run_id, RunStatus.PAUSED
            ):
                work.emit(run_id, "execution_paused", message="Run paused")
                checkpoints.on_pause(work, run_id)
                return RunStatus.PAUSED.value
            return "unfinished"
        failed = [r for r in rows if r.status == T.FAILED.value]
        if failed:
            first = failed[0]
            message = f"Step '{first.task_id}' failed: {first.error_message}"
            finished = utcnow()
            if transition_run(
                work, run_id, RunStatus.FAILED, completed_at=finished, error_message=message
            ):
                started = as_utc(run.started_at or run.created_at)
                work.emit(
                    run_id,
                    "execution_failed",
                    data={
                        "failed_steps": [r.task_id for r in failed],
                        "duration_seconds": round((as_utc(finished) - started).total_seconds(), 3),
                    },
                    message=message,
                )
            return RunStatus.FAILED.value
        dag = dag_for(session, rt.settings, run.workflow_definition_id)
        output = _run_output(dag, run, rows)
        finished = utcnow()
        if transition_run(
            work,
            run_id,
            RunStatus.COMPLETED,
            completed_at=finished,
            output_data=output,
            error_message=None,
        ):
            started = as_utc(run.started_at or run.created_at)
            data = {
                "output": output,
                "workflow_id": run.workflow_id,
                "workflow_name": run.workflow_name,
                "duration_seconds": round((as_utc(finished) - started).total_seconds(), 3),
            }
            work.emit(
                run_id,
                "execution_completed",
                data=data,
                message=f"Run of '{run.workflow_name}' completed",
            )
            # Seed 000's clients wait for this name; it always follows execution_completed.
            work.emit(
                run_id,
                "workflow_completed",
                data=data,
                message=f"Workflow '{run.workflow_name}' completed",
            )
        return RunStatus.COMPLETED.value


def _run_output(dag: Dag, run: Run, rows) -> Any:
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
