"""MCP steps without a server: how tool answers and failures become a step's output and error,
and which inputs the ``mcp`` catalogue schemas (checked by the validator and the workers) accept."""

from __future__ import annotations

import sys

import httpx
import pytest
from jsonschema import Draft202012Validator
from mcp import McpError
from mcp.types import CallToolResult, ErrorData, ImageContent, TextContent

from app.engine.catalogue import find_capability
from app.engine.validation import Catalogue, InvalidDefinition, load_definition
from worker.actions import ActionContext, ActionError, run_action
from worker.actions.mcp import connection_error, server_label, tool_error, tool_output

if sys.version_info >= (3, 11):
    from builtins import ExceptionGroup
else:  # pragma: no cover - anyio brings the backport on 3.10
    from exceptiongroup import ExceptionGroup

STDIO = {"command": "python", "args": ["examples/mcp/server.py"]}
HTTP = {"url": "http://127.0.0.1:8765/mcp"}


def text(value: str) -> TextContent:
    return TextContent(type="text", text=value)


def result(*parts, structured=None, is_error=False) -> CallToolResult:
    return CallToolResult(content=list(parts), structuredContent=structured, isError=is_error)


# -- output mapping -----------------------------------------------------------------------------


IMAGE = ImageContent(type="image", data="aGk=", mimeType="image/png")
OUTPUTS = {
    "structured_content_as_is": (
        result(text('{"sum": 3}'), structured={"sum": 3, "note": "x"}),
        {"sum": 3, "note": "x"},
    ),
    "single_text": (result(text("hello")), {"text": "hello"}),
    "single_text_json_object": (
        result(text('{"city": "Lima", "t": 17}')),
        {"city": "Lima", "t": 17},
    ),
    "single_text_json_array_stays_text": (result(text("[1, 2]")), {"text": "[1, 2]"}),
    "single_text_broken_json_stays_text": (result(text("{oops")), {"text": "{oops"}),
    "several_parts": (
        result(text("a"), IMAGE),
        {
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image", "data": "aGk=", "mimeType": "image/png"},
            ]
        },
    ),
    "single_image": (
        result(IMAGE),
        {"content": [{"type": "image", "data": "aGk=", "mimeType": "image/png"}]},
    ),
    "no_content": (result(), {"content": []}),
}


@pytest.mark.parametrize("answer, expected", OUTPUTS.values(), ids=OUTPUTS.keys())
def test_a_tool_answer_becomes_the_steps_output(answer, expected):
    assert tool_output(answer) == expected


# -- error mapping ------------------------------------------------------------------------------


def test_a_tool_error_fails_the_step_with_the_tools_own_words_and_no_retry():
    error = tool_error("fail", result(text("disk full"), text("try later"), is_error=True))
    assert error.message == "MCP tool 'fail' failed: disk full\ntry later"
    assert error.retryable is False


def test_a_tool_error_without_text_still_says_what_came_back():
    error = tool_error("draw", result(IMAGE, is_error=True))
    assert error.message.startswith("MCP tool 'draw' failed: [")
    assert '"image/png"' in error.message


def group(exc: Exception) -> ExceptionGroup:
    """How the SDK's task groups hand failures back: wrapped, twice."""
    return ExceptionGroup("unhandled errors in a TaskGroup", [ExceptionGroup("inner", [exc])])


def test_a_server_that_cannot_be_started_is_named_and_not_retried():
    error = connection_error(group(FileNotFoundError(2, "No such file", "nope")), "nope x", "")
    assert error.message.startswith("cannot start MCP server 'nope x': ")
    assert error.retryable is False


def test_a_server_that_hangs_up_is_named_with_its_stderr():
    exc = McpError(ErrorData(code=-32000, message="Connection closed"))
    error = connection_error(group(exc), "python s.py", "Traceback...\nImportError: no mcp\n")
    assert error.message == (
        "MCP server 'python s.py' failed: Connection closed; its stderr: "
        "Traceback...\nImportError: no mcp"
    )


def test_an_unreachable_url_is_a_retryable_failure():
    exc = httpx.ConnectError("All connection attempts failed")
    error = connection_error(group(exc), "http://127.0.0.1:9/mcp", "")
    assert error.message == (
        "cannot reach MCP server 'http://127.0.0.1:9/mcp': All connection attempts failed"
    )
    assert error.retryable is True


@pytest.mark.parametrize(
    "status, retryable",
    [(401, False), (403, False), (503, True)],
    ids=["unauthorized", "forbidden", "unavailable"],
)
def test_an_http_refusal_names_the_status_and_only_a_server_error_is_retried(status, retryable):
    request = httpx.Request("POST", HTTP["url"])
    response = httpx.Response(status, request=request)
    exc = httpx.HTTPStatusError("refused", request=request, response=response)
    error = connection_error(group(exc), HTTP["url"], "")
    assert error.message == (
        f"MCP server '{HTTP['url']}' answered HTTP {status} {response.reason_phrase}"
    )
    assert error.retryable is retryable


def test_our_own_failure_raised_inside_the_session_comes_out_unchanged():
    ours = ActionError("MCP server 'x' has no tool 'y' (it has: a)", retryable=False)
    assert connection_error(group(ours), "x", "") is ours


def test_servers_are_named_by_url_or_command_line():
    assert server_label(HTTP) == "http://127.0.0.1:8765/mcp"
    assert server_label(STDIO) == "python examples/mcp/server.py"
    assert server_label({"command": "mcp-server"}) == "mcp-server"


# -- the catalogue schemas ----------------------------------------------------------------------


def errors(capability: str, params) -> list[str]:
    spec = find_capability("mcp", capability)
    assert spec is not None
    return [e.message for e in Draft202012Validator(spec.schema).iter_errors(params)]


ACCEPTED = {
    "stdio_minimal": {"server": {"command": "python"}, "tool": "add"},
    "stdio_full": {
        "server": {**STDIO, "env": {"TOKEN": "t"}, "cwd": "/tmp"},
        "tool": "add",
        "arguments": {"a": 1, "b": 2},
        "timeout": 5,
    },
    "http": {"server": HTTP, "tool": "echo", "arguments": {"text": "hi"}},
    "http_with_headers": {
        "server": {**HTTP, "headers": {"Authorization": "Bearer x"}},
        "tool": "echo",
    },
}
REJECTED = {
    "no_server": {"tool": "add"},
    "no_tool": {"server": STDIO},
    "empty_tool": {"server": STDIO, "tool": ""},
    "both_command_and_url": {"server": {**STDIO, **HTTP}, "tool": "add"},
    "neither_command_nor_url": {"server": {"args": ["x"]}, "tool": "add"},
    "unknown_server_key": {"server": {**STDIO, "shell": True}, "tool": "add"},
    "url_not_http": {"server": {"url": "file:///etc/passwd"}, "tool": "add"},
    "args_not_strings": {"server": {"command": "python", "args": [1]}, "tool": "add"},
    "env_not_strings": {"server": {"command": "python", "env": {"N": 1}}, "tool": "add"},
    "header_not_string": {"server": {**HTTP, "headers": {"X-N": 1}}, "tool": "add"},
    "arguments_not_object": {"server": STDIO, "tool": "add", "arguments": [1, 2]},
    "zero_timeout": {"server": STDIO, "tool": "add", "timeout": 0},
    "unknown_top_level_key": {"server": STDIO, "tool": "add", "retries": 3},
}


@pytest.mark.parametrize("params", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_call_tool_accepts(params):
    assert errors("call_tool", params) == []


@pytest.mark.parametrize("params", REJECTED.values(), ids=REJECTED.keys())
def test_call_tool_rejects(params):
    assert errors("call_tool", params)


def test_list_tools_takes_a_server_and_nothing_about_a_tool():
    assert errors("list_tools", {"server": HTTP}) == []
    assert errors("list_tools", {"server": STDIO, "timeout": 3}) == []
    assert errors("list_tools", {"server": STDIO, "tool": "add"})
    assert errors("list_tools", {})


def test_a_worker_refuses_an_invalid_mcp_input_before_starting_anything():
    ctx = ActionContext(run_id="r", task_id="t", timeout=5)
    with pytest.raises(ActionError) as info:
        run_action("mcp.call_tool", {"server": {"command": "python"}, "tool": ""}, ctx)
    assert info.value.message.startswith("invalid input for mcp.call_tool: tool: ")
    assert info.value.retryable is False


# -- definitions --------------------------------------------------------------------------------


CATALOGUE = Catalogue(agent_status=lambda name: None, aliases={})


def test_a_plan_step_of_type_mcp_calls_a_tool():
    dag = load_definition(
        {"steps": [{"id": "add", "type": "mcp", "parameters": {"server": STDIO, "tool": "add"}}]},
        CATALOGUE,
    )
    assert dag.tasks["add"].action == "mcp.call_tool"
    assert dag.tasks["add"].input == {"server": STDIO, "tool": "add"}


def test_a_definition_with_a_malformed_mcp_server_names_the_field():
    doc = {
        "tasks": {"t": {"action": "mcp.call_tool", "input": {"server": {"url": 1}, "tool": "x"}}}
    }
    with pytest.raises(InvalidDefinition) as info:
        load_definition(doc, CATALOGUE)
    assert [p.field for p in info.value.problems] == ["tasks.t.input.server"]


def test_mcp_inputs_may_come_from_expressions():
    doc = {
        "tasks": {
            "a": {"action": "builtin.echo", "input": {"n": 1}},
            "t": {
                "action": "mcp.call_tool",
                "depends_on": ["a"],
                "input": {"server": HTTP, "tool": "add", "arguments": "${tasks.a.output}"},
            },
        }
    }
    assert load_definition(doc, CATALOGUE).tasks["t"].action == "mcp.call_tool"
