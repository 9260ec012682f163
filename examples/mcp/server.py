"""A tiny MCP server to call from Harmonia workflows (``mcp.call_tool`` / ``mcp.list_tools``).

Built with the ``mcp`` SDK's FastMCP: each tool's type hints become its input schema, and a tool
that returns a typed dict also answers with ``structuredContent``, which is what a workflow step
gets as its output. Run it over stdio (the default: a step starts it itself) or over streamable
HTTP on 127.0.0.1::

    python examples/mcp/server.py
    python examples/mcp/server.py --http --port 8765    # endpoint http://127.0.0.1:8765/mcp
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TypedDict

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError

# A made-up forecast, so the example answers the same everywhere and needs no network.
FORECASTS = {
    "paris": ("cloudy", 14.5),
    "tokyo": ("sunny", 22.0),
    "lima": ("foggy", 17.0),
}


class Sum(TypedDict):
    sum: float


class Weather(TypedDict):
    city: str
    conditions: str
    temperature_c: float


def build_server(name: str, port: int) -> FastMCP:
    server = FastMCP(name, host="127.0.0.1", port=port, log_level="WARNING")

    @server.tool()
    def add(a: float, b: float) -> Sum:
        """Add two numbers."""
        return {"sum": a + b}

    # Plain text on purpose: shows how a step maps a text-only answer (``{"text": ...}``).
    @server.tool(structured_output=False)
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool(structured_output=False)
    def fail(message: str) -> str:
        """Always fail, reporting the message as a tool error."""
        raise ToolError(message)

    @server.tool(structured_output=False)
    async def slow(seconds: float) -> str:
        """Sleep for some seconds, then answer (for timeouts and cancelling)."""
        await asyncio.sleep(seconds)
        return f"slept {seconds:g}s"

    @server.tool()
    def weather(city: str) -> Weather:
        """Today's (made-up) weather in a city."""
        conditions, temperature = FORECASTS.get(city.lower(), ("clear", 20.0))
        return {"city": city, "conditions": conditions, "temperature_c": temperature}

    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP, not stdio")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (with --http)")
    parser.add_argument("--name", default="harmonia-example", help="the name the server reports")
    args = parser.parse_args(argv)
    server = build_server(args.name, args.port)
    server.run("streamable-http" if args.http else "stdio")


if __name__ == "__main__":
    main()
