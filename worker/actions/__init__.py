"""Actions: what a task does. Each integration module exposes ``CAPABILITIES``: name → callable.

An action takes ``(params, ctx)`` and returns its output (JSON-serialisable) or raises
``ActionError``. Timeouts are the action's job (a shell task kills its process group). While it
runs, an action may call ``ctx.report_progress`` and ``ctx.emit``; the worker passes ``emit`` in as
a callable that persists and publishes one event of this task, so actions never see the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from app.engine.catalogue import find_capability
from worker.actions.progress import ProgressThrottle, normalise, progress_event

# emit(event_type, data, message): persist and publish one event of the running task.
Emit = Callable[[str, dict[str, Any], str | None], None]


def _discard(type_: str, data: dict[str, Any], message: str | None) -> None:
    """The default emitter: an action run outside a worker (tests, scripts) reports to no one."""


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
    task_name: str = ""
    emit: Emit = _discard
    # Keys this action sets in the run's custom state; merged when the task completes.
    state_updates: dict[str, Any] = field(default_factory=dict)
    _throttle: ProgressThrottle = field(default_factory=ProgressThrottle, init=False, repr=False)
    _progress_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def label(self) -> str:
        """How events name this task: its display name, else its id."""
        return self.task_name or self.task_id

    def log(self, stream: str, text: str) -> None:
        self.logs[stream] = self.logs.get(stream, "") + text

    def set_state(self, key: str, value: Any) -> None:
        """Set ``key`` in the run's custom state (``${state.key}`` for later tasks). Written only
        if the task completes, together with its result."""
        self.state_updates[key] = value

    def report_progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far along the action is (0..1, clamped) as a ``task_progress`` event.

        Cheap to call often and from any thread: at most ~10 events/s reach the database; the
        first report, the first to reach 1.0 and the latest one are never lost.
        """
        report = normalise(fraction, message)
        if report is None:
            return
        with self._progress_lock:
            due = self._throttle.offer(report)
            if due is not None:
                self.emit("task_progress", *progress_event(self.label, due))

    def flush_progress(self, *, final: bool = False) -> None:
        """Emit a report held back by the throttle once its turn comes (now, if ``final``)."""
        with self._progress_lock:
            due = self._throttle.take_pending(force=final)
            if due is not None:
                self.emit("task_progress", *progress_event(self.label, due))


def _registry() -> dict[str, dict[str, Callable[..., Any]]]:
    from worker.actions import agent, builtin, http, mcp, shell

    return {
        "builtin": builtin.CAPABILITIES,
        "cli": shell.CAPABILITIES,
        "api": http.CAPABILITIES,
        "agent": agent.CAPABILITIES,
        "mcp": mcp.CAPABILITIES,
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
