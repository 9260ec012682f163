"""The built-in integrations and their capabilities, with the JSON Schema of each input.

One source of truth: the definition validator checks task inputs against these schemas, the
workers validate resolved inputs with them, and the integration catalogue endpoints serve them.
The API never imports the action code in ``worker/actions``; it only knows these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Capability:
    id: str
    name: str
    description: str
    schema: dict[str, Any]

    @property
    def required(self) -> list[str]:
        return list(self.schema.get("required", []))


@dataclass(frozen=True)
class Integration:
    id: str
    name: str
    description: str
    capabilities: dict[str, Capability] = field(default_factory=dict)


def _obj(properties: dict[str, Any], required: list[str] | None = None, extra: bool = False):
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": extra,
    }
    if required:
        schema["required"] = required
    return schema


_STR = {"type": "string"}
_TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "description": "Timeout in seconds"}
_ENV = {"type": "object", "additionalProperties": {"type": "string"}}

_CLI_COMMON = {
    "working_directory": {**_STR, "description": "The working directory"},
    "env": {**_ENV, "description": "Extra environment variables"},
}

_HTTP = {
    "url": {**_STR, "description": "Absolute URL"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "params": {"type": "object", "description": "Query parameters"},
    "timeout": {**_TIMEOUT, "default": 30},
    "fail_on_status": {
        "type": "boolean",
        "default": True,
        "description": "Fail the step on a 4xx/5xx answer",
    },
}
_HTTP_BODY = {
    "json": {"description": "JSON body"},
    "body": {"type": "string", "description": "Raw text body"},
}


# mcp: the server is either a command to start (stdio) or the URL of a running server
# (streamable HTTP); worker/actions/mcp.py accepts exactly these two shapes.
_MCP_STDIO = _obj(
    {
        "command": {**_STR, "minLength": 1, "description": "Executable that starts the server"},
        "args": {"type": "array", "items": _STR, "description": "Its arguments"},
        "env": {
            **_ENV,
            "description": "Extra environment variables (the server inherits only HOME, PATH, "
            "LOGNAME, SHELL, TERM and USER otherwise)",
        },
        "cwd": {**_STR, "description": "The server's working directory"},
    },
    ["command"],
)
_MCP_HTTP = _obj(
    {
        "url": {
            **_STR,
            "pattern": "^https?://",
            "description": "Streamable HTTP endpoint, e.g. http://127.0.0.1:8765/mcp",
        },
        "headers": {"type": "object", "additionalProperties": _STR},
    },
    ["url"],
)
_MCP_SERVER = {
    "description": "How to reach the MCP server: a command (stdio) or a URL (streamable HTTP)",
    "oneOf": [_MCP_STDIO, _MCP_HTTP],
}
_MCP_TIMEOUT = {**_TIMEOUT, "description": "Timeout in seconds (at most the task's timeout)"}


def _cap(id_: str, name: str, description: str, schema: dict[str, Any]) -> Capability:
    return Capability(id_, name, description, schema)


INTEGRATIONS: dict[str, Integration] = {
    "builtin": Integration(
        "builtin",
        "Built-in",
        "Actions for tests, demos and benchmarks",
        {
            "noop": _cap("noop", "No-op", "Do nothing and succeed", _obj({}, extra=True)),
            "echo": _cap("echo", "Echo", "Return the input as the output", _obj({}, extra=True)),
            "sleep": _cap(
                "sleep",
                "Sleep",
                "Wait for a number of seconds",
                _obj({"seconds": {"type": "number", "minimum": 0}}, ["seconds"]),
            ),
            "fail": _cap(
                "fail",
                "Fail",
                "Fail with a message",
                _obj({"message": _STR}, extra=True),
            ),
            "set_state": _cap(
                "set_state",
                "Set State",
                "Set each key of the input in the run's custom state (read as ${state.key})",
                _obj({}, extra=True),
            ),
        },
    ),
    "cli": Integration(
        "cli",
        "Command Line",
        "Execute commands on the worker's system",
        {
            "execute_command": _cap(
                "execute_command",
                "Execute Command",
                "Execute a single command (argv split with shlex unless shell is true)",
                _obj(
                    {
                        "command": {
                            "description": "The command to execute",
                            "oneOf": [_STR, {"type": "array", "items": _STR}],
                        },
                        "shell": {"type": "boolean", "default": False},
                        "timeout": {**_TIMEOUT, "default": 60},
                        **_CLI_COMMON,
                    },
                    ["command"],
                ),
            ),
            "execute_script": _cap(
                "execute_script",
                "Execute Script",
                "Execute a multi-line script with an interpreter",
                _obj(
                    {
                        "script": {**_STR, "description": "The script to execute"},
                        "interpreter": {**_STR, "default": "bash"},
                        "timeout": {**_TIMEOUT, "default": 300},
                        **_CLI_COMMON,
                    },
                    ["script"],
                ),
            ),
        },
    ),
    "api": Integration(
        "api",
        "HTTP API",
        "Make HTTP requests to external APIs",
        {
            "http_get": _cap("http_get", "HTTP GET", "GET a URL", _obj(_HTTP, ["url"])),
            "http_post": _cap(
                "http_post", "HTTP POST", "POST to a URL", _obj({**_HTTP, **_HTTP_BODY}, ["url"])
            ),
            "http_put": _cap(
                "http_put", "HTTP PUT", "PUT to a URL", _obj({**_HTTP, **_HTTP_BODY}, ["url"])
            ),
            "http_delete": _cap("http_delete", "HTTP DELETE", "DELETE a URL", _obj(_HTTP, ["url"])),
        },
    ),
    "agent": Integration(
        "agent",
        "A2A Agent",
        "Call a registered agent over the A2A protocol",
        {
            "call": _cap(
                "call",
                "Call Agent",
                "Send the step's input to the agent as one message and return its answer",
                _obj({}, extra=True),
            ),
        },
    ),
    "mcp": Integration(
        "mcp",
        "MCP",
        "Call tools on Model Context Protocol servers (stdio or streamable HTTP)",
        {
            "call_tool": _cap(
                "call_tool",
                "Call Tool",
                "Call one tool; the output is its structuredContent, else its content mapped "
                "to {text} or {content: [...]}",
                _obj(
                    {
                        "server": _MCP_SERVER,
                        "tool": {**_STR, "minLength": 1, "description": "The tool's name"},
                        "arguments": {
                            "type": "object",
                            "default": {},
                            "description": "The tool's arguments",
                        },
                        "timeout": _MCP_TIMEOUT,
                    },
                    ["server", "tool"],
                ),
            ),
            "list_tools": _cap(
                "list_tools",
                "List Tools",
                "List the server's tools: {tools: [{name, description, input_schema}]}",
                _obj({"server": _MCP_SERVER, "timeout": _MCP_TIMEOUT}, ["server"]),
            ),
        },
    ),
}


def find_capability(integration: str, capability: str) -> Capability | None:
    found = INTEGRATIONS.get(integration)
    return found.capabilities.get(capability) if found else None


def starts_a_command(integration: str, params: Any) -> bool:
    """Whether a call runs a program of the caller's choosing on the worker: any ``cli``
    capability, and an ``mcp`` server given as a command (stdio) rather than a URL. These are
    what ``HARMONIA_ENABLE_SHELL=false`` refuses."""
    if integration == "cli":
        return True
    server = params.get("server") if isinstance(params, dict) else None
    return integration == "mcp" and isinstance(server, dict) and "command" in server
