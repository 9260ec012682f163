"""Running a direct invocation (``harmonia.invoke``): one capability, outside any run.

Claim → run → record, like a task but without a run around it:
1. Claim atomically: a conditional UPDATE PENDING → RUNNING that names this worker. A redelivered
   message finds the row taken and runs nothing; if the worker that took it has died, the row is
   marked FAILED rather than run a second time (a direct call may have side effects).
2. Run the action with its timeout (the parameters' ``timeout``, else ``default_task_timeout``).
   Failure is data: ``ActionError`` and any other exception become the invocation's error;
   nothing is raised to Celery.
3. Record COMPLETED or FAILED with the output (size-capped like a task's), the error and timings.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqlalchemy import select, update

from app.models import Agent, Invocation, InvocationStatus
from app.models.base import utcnow
from app.services.integrations import SHELL_DISABLED, starts_a_command
from app.services.leases import Lease, owner_alive, worker_id
from worker.actions import ActionContext, ActionError, run_action

log = logging.getLogger(__name__)

S = InvocationStatus


def lease_scope(invocation_id: str) -> str:
    """Stands for the run id in leases and action contexts: an invocation has no run."""
    return f"invocation:{invocation_id}"


def run_invocation(rt, invocation_id: str) -> str:
    """Run one invocation once; return the status it ends (or was found) in."""
    me = worker_id()
    row = _claim(rt, invocation_id, me)
    if row is None:
        return _not_claimed(rt, invocation_id)
    started = time.monotonic()
    output, error = _run(rt, row)
    duration_ms = round((time.monotonic() - started) * 1000)
    return _record(rt, invocation_id, me, output, error, duration_ms)


def _claim(rt, invocation_id: str, me: str) -> Invocation | None:
    with rt.db.transaction() as session:
        taken = session.execute(
            update(Invocation)
            .where(Invocation.id == invocation_id, Invocation.status == S.PENDING.value)
            .values(status=S.RUNNING.value, started_at=utcnow(), worker=me)
            .execution_options(synchronize_session=False)
        ).rowcount
        return session.get(Invocation, invocation_id) if taken == 1 else None


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
        alive = owner_alive(rt, lease_scope(invocation_id), row.capability_id, row.worker)
        if row.status != S.RUNNING.value or alive:
            return row.status
        session.execute(
            update(Invocation)
            .where(
                Invocation.id == invocation_id,
                Invocation.status == S.RUNNING.value,
                Invocation.worker == row.worker,
            )
            .values(
                status=S.FAILED.value,
                error=f"the worker running this invocation was lost ({row.worker}); "
                "it was not run again",
                completed_at=utcnow(),
            )
        )
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
    with Lease(rt, lease_scope(row.id), row.capability_id):
        try:
            if not rt.settings.enable_shell and starts_a_command(
                row.integration_id, row.parameters
            ):
                # The API refuses these; a worker configured stricter than its API refuses too.
                raise ActionError(f"refused by this worker: {SHELL_DISABLED}", retryable=False)
            agent = _agent(rt, row.agent_name)
            ctx = ActionContext(
                run_id=lease_scope(row.id),
                task_id=row.capability_id,
                timeout=_timeout(rt, row.parameters),
                agent=agent,
                task_name=action,
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
    with rt.db.transaction() as session:
        session.execute(
            update(Invocation)
            .where(
                Invocation.id == invocation_id,
                Invocation.status == S.RUNNING.value,
                Invocation.worker == me,
            )
            .values(
                status=status.value,
                output=output,
                error=error,
                completed_at=utcnow(),
                duration_ms=duration_ms,
            )
            .execution_options(synchronize_session=False)
        )
