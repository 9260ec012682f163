"""Running a direct invocation (``harmonia.invoke``): one capability, outside any run.

Claim → run → record, like a task but without a run around it:
1. Claim atomically: a conditional UPDATE PENDING → RUNNING that names this worker. A redelivered
   message finds the row taken and runs nothing; if the worker that took it has died, the row is
   marked FAILED rather than run a second time (a direct call may have side effects).
2. Run the action with its timeout (the parameters' ``timeout``, else ``default_task_timeout``).
   Failure is data: ``ActionError`` and any other exception become the invocation's error;
   nothing is raised to Celery.
3. Record COMPLETED or FAILED with the output (size-capped like a task's), the error and timings.

Its events (``invocation_started``, the action's ``task_progress`` and ``step_output``,
``invocation_completed`` / ``invocation_failed``) carry its ``invocation_id`` and stream on
``/ws/invocations/{id}`` and ``/events/invocations/{id}`` as a run's do. Writes are retried
through a database outage, so an invocation that ran keeps its outcome.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqlalchemy import select, update

from app.models import Agent, Invocation, InvocationStatus
from app.models.base import utcnow
from app.services.integrations import (
    SHELL_DISABLED,
    end_invocation,
    fail_lost_invocation,
    starts_a_command,
)
from app.services.leases import Lease, invocation_scope, owner_alive, worker_id
from app.services.state import Work
from worker.actions import ActionContext, ActionError, run_action
from worker.harness import action_emitter
from worker.outcome import EVENT_OUTPUT_BYTES
from worker.runtime import while_database_down

log = logging.getLogger(__name__)

S = InvocationStatus


def run_invocation(rt, invocation_id: str) -> str:
    """Run one invocation once; return the status it ends (or was found) in."""
    me = worker_id()
    row = while_database_down(
        rt, f"claiming invocation {invocation_id}", lambda: _claim(rt, invocation_id, me)
    )
    if row is None:
        return while_database_down(
            rt, f"checking invocation {invocation_id}", lambda: _not_claimed(rt, invocation_id)
        )
    started = time.monotonic()
    output, error = _run(rt, row)
    duration_ms = round((time.monotonic() - started) * 1000)
    return while_database_down(
        rt,
        f"recording invocation {invocation_id}",
        lambda: _record(rt, invocation_id, me, output, error, duration_ms),
    )


def _claim(rt, invocation_id: str, me: str) -> Invocation | None:
    with Work(rt) as work:
        taken = work.session.execute(
            update(Invocation)
            .where(Invocation.id == invocation_id, Invocation.status == S.PENDING.value)
            .values(status=S.RUNNING.value, started_at=utcnow(), worker=me)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            return None
        row = work.session.get(Invocation, invocation_id)
        action = f"{row.integration_id}.{row.capability_id}"
        work.emit(
            None,
            "invocation_started",
            invocation_id=invocation_id,
            data={"action": action, "worker": me},
            message=f"Invocation of {action} started",
        )
        return row


def _not_claimed(rt, invocation_id: str) -> str:
    """A duplicate delivery: leave a live or finished invocation alone; fail a lost one."""
    with rt.db.transaction() as session:
        row = session.execute(
            select(Invocation.status, Invocation.worker, Invocation.capability_id).where(
                Invocation.id == invocation_id
            )
        ).first()
    if row is None:
        return "unknown"  # deleted since it was sent
    alive = owner_alive(rt, invocation_scope(invocation_id), row.capability_id, row.worker)
    if row.status != S.RUNNING.value or alive:
        return row.status
    fail_lost_invocation(rt, invocation_id, row.worker)
    return S.FAILED.value


def _agent(rt, name: str | None) -> dict[str, Any] | None:
    """The agent an ``agent.call`` names, as ``worker.execution`` hands it to the action."""
    if name is None:
        return None
    with rt.db.transaction() as session:
        agent = session.execute(select(Agent).where(Agent.name == name)).scalar_one_or_none()
        if agent is None or agent.status != "active":
            raise ActionError(f"Agent '{name}' not found or inactive", retryable=False)
        return agent.call_context()


def _timeout(rt, parameters: Any) -> float:
    """The parameters' ``timeout``, else the default. An agent bounds each attempt by its own
    ``timeout_ms``; this bounds the call as a whole, retries included (as for a task)."""
    given = parameters.get("timeout") if isinstance(parameters, dict) else None
    if isinstance(given, int | float) and not isinstance(given, bool) and given > 0:
        return float(given)
    return rt.settings.default_task_timeout


def _run(rt, row: Invocation) -> tuple[Any, str | None]:
    """The action's output and error (``None`` when it succeeded); never raises."""
    action = f"{row.integration_id}.{row.capability_id}"
    with Lease(rt, invocation_scope(row.id), row.capability_id):
        try:
            if not rt.settings.enable_shell and starts_a_command(
                row.integration_id, row.parameters
            ):
                # The API refuses these; a worker configured stricter than its API refuses too.
                raise ActionError(f"refused by this worker: {SHELL_DISABLED}", retryable=False)
            agent = _agent(rt, row.agent_name)
            ctx = ActionContext(
                run_id=invocation_scope(row.id),
                task_id=row.capability_id,
                timeout=_timeout(rt, row.parameters),
                agent=agent,
                task_name=action,
                emit=action_emitter(rt, None, invocation_id=row.id),
            )
            return run_action(action, row.parameters, ctx), None
        except ActionError as exc:
            return exc.output, exc.message
        except Exception as exc:  # an action's bug must not escape: failure is data
            log.exception("invocation %s (%s) raised", row.id, action)
            return None, f"{exc.__class__.__name__}: {exc}"


def _storable(output: Any, limit: int) -> tuple[Any, str | None]:
    """The output as JSON would store it, or ``None`` and why when it is over ``limit`` bytes."""
    text = json.dumps(output, default=str)
    if len(text) > limit:
        return None, f"output is {len(text)} bytes, over the limit of {limit}"
    return json.loads(text), None


def _record(
    rt, invocation_id: str, me: str, output: Any, error: str | None, duration_ms: int
) -> str:
    try:
        output, too_large = _storable(output, rt.settings.max_output_bytes)
    except (TypeError, ValueError) as exc:  # NaN, circular structures...
        output, too_large = None, f"output is not JSON: {exc}"
    if too_large:
        error = f"{error}; {too_large}" if error else too_large
    status = S.FAILED if error is not None else S.COMPLETED
    try:
        _finish(rt, invocation_id, me, status, output, error, duration_ms)
    except Exception as exc:  # e.g. a NUL that Postgres refuses: record the failure without it
        log.exception("could not store the outcome of invocation %s", invocation_id)
        reason = f"could not store the output: {exc.__class__.__name__}"
        status = S.FAILED
        error = f"{error.replace(chr(0), '')}; {reason}" if error else reason
        _finish(rt, invocation_id, me, status, None, error, duration_ms)
    return status.value


def _finish(
    rt,
    invocation_id: str,
    me: str,
    status: InvocationStatus,
    output: Any,
    error: str | None,
    duration_ms: int,
) -> None:
    with Work(rt) as work:
        moved = end_invocation(
            work, invocation_id, me, status, output=output, error=error, duration_ms=duration_ms
        )
        if moved:
            data: dict[str, Any] = {"duration_ms": duration_ms, "error": error}
            if len(json.dumps(output, default=str)) <= EVENT_OUTPUT_BYTES:
                data["output"] = output
            verb = "completed" if status == S.COMPLETED else "failed"
            work.emit(
                None,
                f"invocation_{verb}",
                invocation_id=invocation_id,
                data=data,
                message=f"Invocation {verb}" + (f": {error}" if error else ""),
            )
