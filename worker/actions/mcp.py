"""``mcp`` actions: call a tool on an MCP (Model Context Protocol) server, or list its tools.

``server`` says how to reach the server: ``{"command", "args", "env", "cwd"}`` starts it as a
subprocess and talks over its stdin/stdout (stdio transport; the process lives for this one call and
inherits only the SDK's safe environment — HOME, PATH, … — plus ``env``), ``{"url", "headers"}``
talks to a running server over streamable HTTP.

Output of ``call_tool``, so that ``${tasks.x.output.<key>}`` reads the tool's own keys:

| the tool answered                          | the step's output                          |
|--------------------------------------------|--------------------------------------------|
| ``structuredContent`` (an object)          | that object, as it is                      |
| one text part holding a JSON object        | that object                                |
| one text part                              | ``{"text": "..."}``                        |
| anything else (several parts, an image, …) | ``{"content": [part, ...]}`` (plain dicts) |

A tool error (``isError: true``) fails the step without retries; so do an unknown tool and a
server that cannot be started. A connection failure or a timeout may be retried. The server's
stderr (stdio) becomes the step's stderr log.

The SDK is async and a Celery prefork worker is not: each call runs in its own ``asyncio.run``,
so no event loop outlives it and nothing is shared with a forked parent.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import IO, Any, TypeVar

import httpx
from mcp import ClientSession, McpError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, Tool

from worker.actions import ActionCancelled, ActionContext, ActionError

T = TypeVar("T")

# How often a waiting call checks whether its run was cancelled (should_stop is itself cached
# for 0.25 s, so polling faster would only spin).
POLL_SECONDS = 0.2
# Closing a stdio session waits 2 s for the server to exit on EOF, then SIGTERM, 2 s, SIGKILL
# (the SDK's shutdown sequence); an HTTP session sends one DELETE. This bounds both.
CLOSE_SECONDS = 8.0
READ_GRACE_SECONDS = 5.0
STDERR_TAIL = 500

Operation = Callable[[ClientSession], Awaitable[T]]


# -- output and error mapping (pure) -----------------------------------------------------------


def tool_output(result: CallToolResult) -> dict[str, Any]:
    """What a step's output is for a successful tool result (table in the module docstring)."""
    if result.structuredContent is not None:
        return result.structuredContent
    parts = result.content
    if len(parts) == 1 and isinstance(parts[0], TextContent):
        text = parts[0].text
        parsed = _json_object(text)
        return parsed if parsed is not None else {"text": text}
    return {"content": [_plain(part) for part in parts]}


def tool_error(tool: str, result: CallToolResult) -> ActionError:
    """The failure a tool error (``isError: true``) becomes: the tool's own words, no retry."""
    texts = [part.text for part in result.content if isinstance(part, TextContent)]
    detail = "\n".join(texts) if texts else json.dumps([_plain(p) for p in result.content])
    return ActionError(f"MCP tool '{tool}' failed: {detail}", retryable=False)


def server_label(server: dict[str, Any]) -> str:
    """How errors name a server: its URL, or its command line."""
    if "url" in server:
        return str(server["url"])
    return " ".join([str(server["command"]), *map(str, server.get("args") or [])])


def tool_summary(tool: Tool) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description or "",
        "input_schema": tool.inputSchema,
    }


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _plain(part: Any) -> dict[str, Any]:
    return part.model_dump(mode="json", by_alias=True, exclude_none=True)


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups: the SDK's anyio task groups wrap
    every failure, and the group's own message says nothing."""
    while getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return exc


def connection_error(exc: BaseException, label: str, stderr: str) -> ActionError:
    """The failure an exception raised while talking to the server becomes."""
    exc = _leaf(exc)
    if isinstance(exc, ActionError):  # ours, raised inside the session: already says it all
        return exc
    tail = stderr.strip()[-STDERR_TAIL:]
    said = f"; its stderr: {tail}" if tail else ""
    if isinstance(exc, OSError):  # the command is missing, not executable, or cwd is wrong
        return ActionError(f"cannot start MCP server '{label}': {exc}", retryable=False)
    if isinstance(exc, McpError):  # e.g. "Connection closed": the server exited or hung up
        return ActionError(f"MCP server '{label}' failed: {exc.error.message}{said}")
    if isinstance(exc, httpx.HTTPStatusError):  # e.g. 401/403: a header or the URL is wrong
        status = f"{exc.response.status_code} {exc.response.reason_phrase}".strip()
        return ActionError(
            f"MCP server '{label}' answered HTTP {status}",
            retryable=exc.response.status_code >= 500,
        )
    if isinstance(exc, httpx.HTTPError):
        return ActionError(f"cannot reach MCP server '{label}': {exc or type(exc).__name__}")
    return ActionError(f"MCP server '{label}' failed: {type(exc).__name__}: {exc}{said}")


# -- sessions ----------------------------------------------------------------------------------


@asynccontextmanager
async def _session(
    server: dict[str, Any], errlog: IO[str], timeout: float
) -> AsyncIterator[ClientSession]:
    if "url" in server:
        # Our own client: the SDK's default would not carry the step's headers and timeout.
        # Reads may wait a little longer than the step, so that _supervise's deadline fires
        # first and the step says it timed out rather than that a read did.
        http = httpx.AsyncClient(
            headers=server.get("headers") or {},
            timeout=httpx.Timeout(timeout, read=timeout + READ_GRACE_SECONDS),
            follow_redirects=True,
        )
        async with (
            http,
            streamable_http_client(server["url"], http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
        return
    parameters = StdioServerParameters(
        command=server["command"],
        args=list(server.get("args") or []),
        env=server.get("env"),
        cwd=server.get("cwd"),
    )
    # errlog must be a real file: in a Celery worker sys.stderr is a logging proxy with no fd.
    async with (
        stdio_client(parameters, errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def _with_session(
    server: dict[str, Any], operation: Operation[T], errlog: IO[str], timeout: float
) -> T:
    async with _session(server, errlog, timeout) as session:
        return await operation(session)


async def _supervise(work: Awaitable[T], ctx: ActionContext, timeout: float, what: str) -> T:
    """Await ``work`` while polling for a cancelled run and the deadline; on either, cancel it —
    which closes the session, so a stdio server is stopped before this returns."""
    task = asyncio.ensure_future(work)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
        if done:
            return task.result()
        stopped = ctx.should_stop()
        if stopped or asyncio.get_running_loop().time() >= deadline:
            break
    task.cancel()
    await asyncio.wait({task}, timeout=CLOSE_SECONDS)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: an error while closing says less than why we closed
    if stopped:
        raise ActionCancelled(f"cancelled with the run; {what} was stopped")
    raise ActionError(f"{what} timed out after {timeout:g}s")


def _run(params: dict[str, Any], ctx: ActionContext, operation: Operation[T], what: str) -> T:
    server = params["server"]
    timeout = min(float(params.get("timeout") or ctx.timeout), ctx.timeout)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            work = _with_session(server, operation, errlog, timeout)
            return asyncio.run(_supervise(work, ctx, timeout, what))
        except ActionError:
            raise
        except Exception as exc:
            raise connection_error(exc, server_label(server), _read(errlog)) from exc
        finally:
            ctx.log("stderr", _read(errlog))


def _read(errlog: IO[str]) -> str:
    errlog.flush()
    errlog.seek(0)
    return errlog.read()


# -- capabilities ------------------------------------------------------------------------------


async def _all_tools(session: ClientSession) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        page = await session.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return tools


def call_tool(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    tool = params["tool"]
    label = server_label(params["server"])

    async def operation(session: ClientSession) -> CallToolResult:
        # Asked first, so an unknown tool fails the same clear way on every server (some answer
        # a tool error, some a protocol error).
        names = [each.name for each in await _all_tools(session)]
        if tool not in names:
            raise ActionError(
                f"MCP server '{label}' has no tool '{tool}' (it has: {', '.join(names) or 'none'})",
                retryable=False,
            )
        return await session.call_tool(
            tool, params.get("arguments") or {}, progress_callback=_progress(ctx)
        )

    result = _run(params, ctx, operation, f"MCP tool '{tool}' on '{label}'")
    if result.isError:
        raise tool_error(tool, result)
    return tool_output(result)


def list_tools(params: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
    label = server_label(params["server"])
    tools = _run(params, ctx, _all_tools, f"listing the tools of MCP server '{label}'")
    return {"tools": [tool_summary(tool) for tool in tools]}


def _progress(ctx: ActionContext) -> Callable[[float, float | None, str | None], Awaitable[None]]:
    """A tool's progress notifications become the step's ``task_progress`` events when the
    tool says how far it has to go."""

    async def report(progress: float, total: float | None, message: str | None) -> None:
        if total:
            ctx.report_progress(progress / total, message)

    return report


CAPABILITIES = {"call_tool": call_tool, "list_tools": list_tools}
