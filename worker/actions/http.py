"""``api`` actions: HTTP requests with httpx. Output ``{status_code, headers, body, ok}``."""

from __future__ import annotations

from typing import Any

import httpx

from worker.actions import ActionContext, ActionError


def _request(method: str, params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    timeout = min(float(params.get("timeout") or 30), ctx.timeout)
    kwargs: dict[str, Any] = {"headers": params.get("headers"), "params": params.get("params")}
    if "json" in params:
        kwargs["json"] = params["json"]
    elif "body" in params:
        kwargs["content"] = params["body"]
    try:
        response = httpx.request(method, params["url"], timeout=timeout, **kwargs)
    except httpx.TimeoutException as exc:
        raise ActionError(f"{method} {params['url']} timed out after {timeout:g}s") from exc
    except httpx.HTTPError as exc:
        raise ActionError(f"{method} {params['url']} failed: {exc}") from exc
    if "json" in response.headers.get("content-type", ""):
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
    else:
        body = response.text
    output = {
        "status_code": response.status_code,
        "headers": dict(response.headers),
        "body": body,
        "ok": response.is_success,
    }
    if response.status_code >= 400 and params.get("fail_on_status", True):
        raise ActionError(
            f"{method} {params['url']} answered HTTP {response.status_code}",
            output,
            retryable=response.status_code >= 500,
        )
    return output


CAPABILITIES = {
    f"http_{method.lower()}": (lambda m: lambda params, ctx: _request(m, params, ctx))(method)
    for method in ("GET", "POST", "PUT", "DELETE")
}
