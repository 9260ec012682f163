"""``agent.call``: run a step on a registered agent over A2A (seed 002 agents, DESIGN §5).

1. Discover the agent card (``/.well-known/agent-card.json``, else the older
   ``/.well-known/agent.json``) and pick the protocol: 1.0 when the card offers a 1.0 JSON-RPC
   interface, else 0.3 (``worker.actions.a2a_wire`` has both wire formats).
2. Send the step's resolved input as one message without blocking, then poll the returned task
   until it is final. Completed → the step output (``a2a_wire.parts_output``); failed, rejected or
   canceled → a step failure with the agent's message; input-required → a failure that says so.
3. Each attempt is bounded by the agent's ``timeout_ms``. Attempts that fail for a transient
   reason (the agent unreachable, an HTTP 5xx or 429, a JSON-RPC server error, a timeout) are
   retried per its ``retry_config``, exactly as seed 002 defines it: at most ``max_retries``
   retries; the first after ``initial_delay_ms``, each next one ``backoff_multiplier`` times
   longer, never longer than ``max_delay_ms``. The agent's own verdicts are not retried.
4. Cancelling the run cancels the agent's task (``tasks/cancel`` / ``CancelTask``).

Credentials come in ``ctx.agent["headers"]``; they are sent to the agent and never logged.
"""

from __future__ import annotations

import time
import uuid
from contextlib import suppress
from typing import Any

import httpx

from worker.actions import ActionCancelled, ActionContext, ActionError
from worker.actions.a2a_wire import (
    CARD_PATHS,
    FINAL_BAD,
    NEEDS_INPUT,
    Dialect,
    Reply,
    dialect_from_card,
)

POLL_SECONDS = 0.2
CANCEL_TIMEOUT = 5.0


class Transient(Exception):
    """A failure worth another attempt (the retry_config decides whether there is one)."""


def call(params: Any, ctx: ActionContext) -> Any:
    agent = ctx.agent or {}
    name = agent.get("name") or "agent"
    retry = agent.get("retry_config") or {}
    attempts = int(retry.get("max_retries", 3)) + 1
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            return _attempt(agent, params, ctx, started)
        except Transient as exc:
            if attempt == attempts or time.monotonic() - started >= ctx.timeout:
                raise ActionError(
                    f"agent '{name}' failed after {attempt} attempt(s): {exc}"
                ) from None
            delay = retry_delay(retry, attempt)
            ctx.log("stderr", f"attempt {attempt} failed: {exc}; retrying in {delay:g}s\n")
            _sleep(delay, ctx)
    raise AssertionError("unreachable")  # the loop returns or raises


def retry_delay(retry: dict[str, Any], retries_done: int) -> float:
    """Seconds before retry number ``retries_done`` (1 for the first retry)."""
    initial = float(retry.get("initial_delay_ms", 1000))
    multiplier = float(retry.get("backoff_multiplier", 2.0))
    cap = float(retry.get("max_delay_ms", 30000))
    return min(initial * multiplier ** (retries_done - 1), cap) / 1000


def _sleep(seconds: float, ctx: ActionContext) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if ctx.should_stop():
            raise ActionCancelled("cancelled with the run while waiting to retry the agent")
        time.sleep(min(left, 0.1))


def _attempt(agent: dict[str, Any], params: Any, ctx: ActionContext, started: float) -> Any:
    name = agent.get("name") or "agent"
    timeout_ms = int(agent.get("timeout_ms") or 30000)
    budget = min(timeout_ms / 1000, max(ctx.timeout - (time.monotonic() - started), 0.001))
    deadline = time.monotonic() + budget
    with httpx.Client(timeout=budget, headers=agent.get("headers") or {}) as client:
        try:
            dialect = _discover(client, agent["url"])
            reply = _rpc(client, dialect, "send", dialect.send_params(params))
            while not reply.finished:
                if ctx.should_stop():
                    _cancel(client, dialect, reply)
                    raise ActionCancelled(
                        f"cancelled with the run; the agent's task {reply.task_id} was cancelled"
                    )
                if time.monotonic() >= deadline:
                    _cancel(client, dialect, reply)
                    raise Transient(f"no final answer within {timeout_ms} ms (timeout_ms)")
                time.sleep(POLL_SECONDS)
                reply = _rpc(client, dialect, "get", dialect.task_params(reply.task_id or ""))
        except httpx.TimeoutException:
            raise Transient(f"no answer within {timeout_ms} ms (timeout_ms)") from None
        except httpx.TransportError as exc:
            raise Transient(f"unreachable at {agent['url']}: {exc.__class__.__name__}") from None
    return _outcome(name, reply)


def _outcome(name: str, reply: Reply) -> Any:
    detail = reply.status_text or "no message"
    if reply.state in FINAL_BAD:
        raise ActionError(f"agent '{name}' task {reply.state}: {detail}", retryable=False)
    if reply.state in NEEDS_INPUT:
        raise ActionError(
            f"agent '{name}' needs more input ({reply.state}), which a workflow step cannot "
            f"give: {detail}",
            retryable=False,
        )
    return reply.output()


def _discover(client: httpx.Client, base: str) -> Dialect:
    for path in CARD_PATHS:
        response = client.get(base.rstrip("/") + path)
        if response.status_code == 200:
            try:
                return dialect_from_card(response.json(), base)
            except ValueError:
                break
        if response.status_code >= 500:
            raise Transient(f"agent card answered HTTP {response.status_code}")
    return Dialect("0.3", base)  # no card: speak the older protocol at the registered URL


def _rpc(client: httpx.Client, dialect: Dialect, method: str, params: dict[str, Any]) -> Reply:
    body = {
        "jsonrpc": "2.0",
        "id": str(uuid.uuid4()),
        "method": dialect.method(method),
        "params": params,
    }
    response = client.post(dialect.url, json=body, headers=dialect.headers)
    if response.status_code >= 500 or response.status_code == 429:
        raise Transient(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise ActionError(f"agent answered HTTP {response.status_code}", retryable=False)
    try:
        payload = response.json()
    except ValueError:
        raise ActionError(
            "agent answered with something that is not JSON", retryable=False
        ) from None
    error = payload.get("error") if isinstance(payload, dict) else None
    if error:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message", error) if isinstance(error, dict) else error
        if isinstance(code, int) and (code == -32603 or -32099 <= code <= -32000):
            raise Transient(f"agent error {code}: {message}")
        raise ActionError(f"agent error {code}: {message}", retryable=False)
    return dialect.reply(payload.get("result") if isinstance(payload, dict) else None)


def _cancel(client: httpx.Client, dialect: Dialect, reply: Reply) -> None:
    """Best effort: the run is over either way, but the agent should stop working for it."""
    if not reply.task_id:
        return
    with suppress(httpx.HTTPError):
        client.post(
            dialect.url,
            json={
                "jsonrpc": "2.0",
                "id": str(uuid.uuid4()),
                "method": dialect.method("cancel"),
                "params": dialect.task_params(reply.task_id),
            },
            headers=dialect.headers,
            timeout=CANCEL_TIMEOUT,
        )


CAPABILITIES = {"call": call}
