"""Actions: what a task does. Each integration module exposes ``CAPABILITIES``: name → callable.

An action takes ``(params, ctx)`` and returns its output (JSON-serialisable) or raises
``ActionError``. Timeouts are the action's job (a shell task kills its process group).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from app.engine.catalogue import find_capability


class ActionError(Exception):
    def __init__(self, message: str, output: Any = None, *, retryable: bool = True):
        super().__init__(message)
        self.message = message
        self.output = output
        self.retryable = retryable


class ActionCancelled(ActionError):
    """The run was cancelled while the action ran; it stopped (and cleaned up)."""

    def __init__(self, message: str = "cancelled with the run", output: Any = None):
        super().__init__(message, output, retryable=False)


@dataclass
class ActionContext:
    run_id: str
    task_id: str
    timeout: float
    agent: dict[str, Any] | None = None
    logs: dict[str, str] = field(default_factory=lambda: {"stdout": "", "stderr": ""})
    # Long-running actions poll this and stop early (raising ActionCancelled) when it is true.
    should_stop: Callable[[], bool] = lambda: False

    def log(self, stream: str, text: str) -> None:
        self.logs[stream] = self.logs.get(stream, "") + text


def _registry() -> dict[str, dict[str, Callable[..., Any]]]:
    from worker.actions import agent, builtin, http, shell

    return {
        "builtin": builtin.CAPABILITIES,
        "cli": shell.CAPABILITIES,
        "api": http.CAPABILITIES,
        "agent": agent.CAPABILITIES,
    }


_REGISTRY: dict[str, dict[str, Callable[..., Any]]] | None = None


def run_action(action: str, params: Any, ctx: ActionContext) -> Any:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _registry()
    integration, _, capability = action.partition(".")
    function = _REGISTRY.get(integration, {}).get(capability)
    if function is None:
        raise ActionError(f"no action '{action}' on this worker", retryable=False)
    spec = find_capability(integration, capability)
    if spec is not None:
        errors = sorted(Draft202012Validator(spec.schema).iter_errors(params), key=str)
        if errors:
            where = ".".join(str(p) for p in errors[0].path) or "input"
            raise ActionError(
                f"invalid input for {action}: {where}: {errors[0].message}", retryable=False
            )
    return function(params, ctx)
