"""``agent.call``: run a step on a registered agent over A2A (JSON-RPC ``message/send``).

The agent card (``/.well-known/agent-card.json``, else ``/.well-known/agent.json``) gives the
endpoint; the step's resolved input is sent as one data part; a returned task is polled with
``tasks/get`` until it is final. A completed answer maps to the step output: one data part's
object as-is; a text part as ``{"text": ...}`` (or the parsed object when it is JSON); several
parts merge data objects key by key and join texts. Transport failures are retried with the
agent's ``retry_config`` (delay = initial × multiplier^n, capped at max).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from worker.actions import ActionContext, ActionError

FINAL_OK = {"completed"}
FINAL_BAD = {"failed", "rejected", "canceled", "cancelled"}
NEEDS_INPUT = {"input-required", "auth-required"}
CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")


def _headers(agent: dict[str, Any]) -> dict[str, str]:
    config = agent.get("auth_config") or {}
    if agent.get("auth_type") == "bearer" and config.get("token"):
        return {"Authorization": f"Bearer {config['token']}"}
    if agent.get("auth_type") == "apikey" and (config.get("key") or config.get("api_key")):
        return {config.get("header") or "X-API-Key": str(config.get("key") or config["api_key"])}
    return {}


def _endpoint(client: httpx.Client, base: str) -> str:
    for path in CARD_PATHS:
        try:
            response = client.get(base.rstrip("/") + path)
        except httpx.HTTPError:
            break
        if response.status_code == 200:
            try:
                return response.json().get("url") or base
            except ValueError:
                return base
    return base


def _rpc(client: httpx.Client, url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}
    response = client.post(url, json=body)
    if response.status_code >= 500:
        raise httpx.HTTPStatusError("server error", request=response.request, response=response)
    if response.status_code >= 400:
        raise ActionError(f"agent answered HTTP {response.status_code}", retryable=False)
    payload = response.json()
    if payload.get("error"):
        raise ActionError(
            f"agent error: {payload['error'].get('message', payload['error'])}", retryable=False
        )
    return payload.get("result") or {}


def _parts_output(parts: list[dict[str, Any]]) -> Any:
    data: dict[str, Any] = {}
    texts: list[str] = []
    for part in parts:
        kind = part.get("kind") or part.get("type")
        if kind == "data" and isinstance(part.get("data"), dict):
            data.update(part["data"])
        elif kind == "text" or "text" in part:
            texts.append(part.get("text", ""))
    if len(parts) == 1 and texts:
        try:
            parsed = json.loads(texts[0])
            return parsed if isinstance(parsed, dict) else {"text": texts[0]}
        except ValueError:
            return {"text": texts[0]}
    if texts:
        data.setdefault("text", "\n".join(texts))
    return data


def _answer(result: dict[str, Any]) -> Any:
    if result.get("kind") == "message" or "parts" in result:
        return _parts_output(result.get("parts") or [])
    parts: list[dict[str, Any]] = []
    for artifact in result.get("artifacts") or []:
        parts.extend(artifact.get("parts") or [])
    if not parts:
        message = (result.get("status") or {}).get("message") or {}
        parts = message.get("parts") or []
    return _parts_output(parts)


def _status_text(result: dict[str, Any]) -> str:
    message = (result.get("status") or {}).get("message") or {}
    texts = [p.get("text", "") for p in message.get("parts") or [] if "text" in p]
    return " ".join(texts).strip()


def call(params: Any, ctx: ActionContext) -> Any:
    agent = ctx.agent or {}
    retry = agent.get("retry_config") or {}
    timeout = min(agent.get("timeout_ms", 30000) / 1000, ctx.timeout)
    attempts = int(retry.get("max_retries", 3)) + 1
    delay = retry.get("initial_delay_ms", 1000) / 1000
    for attempt in range(attempts):
        try:
            return _call_once(agent, params, ctx, timeout)
        except httpx.TimeoutException as exc:
            error: Exception = ActionError(
                f"agent '{agent.get('name')}' timed out after {timeout * 1000:.0f}ms"
            )
            error.__cause__ = exc
        except httpx.HTTPError as exc:
            error = ActionError(f"agent '{agent.get('name')}' unreachable: {exc}")
        if attempt + 1 < attempts:
            time.sleep(delay)
            delay = min(
                delay * float(retry.get("backoff_multiplier", 2.0)),
                retry.get("max_delay_ms", 30000) / 1000,
            )
    raise error


def _call_once(agent: dict[str, Any], params: Any, ctx: ActionContext, timeout: float) -> Any:
    deadline = time.monotonic() + ctx.timeout
    with httpx.Client(timeout=timeout, headers=_headers(agent)) as client:
        url = _endpoint(client, agent["url"])
        part = (
            {"kind": "data", "data": params}
            if isinstance(params, dict)
            else {"kind": "text", "text": params if isinstance(params, str) else json.dumps(params)}
        )
        message = {
            "role": "user",
            "parts": [part],
            "messageId": str(uuid.uuid4()),
            "kind": "message",
        }
        result = _rpc(client, url, "message/send", {"message": message})
        while True:
            state = (result.get("status") or {}).get("state")
            if result.get("kind") == "message" or state in FINAL_OK or state is None:
                return _answer(result)
            if state in FINAL_BAD:
                raise ActionError(
                    f"agent task {state}: {_status_text(result) or 'no message'}", retryable=False
                )
            if state in NEEDS_INPUT:
                raise ActionError(
                    f"agent needs more input ({state}): {_status_text(result) or 'no message'}",
                    retryable=False,
                )
            if time.monotonic() > deadline:
                raise ActionError(f"agent task did not finish within {ctx.timeout:g}s")
            time.sleep(0.2)
            result = _rpc(client, url, "tasks/get", {"id": result.get("id")})


CAPABILITIES = {"call": call}
