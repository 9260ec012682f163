"""A small A2A agent for demos and tests: JSON-RPC over HTTP, protocol 0.3 and/or 1.0.

    python examples/agents/reference_agent.py --name DataExtractorAgent --skill extract --port 8101

Skills (``--skill``; a step may pick another with an ``_skill`` key in its input):
- ``echo``: answers with its input;
- ``extract``: ``{"source": s}`` → ``{"data": {"source": s, "records": [...]}}``;
- ``transform``: ``{"data": {...records...}}`` → ``{"data": {...upper-cased names...},
  "record_count": n}``;
- ``fail``: the task fails with a message;
- ``slow``: the task works for ``--slow`` seconds (or ``seconds`` in the input), then completes
  with its input; it can be cancelled;
- ``ask``: the task stops in input-required;
- ``text``: answers with a text part.

Options that make it misbehave on purpose: ``--fail-first N`` answers the first N sends with HTTP
503; ``--delay-ms`` waits before every JSON-RPC answer. ``--token`` / ``--api-key`` require
credentials. ``--protocol 0.3|1.0|both`` sets what the card offers and what is accepted;
``--legacy-card`` serves the card only at the older ``/.well-known/agent.json``. ``GET /_calls``
lists the JSON-RPC calls received (method and time), so tests can check retry spacing.
It needs nothing beyond werkzeug (a Flask dependency).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

SKILLS = {
    "echo": "Answer with the input",
    "extract": "Extract records from a source",
    "transform": "Transform extracted records",
    "fail": "Fail on purpose",
    "slow": "Work for a while, then answer with the input",
    "ask": "Ask for more input",
    "text": "Answer with text",
}
MODERN = {"SendMessage": "send", "GetTask": "get", "CancelTask": "cancel"}
LEGACY = {"message/send": "send", "tasks/get": "get", "tasks/cancel": "cancel"}


@dataclass
class Task:
    id: str
    skill: str
    data: Any
    state: str = "working"
    done_at: float = 0.0
    parts: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


class Agent:
    def __init__(self, options: argparse.Namespace):
        self.options = options
        self.tasks: dict[str, Task] = {}
        self.calls: list[dict[str, Any]] = []
        self.sends = 0
        self.lock = threading.Lock()

    # -- HTTP ------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET" and path == "/health":
            return _json({"status": "healthy", "name": self.options.name})
        if request.method == "GET" and path == "/_calls":
            with self.lock:
                return _json({"calls": list(self.calls)})
        if request.method == "GET" and path in self.card_paths():
            return _json(self.card(request.host_url.rstrip("/")))
        if request.method == "POST" and path == "/":
            return self.rpc(request)
        return _json({"error": "not found"}, 404)

    def card_paths(self) -> tuple[str, ...]:
        if self.options.legacy_card:
            return ("/.well-known/agent.json",)
        return ("/.well-known/agent-card.json", "/.well-known/agent.json")

    def card(self, base: str) -> dict[str, Any]:
        card: dict[str, Any] = {
            "name": self.options.name,
            "description": f"Harmonia's reference A2A agent ({self.options.skill})",
            "version": "1.0.0",
            "capabilities": {"streaming": False, "pushNotifications": False},
            "defaultInputModes": ["application/json", "text/plain"],
            "defaultOutputModes": ["application/json", "text/plain"],
            "skills": [
                {"id": sid, "name": sid, "description": text, "tags": ["reference"]}
                for sid, text in SKILLS.items()
            ],
        }
        protocol = self.options.protocol
        if protocol == "0.3":
            return {
                **card,
                "url": base + "/",
                "protocolVersion": "0.3.0",
                "preferredTransport": "JSONRPC",
            }
        interfaces = [{"url": base + "/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]
        if protocol == "both":
            interfaces.append(
                {"url": base + "/", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}
            )
        return {**card, "supportedInterfaces": interfaces}

    def authorised(self, request: Request) -> bool:
        if self.options.token:
            return request.headers.get("Authorization") == f"Bearer {self.options.token}"
        if self.options.api_key:
            return request.headers.get("X-API-Key") == self.options.api_key
        return True

    # -- JSON-RPC --------------------------------------------------------------------------------

    def rpc(self, request: Request) -> Response:
        if not self.authorised(request):
            return _json({"error": "unauthorised"}, 401)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return _json(_error(None, -32700, "Parse error"))
        if not isinstance(body, dict):
            return _json(_error(None, -32600, "Invalid Request"))
        rpc_id, method, params = body.get("id"), body.get("method"), body.get("params") or {}
        with self.lock:
            self.calls.append({"method": method, "at": time.time()})
        modern = method in MODERN
        if modern and not str(request.headers.get("A2A-Version", "")).startswith("1"):
            return _json(_error(rpc_id, -32009, "A2A-Version 1.0 header required"))
        accepted = MODERN if self.options.protocol != "0.3" else {}
        if self.options.protocol != "1.0":
            accepted = {**accepted, **LEGACY}
        if method not in accepted:
            return _json(_error(rpc_id, -32601, f"Method not found: {method}"))
        if self.options.delay_ms:
            time.sleep(self.options.delay_ms / 1000)
        kind = accepted[method]
        if kind == "send":
            with self.lock:
                self.sends += 1
                flaky = self.sends <= self.options.fail_first
            if flaky:
                return Response("temporarily unavailable", status=503)
            return self.send(rpc_id, params, modern)
        task = self.tasks.get(str(params.get("id")))
        if task is None:
            return _json(_error(rpc_id, -32001, "Task not found"))
        if kind == "cancel" and task.state == "working":
            task.state, task.message = "canceled", "cancelled by the client"
        return _json({"jsonrpc": "2.0", "id": rpc_id, "result": self.render(task, modern)})

    def send(self, rpc_id: Any, params: dict[str, Any], modern: bool) -> Response:
        message = params.get("message") or {}
        data = _input(message.get("parts") or [])
        skill = data.pop("_skill", None) if isinstance(data, dict) else None
        task = Task(id=str(uuid.uuid4()), skill=skill or self.options.skill, data=data)
        self.start(task)
        self.tasks[task.id] = task
        config = params.get("configuration") or {}
        waits = not (config.get("returnImmediately") or config.get("blocking") is False)
        while waits and self.refresh(task) == "working":
            time.sleep(0.05)
        result = self.render(task, modern)
        return _json(
            {"jsonrpc": "2.0", "id": rpc_id, "result": {"task": result} if modern else result}
        )

    def start(self, task: Task) -> None:
        data = task.data if isinstance(task.data, dict) else {"value": task.data}
        if task.skill == "slow":
            seconds = float(data.get("seconds", self.options.slow))
            task.done_at = time.monotonic() + seconds
            return
        if task.skill == "fail":
            task.state, task.message = "failed", "the reference agent failed on purpose"
        elif task.skill == "ask":
            task.state, task.message = "input-required", "which table should I read?"
        elif task.skill == "text":
            task.state, task.parts = "completed", [{"text": "plain words from the agent"}]
        else:
            task.state, task.parts = "completed", [{"data": _answer(task.skill, data)}]

    def refresh(self, task: Task) -> str:
        if task.skill == "slow" and task.state == "working" and time.monotonic() >= task.done_at:
            task.state, task.parts = "completed", [{"data": task.data}]
        return task.state

    def render(self, task: Task, modern: bool) -> dict[str, Any]:
        self.refresh(task)
        state = f"TASK_STATE_{task.state.upper().replace('-', '_')}" if modern else task.state
        status: dict[str, Any] = {"state": state}
        if task.message:
            role = "ROLE_AGENT" if modern else "agent"
            status["message"] = {
                "messageId": str(uuid.uuid4()),
                "role": role,
                "parts": [_part({"text": task.message}, modern)],
            }
        rendered: dict[str, Any] = {"id": task.id, "contextId": task.id, "status": status}
        if task.parts:
            rendered["artifacts"] = [
                {"artifactId": f"{task.id}-result", "parts": [_part(p, modern) for p in task.parts]}
            ]
        if not modern:
            rendered["kind"] = "task"
        return rendered


def _part(part: dict[str, Any], modern: bool) -> dict[str, Any]:
    if modern:
        return part
    return {"kind": "text", **part} if "text" in part else {"kind": "data", **part}


def _input(parts: list[dict[str, Any]]) -> Any:
    for part in parts:
        if isinstance(part, dict) and "data" in part:
            data = part["data"]
            return dict(data) if isinstance(data, dict) else data
        if isinstance(part, dict) and "text" in part:
            try:
                return json.loads(part["text"])
            except ValueError:
                return {"text": part["text"]}
    return {}


def _answer(skill: str, data: dict[str, Any]) -> dict[str, Any]:
    if skill == "extract":
        source = data.get("source", "unknown")
        records = [{"id": i, "name": f"record-{i}", "source": source} for i in range(1, 4)]
        return {"data": {"source": source, "records": records}}
    if skill == "transform":
        payload = data.get("data") or {}
        records = payload.get("records", []) if isinstance(payload, dict) else []
        upper = [{**r, "name": str(r.get("name", "")).upper()} for r in records]
        return {"data": {**payload, "records": upper}, "record_count": len(upper)}
    return data


def _error(rpc_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--name", default="ReferenceAgent")
    parser.add_argument("--skill", default="echo", choices=sorted(SKILLS))
    parser.add_argument("--protocol", default="both", choices=["0.3", "1.0", "both"])
    parser.add_argument("--legacy-card", action="store_true")
    parser.add_argument("--token", help="require 'Authorization: Bearer <token>'")
    parser.add_argument("--api-key", help="require 'X-API-Key: <key>'")
    parser.add_argument("--fail-first", type=int, default=0, help="HTTP 503 for the first N sends")
    parser.add_argument("--delay-ms", type=int, default=0, help="wait before every RPC answer")
    parser.add_argument("--slow", type=float, default=5.0, help="seconds the slow skill works")
    options = parser.parse_args(argv)
    server = make_server(options.host, options.port, Agent(options), threaded=True)
    print(
        f"{options.name} ({options.skill}, A2A {options.protocol}) on "
        f"http://{options.host}:{options.port}",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
