"""Run a claimed task's action (DESIGN §4, step 6): resolve its input, evaluate its condition,
run it under its lease with a stop check, an event emitter and its timeout, and say what came of
it. Failure is data: nothing an action does escapes as an exception."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from app.engine import expressions
from app.models import RunStatus, TaskStatus
from app.phases import phase
from app.services.leases import Lease
from app.services.state import Work, read_control
from worker.actions import ActionCancelled, ActionContext, ActionError, Emit, run_action
from worker.claiming import agent_name
from worker.protocol import CANCEL, Claimed

log = logging.getLogger(__name__)

R, T = RunStatus, TaskStatus


def _cap(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return (
        text[: limit // 2]
        + f"\n… [{len(text) - limit} characters truncated] …\n"
        + text[-limit // 2 :]
    )


def stop_checker(rt, run_id: str):
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


def run(rt, run_id: str, claimed: Claimed, retries: int) -> tuple[TaskStatus, dict[str, Any]]:
    """The attempt's outcome and what to record with it (``outcome.record``)."""
    task, meta, settings = claimed.task, claimed.meta, rt.settings
    # An agent step bounds each attempt by the agent's timeout_ms itself; the step as a whole
    # (with its retries) by the task's timeout.
    timeout = task.timeout or settings.default_task_timeout
    ctx = ActionContext(
        run_id=run_id,
        task_id=task.id,
        timeout=timeout,
        agent=claimed.agent,
        should_stop=stop_checker(rt, run_id),
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
                    action = "agent.call" if agent_name(task) else task.action
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
    return outcome, done
