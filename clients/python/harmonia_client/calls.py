"""Every ``/api/v1`` operation as a ``Call``: method, path, query and body, with no I/O.

``Client`` and ``AsyncClient`` send the same calls, one with blocking httpx and one with async
httpx, so the paths and bodies are written once, here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

API = "/api/v1"
RUN_FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# Oldest first, so items created while a list is being walked land after the cursor.
STABLE_ORDER = {"sort_by": "created_at", "sort_order": "asc"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None


def _id(value: str) -> str:
    return quote(str(value), safe="")


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a caller gave (``None`` means "not given", so the server's default applies)."""
    return {key: value for key, value in fields.items() if value is not None}


def page(path: str, page_number: int, page_size: int, filters: Mapping[str, Any]) -> Call:
    return Call("GET", path, {**_present(filters), "page": page_number, "page_size": page_size})


# Workflows


def create_workflow(
    name: str, tasks: Mapping[str, Any] | Sequence[Any] | None, fields: Mapping[str, Any]
) -> Call:
    return Call("POST", f"{API}/workflows", json=_present({**fields, "name": name, "tasks": tasks}))


def get_workflow(workflow_id: str) -> Call:
    return Call("GET", f"{API}/workflows/{_id(workflow_id)}")


def update_workflow(workflow_id: str, fields: Mapping[str, Any]) -> Call:
    return Call("PUT", f"{API}/workflows/{_id(workflow_id)}", json=dict(fields))


def delete_workflow(workflow_id: str) -> Call:
    return Call("DELETE", f"{API}/workflows/{_id(workflow_id)}")


def workflow_versions(workflow_id: str) -> str:
    return f"{API}/workflows/{_id(workflow_id)}/versions"


def workflow_plan(workflow_id: str) -> Call:
    return Call("GET", f"{API}/workflows/{_id(workflow_id)}/plan")


def execute_workflow(
    workflow_id: str, input_data: Mapping[str, Any] | None, variables: Mapping[str, Any] | None
) -> Call:
    body = _present({"input_data": input_data, "variables": variables})
    return Call("POST", f"{API}/workflows/{_id(workflow_id)}/execute", json=body)


# Runs


def run_path(run_id: str, rest: str = "") -> str:
    return f"{API}/runs/{_id(run_id)}{rest}"


def get_run(run_id: str) -> Call:
    return Call("GET", run_path(run_id))


def get_steps(run_id: str) -> Call:
    return Call("GET", run_path(run_id, "/steps"))


def get_step(run_id: str, step_id: str) -> Call:
    return Call("GET", run_path(run_id, f"/steps/{_id(step_id)}"))


def get_logs(run_id: str, step_id: str | None) -> Call:
    return Call("GET", run_path(run_id, "/logs"), _present({"step_id": step_id}))


def get_progress(run_id: str) -> Call:
    return Call("GET", run_path(run_id, "/progress"))


def control(run_id: str, operation: str, reason: str | None = None) -> Call:
    """``pause``, ``resume``, ``cancel`` or ``retry``."""
    return Call("POST", run_path(run_id, f"/{operation}"), json=_present({"reason": reason}))


def rerun_from_step(run_id: str, step_id: str, input: Mapping[str, Any] | None) -> Call:
    path = run_path(run_id, f"/steps/{_id(step_id)}/retry")
    return Call("POST", path, json=_present({"input": input}))


def get_state(run_id: str) -> Call:
    return Call("GET", run_path(run_id, "/state"))


def set_state(run_id: str, state: Mapping[str, Any]) -> Call:
    return Call("PUT", run_path(run_id, "/state"), json={"state": dict(state)})


def get_variables(run_id: str) -> Call:
    return Call("GET", run_path(run_id, "/variables"))


# Events


def events_path(run_id: str | None) -> str:
    return run_path(run_id, "/events") if run_id else f"{API}/events"


def get_event(event_id: int) -> Call:
    return Call("GET", f"{API}/events/{int(event_id)}")


# Checkpoints


def create_checkpoint(run_id: str, name: str | None, description: str | None) -> Call:
    body = _present({"name": name, "description": description})
    return Call("POST", run_path(run_id, "/checkpoints"), json=body)


def checkpoints_path(run_id: str | None) -> str:
    return run_path(run_id, "/checkpoints") if run_id else f"{API}/checkpoints"


def get_checkpoint(checkpoint_id: str) -> Call:
    return Call("GET", f"{API}/checkpoints/{_id(checkpoint_id)}")


def delete_checkpoint(checkpoint_id: str) -> Call:
    return Call("DELETE", f"{API}/checkpoints/{_id(checkpoint_id)}")


def restore_checkpoint(checkpoint_id: str) -> Call:
    return Call("POST", f"{API}/checkpoints/{_id(checkpoint_id)}/restore", json={})


# Templates

TEMPLATES = f"{API}/templates"


def create_template(name: str, fields: Mapping[str, Any]) -> Call:
    return Call("POST", TEMPLATES, json=_present({**fields, "name": name}))


def get_template(template_id: str) -> Call:
    return Call("GET", f"{TEMPLATES}/{_id(template_id)}")


def update_template(template_id: str, fields: Mapping[str, Any]) -> Call:
    return Call("PUT", f"{TEMPLATES}/{_id(template_id)}", json=dict(fields))


def delete_template(template_id: str) -> Call:
    return Call("DELETE", f"{TEMPLATES}/{_id(template_id)}")


def instantiate_template(
    template_id: str, parameter_values: Mapping[str, Any] | None, name: str | None
) -> Call:
    body = _present({"parameter_values": parameter_values, "name": name})
    return Call("POST", f"{TEMPLATES}/{_id(template_id)}/instantiate", json=body)
