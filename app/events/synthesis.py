"""Seed 004's words for events, shared by its streams, its REST views and the webhooks it
registers (``app/services/delivery.py`` renders a subscription's payload with ``payload``).

``payload`` turns an event in the union shape (``app/events/model.py``) into the ``data`` /
``payload`` seed 004's examples show: ``plan_id`` and ``name`` for a run, ``step_id`` and
``step_type`` for a step, ``status`` and ``duration_ms`` when something ends, and a step's
``output`` as text.
"""

from __future__ import annotations

from typing import Any

from app.engine.dialects import PLAN_TYPES

PROFILE = "seed004"

_TYPES = {action: kind for kind, action in PLAN_TYPES.items()}


def step_type(action: str | None) -> str | None:
    """A task's action as a plan step ``type`` (``cli.execute_command`` → ``command``)."""
    if action is None:
        return None
    if action.startswith("api.http_"):
        return "http"
    return _TYPES.get(action, action)


def text_output(value):
    """What seed 004 shows as a step's ``output``: a command's stdout, else the output itself."""
    if isinstance(value, dict) and isinstance(value.get("stdout"), str):
        return value["stdout"]
    return value


# Keys the union event shape adds to ``data`` for other documents' clients.
UNION_ONLY = ("details", "payload", "invocation_id", "task_name", "task_index", "total_tasks")
ENDS = {"completed": "completed", "failed": "failed", "cancelled": "cancelled"}


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """An event's ``data`` in seed 004's words."""
    data = {k: v for k, v in (event.get("data") or {}).items() if k not in UNION_ONLY}
    kind = event["type"]
    if event.get("execution_id"):
        data["execution_id"] = event["execution_id"]
    if "workflow_id" in data:
        data["plan_id"] = data.pop("workflow_id")
    if "workflow_name" in data:
        data["name"] = data.pop("workflow_name")
    if event.get("task_id"):
        data["step_id"] = event["task_id"]
    if "action" in data:
        data["step_type"] = step_type(data.pop("action"))
    seconds = data.pop("duration_seconds", data.pop("duration", None))
    if isinstance(seconds, int | float):
        data["duration_ms"] = round(seconds * 1000)
    if "output" in data:
        data["output"] = text_output(data["output"])
    if kind == "step_output" and "lines" in data:
        data["output"] = "".join(f"{line}\n" for line in data["lines"])
    ending = kind.rsplit("_", 1)[-1]
    if ending in ENDS and kind != "invocation_completed":
        data.setdefault("status", ENDS[ending])
    if invocation := event.get("invocation_id"):
        data["invocation_id"] = invocation
    return data
