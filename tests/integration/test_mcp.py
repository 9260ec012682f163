"""MCP steps through the API and a real worker, against ``examples/mcp/server.py`` started over
stdio by the worker itself, or over streamable HTTP as a server of its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.helpers import (
    create_workflow,
    execute,
    run_workflow,
    steps,
    wait_for_run,
    wait_for_step,
)

SERVER_SCRIPT = str(Path(__file__).resolve().parents[2] / "examples" / "mcp" / "server.py")
EXAMPLE_TOOLS = {"add", "echo", "fail", "slow", "weather"}


def stdio_server(name: str | None = None) -> dict:
    """The example server as a step starts it; ``name`` is passed on its command line, so a test
    can find the process with ``pgrep -f``."""
    args = [SERVER_SCRIPT] + (["--name", name] if name else [])
    return {"command": sys.executable, "args": args}


def processes(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return found.stdout.split()


def wait_for_process(marker: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not processes(marker):
        assert time.monotonic() < deadline, f"no process with {marker} started"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def http_server():
    """The example server on its own over streamable HTTP; yields its ``server`` object."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SERVER_SCRIPT, "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"the MCP example server exited: {process.stderr.read()}", pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the MCP example server never listened"
            time.sleep(0.1)
    yield {"url": f"http://127.0.0.1:{port}/mcp"}
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def add_then_report(server: dict) -> dict:
    """``add`` on the server, then a step that reads the tool's own output key."""
    return {
        "tasks": {
            "add": {
                "action": "mcp.call_tool",
                "input": {"server": server, "tool": "add", "arguments": {"a": 2, "b": 40.5}},
            },
            "report": {
                "action": "builtin.echo",
                "depends_on": ["add"],
                "input": {
                    "total": "${tasks.add.output.sum}",
                    "line": "sum=${tasks.add.output.sum}",
                },
            },
        },
        "output_mapping": {"total": "${tasks.report.output.total}"},
    }


def test_a_step_calls_a_tool_over_stdio_and_the_next_step_reads_its_output(live):
    run = run_workflow(live, add_then_report(stdio_server()))
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert run_steps["add"]["output_data"] == {"sum": 42.5}
    assert run_steps["report"]["output_data"] == {"total": 42.5, "line": "sum=42.5"}
    assert run["output_data"] == {"total": 42.5}


def test_a_step_calls_a_tool_over_streamable_http(live, http_server):
    run = run_workflow(live, add_then_report(http_server))
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert run_steps["add"]["output_data"] == {"sum": 42.5}
    assert run_steps["report"]["output_data"] == {"total": 42.5, "line": "sum=42.5"}


def test_text_and_structured_answers_over_http(live, http_server):
    run = run_workflow(
        live,
        {
            "tasks": {
                "echo": {
                    "action": "mcp.call_tool",
                    "input": {"server": http_server, "tool": "echo", "arguments": {"text": "hi"}},
                },
                "weather": {
                    "action": "mcp.call_tool",
                    "input": {
                        "server": http_server,
                        "tool": "weather",
                        "arguments": {"city": "Tokyo"},
                    },
                },
            }
        },
    )
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert run_steps["echo"]["output_data"] == {"text": "hi"}
    assert run_steps["weather"]["output_data"] == {
        "city": "Tokyo",
        "conditions": "sunny",
        "temperature_c": 22.0,
    }


def test_a_tool_error_fails_the_step_and_the_run_without_retries(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                "fail": {
                    "action": "mcp.call_tool",
                    "input": {
                        "server": stdio_server(),
                        "tool": "fail",
                        "arguments": {"message": "disk on fire"},
                    },
                    "retry": {"count": 2, "delay": 0.1},
                },
                "after": {"action": "builtin.noop", "depends_on": ["fail"]},
            }
        },
    )
    assert run["status"] == "FAILED", run
    failed = steps(live, run["run_id"])["fail"]
    assert failed["status"] == "FAILED"
    assert failed["error_message"].startswith("MCP tool 'fail' failed: ")
    assert "disk on fire" in failed["error_message"]
    assert failed["attempt"] == 1  # a tool's own error is not worth retrying
    assert steps(live, run["run_id"])["after"]["status"] != "COMPLETED"


def test_a_steps_headers_reach_the_http_server(live, http_server):
    # The example server guards against DNS rebinding: a foreign Origin header is refused.
    server = {**http_server, "headers": {"Origin": "http://elsewhere.example"}}
    run = run_workflow(
        live,
        {"tasks": {"t": {"action": "mcp.call_tool", "input": {"server": server, "tool": "add"}}}},
    )
    assert run["status"] == "FAILED", run
    message = steps(live, run["run_id"])["t"]["error_message"]
    assert message == f"MCP server '{http_server['url']}' answered HTTP 403 Forbidden"


def test_an_unknown_tool_is_a_clear_failure_naming_the_server_and_its_tools(live, http_server):
    run = run_workflow(
        live,
        {
            "tasks": {
                "t": {"action": "mcp.call_tool", "input": {"server": http_server, "tool": "x"}}
            }
        },
    )
    assert run["status"] == "FAILED", run
    message = steps(live, run["run_id"])["t"]["error_message"]
    tools = ", ".join(sorted(EXAMPLE_TOOLS))
    assert message == f"MCP server '{http_server['url']}' has no tool 'x' (it has: {tools})"


def test_a_server_that_cannot_start_is_a_clear_failure(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                "t": {
                    "action": "mcp.call_tool",
                    "input": {"server": {"command": "/no/such/mcp-server"}, "tool": "add"},
                }
            }
        },
    )
    assert run["status"] == "FAILED", run
    message = steps(live, run["run_id"])["t"]["error_message"]
    assert message.startswith("cannot start MCP server '/no/such/mcp-server': ")


def test_list_tools_returns_the_servers_tools(live):
    run = run_workflow(
        live,
        {"tasks": {"tools": {"action": "mcp.list_tools", "input": {"server": stdio_server()}}}},
    )
    assert run["status"] == "COMPLETED", run
    tools = {t["name"]: t for t in steps(live, run["run_id"])["tools"]["output_data"]["tools"]}
    assert set(tools) == EXAMPLE_TOOLS
    assert tools["add"]["description"] == "Add two numbers."
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    assert set(tools["add"]["input_schema"]["properties"]) == {"a", "b"}


def test_cancelling_a_run_stops_a_slow_tool_and_its_server_process(live):
    marker = f"mcp-cancel-{uuid.uuid4().hex}"
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "slow": {
                    "action": "mcp.call_tool",
                    "input": {
                        "server": stdio_server(marker),
                        "tool": "slow",
                        "arguments": {"seconds": 30},
                    },
                },
                "after": {"action": "builtin.noop", "depends_on": ["slow"]},
            }
        },
    )
    run_id = execute(live, workflow["id"])
    wait_for_step(live, run_id, "slow", {"RUNNING"})
    wait_for_process(marker)
    time.sleep(0.5)  # let the call reach the tool, so the cancel interrupts a tool mid-call

    started = time.monotonic()
    response = live.post(f"/api/v1/runs/{run_id}/cancel", json={"reason": "too slow"})
    assert response.status_code == 200, response.json
    run = wait_for_run(live, run_id, timeout=10)
    assert run["status"] == "CANCELLED", run
    assert time.monotonic() - started < 5
    run_steps = steps(live, run_id)
    assert run_steps["slow"]["status"] == "CANCELLED"
    assert run_steps["after"]["status"] == "CANCELLED"
    assert processes(marker) == [], "the MCP server outlived its cancelled step"


def test_a_tool_slower_than_the_steps_timeout_fails_and_its_server_is_stopped(live):
    marker = f"mcp-timeout-{uuid.uuid4().hex}"
    run = run_workflow(
        live,
        {
            "tasks": {
                "slow": {
                    "action": "mcp.call_tool",
                    "input": {
                        "server": stdio_server(marker),
                        "tool": "slow",
                        "arguments": {"seconds": 30},
                        "timeout": 2,
                    },
                }
            }
        },
        timeout=20,
    )
    assert run["status"] == "FAILED", run
    message = steps(live, run["run_id"])["slow"]["error_message"]
    assert message.startswith("MCP tool 'slow' on '") and message.endswith("timed out after 2s")
    assert processes(marker) == []


def test_a_seed_004_plan_step_of_type_mcp(live):
    run = run_workflow(
        live,
        {
            "steps": [
                {
                    "id": "weather",
                    "type": "mcp",
                    "parameters": {
                        "server": stdio_server(),
                        "tool": "weather",
                        "arguments": {"city": "${workflow.input.city}"},
                    },
                },
                {
                    "id": "report",
                    "type": "builtin.echo",
                    "parameters": {
                        "line": "${weather.output.conditions} in ${weather.output.city}"
                    },
                },
            ],
        },
        input_data={"city": "Paris"},
    )
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert run_steps["weather"]["output_data"]["temperature_c"] == 14.5
    assert run_steps["report"]["output_data"] == {"line": "cloudy in Paris"}
