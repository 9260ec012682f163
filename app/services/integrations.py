"""Integration use-cases: the built-in catalogue, and invoking one capability directly.

The catalogue is ``app.engine.catalogue.INTEGRATIONS``, served as is: whatever integration is added
there is listed here, and a capability's ``parameters`` is the very JSON Schema that validates task
inputs. A direct invocation is checked here (the same schema, every problem at once, the shell
switch), written as a PENDING ``invocations`` row, then sent to a worker by task name
(``harmonia.invoke``): the API never imports action code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.engine.catalogue import INTEGRATIONS, Capability, Integration, starts_a_command
from app.engine.dialects import Problem
from app.models import Agent, Invocation, InvocationStatus
from app.models.base import utcnow
from app.services.dispatch import HARD_LIMIT_GRACE
from app.services.errors import (
    CapabilityNotFound,
    IntegrationNotFound,
    InvalidRequest,
    InvocationNotFound,
)
from app.services.pagination import Page, Window, paginate, paginate_list
from app.services.state import Work
from app.services.transactions import transactional

log = logging.getLogger(__name__)

INVOKE_TASK = "harmonia.invoke"
SHELL_DISABLED = (
    "running commands (cli, mcp servers started as a command) is disabled on this server "
    "(HARMONIA_ENABLE_SHELL=false)"
)
# Capabilities that only mean something inside a run: invoked alone they would report success
# while doing nothing (set_state writes the custom state of a run there is none of).
RUN_ONLY = {("builtin", "set_state"): "it writes the custom state of a run"}


# -- the catalogue ----------------------------------------------------------------------------


def _integration(integration_id: str) -> Integration:
    found = INTEGRATIONS.get(integration_id)
    if found is None:
        known = ", ".join(sorted(INTEGRATIONS))
        raise IntegrationNotFound(integration_id, known)
    return found


def _capability(integration: Integration, capability_id: str) -> Capability:
    found = integration.capabilities.get(capability_id)
    if found is None:
        known = ", ".join(sorted(integration.capabilities))
        raise CapabilityNotFound(integration.id, capability_id, known)
    return found


def _status(integration: Integration, settings) -> str:
    return "disabled" if integration.id == "cli" and not settings.enable_shell else "available"


def _summary(integration: Integration, settings) -> dict[str, Any]:
    return {
        "id": integration.id,
        "name": integration.name,
        "description": integration.description,
        # Built-ins are each their own kind; a configured integration (an MCP server, say) would
        # carry its kind here under an id of its own.
        "type": integration.id,
        "status": _status(integration, settings),
        "capabilities": list(integration.capabilities),
    }


def describe_capability(capability: Capability) -> dict[str, Any]:
    return {
        "id": capability.id,
        "name": capability.name,
        "description": capability.description,
        "parameters": capability.schema,
        "required": capability.required,
    }


def list_integrations(
    settings, *, window: Window, kind: str | None = None, status: str | None = None
) -> Page:
    items = [
        item
        for item in (_summary(i, settings) for i in INTEGRATIONS.values())
        if (kind is None or item["type"] == kind) and (status is None or item["status"] == status)
    ]
    return paginate_list(items, window)


def get_integration(settings, integration_id: str) -> dict[str, Any]:
    integration = _integration(integration_id)
    return {
        **_summary(integration, settings),
        "parameters": {cid: cap.schema for cid, cap in integration.capabilities.items()},
    }


def list_capabilities(integration_id: str) -> dict[str, Any]:
    integration = _integration(integration_id)
    return {
        "integration_id": integration.id,
        "capabilities": [describe_capability(c) for c in integration.capabilities.values()],
    }


def get_capability(integration_id: str, capability_id: str) -> dict[str, Any]:
    return describe_capability(_capability(_integration(integration_id), capability_id))


# -- invocations ------------------------------------------------------------------------------


def invoke_capability(
    rt, integration_id: str, capability_id: str, body: Mapping[str, Any]
) -> Invocation:
    """Check the request, write a PENDING invocation, send it to a worker (outbox order)."""
    integration = _integration(integration_id)
    capability = _capability(integration, capability_id)
    _refuse_run_only(integration, capability)
    root, parameters = _parameters(body)
    _refuse_commands(rt.settings, integration, capability, parameters)
    agent_name = body.get("agent_name")
    with rt.db.transaction() as session:
        problems = check_parameters(capability.schema, parameters, root)
        problems += _check_agent(session, integration, capability, agent_name)
        if problems:
            raise InvalidRequest(
                f"Invalid parameters for {integration.id}.{capability.id}: "
                + "; ".join(f"{p.field}: {p.message}" for p in problems[:5]),
                [p.to_dict() for p in problems],
            )
        invocation = Invocation(
            integration_id=integration.id,
            capability_id=capability.id,
            agent_name=agent_name,
            status=InvocationStatus.PENDING.value,
            parameters=parameters,
            created_at=utcnow(),
        )
        session.add(invocation)
    return _send(rt, invocation)


def _refuse_commands(settings, integration: Integration, capability: Capability, parameters):
    if settings.enable_shell or not starts_a_command(integration.id, parameters):
        return
    where = "integration_id" if integration.id == "cli" else "parameters.server.command"
    raise InvalidRequest(
        f"Cannot invoke {integration.id}.{capability.id}: {SHELL_DISABLED}",
        [{"field": where, "message": SHELL_DISABLED, "type": "forbidden"}],
    )


def _refuse_run_only(integration: Integration, capability: Capability) -> None:
    why = RUN_ONLY.get((integration.id, capability.id))
    if why:
        message = f"{integration.id}.{capability.id} can only run as a task of a run: {why}"
        raise InvalidRequest(
            f"Cannot invoke {message}",
            [{"field": "capability_id", "message": message, "type": "forbidden"}],
        )


def _parameters(body: Mapping[str, Any]) -> tuple[str, Any]:
    """``parameters`` (seed 004) or its alias ``input``: which one was used, and its value."""
    if body.get("parameters") is not None and body.get("input") is not None:
        raise InvalidRequest(
            "Give the capability's input as parameters or as input, not both",
            [{"field": "input", "message": "alias of parameters: give one", "type": "conflict"}],
        )
    root = "input" if body.get("input") is not None else "parameters"
    value = body.get(root)
    return root, {} if value is None else value


def check_parameters(schema: Mapping[str, Any], parameters: Any, root: str) -> list[Problem]:
    """Every problem of ``parameters`` against a capability's schema, each naming its field."""
    if not isinstance(parameters, dict):
        return [Problem(root, "must be an object", "type")]
    errors = Draft202012Validator(schema).iter_errors(parameters)
    found: dict[tuple[str, str], Problem] = {}
    for error in sorted(errors, key=lambda e: [str(p) for p in e.path]):
        for problem in _problems(error, root):
            # jsonschema reports each missing property once per ``required`` list: keep one.
            found.setdefault((problem.field, problem.type), problem)
    return list(found.values())


def _problems(error: SchemaValidationError, root: str) -> list[Problem]:
    where = ".".join([root, *(str(p) for p in error.path)])
    instance = error.instance if isinstance(error.instance, dict) else {}
    # jsonschema reports missing and unknown properties at their parent; name each one instead.
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in instance]
        return [Problem(f"{where}.{name}", "is required", "missing") for name in missing]
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = sorted(error.schema.get("properties", {}))
        expected = ", ".join(allowed) or "none"
        return [
            Problem(
                f"{where}.{name}", f"unknown parameter (expected one of: {expected})", "unknown"
            )
            for name in instance
            if name not in allowed
        ]
    return [Problem(where, error.message, str(error.validator))]


def _check_agent(
    session: Session, integration: Integration, capability: Capability, agent_name: str | None
) -> list[Problem]:
    """``agent.call`` names a registered, active agent; no other capability takes one."""
    calls_agent = (integration.id, capability.id) == ("agent", "call")
    if not calls_agent:
        if agent_name is None:
            return []
        return [Problem("agent_name", "only agent.call takes an agent_name", "unknown")]
    if agent_name is None:
        return [Problem("agent_name", "is required: the registered agent to call", "missing")]
    status = session.execute(select(Agent.status).where(Agent.name == agent_name)).scalar()
    if status != "active":
        return [Problem("agent_name", f"Agent '{agent_name}' not found or inactive", "unknown")]
    return []


def _time_limits(parameters: dict[str, Any]) -> dict[str, float]:
    """Celery limits from the invocation's own timeout (else the app's defaults apply)."""
    timeout = parameters.get("timeout")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        return {"soft_time_limit": timeout + 5, "time_limit": timeout + HARD_LIMIT_GRACE}
    return {}


def send_invocation(rt, invocation_id: str, parameters: dict[str, Any]) -> None:
    """Hand the invocation to the broker, then mark it sent (the sweep sends unmarked ones)."""
    rt.celery.send_task(
        INVOKE_TASK,
        args=[invocation_id],
        queue=rt.settings.default_queue,
        **_time_limits(parameters),
    )
    try:
        with rt.db.transaction() as session:
            session.execute(
                update(Invocation)
                .where(Invocation.id == invocation_id)
                .values(submitted_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    except Exception:
        # Sent but not marked: the sweep may send it again; the worker's claim runs it once.
        log.warning("invocation %s was sent but not marked as sent", invocation_id, exc_info=True)


def end_invocation(
    work: Work, invocation_id: str, worker: str | None, status: InvocationStatus, **values: Any
) -> bool:
    """RUNNING → ``status`` (COMPLETED or FAILED), only while ``worker`` still holds it: the one
    door out of RUNNING, for the worker that ran it and for the sweep that gives it up."""
    return bool(
        work.session.execute(
            update(Invocation)
            .where(
                Invocation.id == invocation_id,
                Invocation.status == InvocationStatus.RUNNING.value,
                Invocation.worker == worker,
            )
            .values(status=status.value, completed_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def fail_lost_invocation(rt, invocation_id: str, worker: str | None) -> bool:
    """Its worker died mid-call: FAILED with the reason, never run again (a direct call may have
    had side effects). Guarded by the dead owner, so a live claim is never touched."""
    error = f"the worker running this invocation was lost ({worker}); it was not run again"
    with Work(rt) as work:
        moved = end_invocation(work, invocation_id, worker, InvocationStatus.FAILED, error=error)
        if moved:
            work.emit(
                None,
                "invocation_failed",
                invocation_id=invocation_id,
                data={"error": error, "previous_worker": worker},
                message=f"Invocation failed: {error}",
            )
    return bool(moved)


def _send(rt, invocation: Invocation) -> Invocation:
    try:
        send_invocation(rt, invocation.id, invocation.parameters)
    except Exception as exc:
        # Nothing will ever run it: say so on the row instead of leaving it PENDING forever.
        log.exception("could not send invocation %s to the broker", invocation.id)
        with rt.db.transaction() as session:
            session.execute(
                update(Invocation)
                .where(
                    Invocation.id == invocation.id,
                    Invocation.status == InvocationStatus.PENDING.value,
                )
                .values(
                    status=InvocationStatus.FAILED.value,
                    error=f"could not be sent to a worker: {exc.__class__.__name__}: {exc}",
                    completed_at=utcnow(),
                )
            )
            return get_invocation(session, invocation.id)
    return invocation


FINISHED = (InvocationStatus.COMPLETED.value, InvocationStatus.FAILED.value)


def invoke_and_wait(
    rt, integration_id: str, capability_id: str, body: Mapping[str, Any], wait: float
) -> Invocation:
    """Invoke, then wait up to ``wait`` seconds for the result (seed 004 answers with the
    output); an invocation still running then is returned as it is, to be polled."""
    invocation = invoke_capability(rt, integration_id, capability_id, body)
    deadline = time.monotonic() + wait
    pause = 0.02
    while invocation.status not in FINISHED and time.monotonic() < deadline:
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 1.5, 0.25)
        with rt.db.transaction() as session:
            invocation = get_invocation(session, invocation.id)
    return invocation


@transactional
def get_invocation(session: Session, invocation_id: str) -> Invocation:
    invocation = session.get(Invocation, invocation_id)
    if invocation is None:
        raise InvocationNotFound(invocation_id)
    return invocation


@transactional
def list_invocations(
    session: Session,
    *,
    window: Window,
    integration_id: str | None = None,
    capability_id: str | None = None,
    status: str | None = None,
) -> Page:
    query = select(Invocation)
    if integration_id:
        query = query.where(Invocation.integration_id == integration_id)
    if capability_id:
        query = query.where(Invocation.capability_id == capability_id)
    if status:
        query = query.where(Invocation.status == status)
    order = query.order_by(Invocation.created_at.desc(), Invocation.id)
    return paginate(session, order, window)
