"""Built-in actions for tests, demos and benchmarks."""

from __future__ import annotations

import time
from typing import Any

from worker.actions import ActionCancelled, ActionContext, ActionError


def noop(params: Any, ctx: ActionContext) -> dict[str, Any]:
    return {}


def echo(params: Any, ctx: ActionContext) -> Any:
    return params


def sleep(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    """Sleep, reporting progress once a second when the sleep lasts a second or more."""
    seconds = float(params["seconds"])
    start = time.monotonic()
    deadline = start + min(seconds, ctx.timeout)
    reported = 0  # whole seconds reported so far
    while (left := deadline - time.monotonic()) > 0:
        if ctx.should_stop():
            raise ActionCancelled()
        time.sleep(min(left, 0.1))
        elapsed = int(time.monotonic() - start)
        if seconds >= 1 and reported < elapsed < seconds:
            reported = elapsed
            ctx.report_progress(elapsed / seconds, f"slept {elapsed} of {seconds:g} s")
    if seconds > ctx.timeout:
        raise ActionError(f"timed out after {ctx.timeout:g}s (asked to sleep {seconds:g}s)")
    if seconds >= 1:
        ctx.report_progress(1.0, f"slept {seconds:g} of {seconds:g} s")
    return {"slept": seconds}


def set_state(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    """Set every key of the input in the run's custom state; the output is what was set."""
    for key, value in params.items():
        ctx.set_state(key, value)
    return {"state": params}


def fail(params: dict[str, Any], ctx: ActionContext) -> None:
    raise ActionError(str(params.get("message") or "Task failed (builtin.fail)"))


CAPABILITIES = {"noop": noop, "echo": echo, "sleep": sleep, "fail": fail, "set_state": set_state}
