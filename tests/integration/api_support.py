"""Shared by the /api/v1 tests: the error body, timestamps, a tiny HTTP server, agents."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from simple_websocket import Client, ConnectionClosed

from app import create_app
from app.cli import api_argv, wait_for_port
from config.settings import Settings

REFERENCE_AGENT = Path(__file__).resolve().parents[2] / "examples" / "agents" / "reference_agent.py"

# The bootstrap admin key (HARMONIA_ADMIN_API_KEY) every test client and server uses.
ADMIN_KEY = "hmn_test-admin-key-for-the-suite"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

ERROR_KEYS = {"error", "detail", "errors", "status_code", "timestamp", "path", "request_id"}


class AdminClient(FlaskClient):
    """A test client that sends the bootstrap admin key with every request."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_KEY}"


def admin_app(settings: Settings):
    """An app on ``settings`` whose ``test_client()`` is an admin's (``FlaskClient(app)`` is an
    anonymous one)."""
    application = create_app(settings)
    application.config["TESTING"] = True
    application.test_client_class = AdminClient
    return application


def timestamp(value: str) -> datetime:
    """Parse an API timestamp; every one must say which zone it is in."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"timestamp without a zone: {value!r}"
    return parsed


def assert_error(
    response, status: int, *, field: str | None = None, detail: str | None = None
) -> dict[str, Any]:
    """The response is seed 002's error body with this status (and names ``field``, if given)."""
    body = response.json
    assert response.status_code == status, body
    assert body is not None and set(body) == ERROR_KEYS, body
    assert body["status_code"] == status
    assert body["path"] == response.request.path
    assert body["request_id"] and body["request_id"] == response.headers["X-Request-ID"]
    timestamp(body["timestamp"])
    if detail is not None:
        assert detail in body["detail"], body["detail"]
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, f"{field!r} not named in {fields}"
        for error in body["errors"]:
            assert set(error) == {"field", "message", "type"} and error["message"], error
    return body


def problems(response) -> dict[str, str]:
    """``{field: message}`` of an error response (several problems on one field are joined)."""
    out: dict[str, str] = {}
    for error in response.json["errors"]:
        out[error["field"]] = " | ".join(filter(None, [out.get(error["field"]), error["message"]]))
    return out


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Server:
    url: str
    routes: dict[str, tuple[int, Any]]
    requests: list[Seen] = field(default_factory=list)


@contextmanager
def http_server(routes: dict[str, tuple[int, Any]]) -> Iterator[Server]:
    """A real HTTP server on 127.0.0.1: ``routes`` maps a path to ``(status, body)``; a dict body is
    sent as JSON, the body ``"ECHO"`` returns the request's JSON. Every request is recorded."""
    server = Server(url="", routes=routes)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                sent = json.loads(raw) if raw else None
            except ValueError:
                sent = raw.decode(errors="replace")
            path = self.path.split("?", 1)[0]
            server.requests.append(Seen(self.command, self.path, dict(self.headers), sent))
            status, body = server.routes.get(path, (404, {"error": "no such path"}))
            if body == "ECHO":
                body = {"method": self.command, "received": sent}
            if isinstance(body, dict | list):
                data, kind = json.dumps(body).encode(), "application/json"
            else:
                data, kind = str(body).encode(), "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextmanager
def reference_agent(name: str, *options: str) -> Iterator[str]:
    """The reference A2A agent (examples/agents) as its own process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(REFERENCE_AGENT), "--port", str(port), "--name", name, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for_port("127.0.0.1", port, timeout=20), f"{name} did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def register_agent(client, name: str, url: str, **fields) -> dict[str, Any]:
    response = client.post("/api/v1/agents", json={"name": name, "url": url, **fields})
    assert response.status_code == 201, response.json
    return response.json


@contextmanager
def gunicorn_api(settings: Settings, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The API as production runs it: gunicorn processes on a free loopback port, with ``env``;
    yields ``host:port``. Stopping is graceful but short (gunicorn waits for open streams)."""
    port = free_port()
    with open(log_path, "a") as out:
        process = subprocess.Popen(
            api_argv(settings.with_(port=port)), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        if not wait_for_port("127.0.0.1", port, timeout=30):
            pytest.fail("gunicorn did not start:\n" + log_path.read_text()[-3000:], pytrace=False)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def ws_collect(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    send: tuple[dict[str, Any], ...] = (),
    until: Callable[[list[dict[str, Any]]], bool] | None = None,
    timeout: float = 30,
) -> list[dict[str, Any]]:
    """A WebSocket's messages, after sending ``send``, until ``until(messages)`` holds, the
    server closes the socket, or ``timeout`` passes. ``headers`` default to the admin's."""
    ws = Client.connect(url, headers=ADMIN if headers is None else headers)
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        for message in send:
            ws.send(json.dumps(message))
        while time.monotonic() < deadline:
            raw = ws.receive(timeout=1)
            if raw is None:
                continue
            got.append(json.loads(raw))
            if until and until(got):
                break
    except ConnectionClosed:
        pass
    finally:
        with contextlib.suppress(ConnectionClosed):  # the server may have closed first
            ws.close()
    return got


def assert_retry_after(response) -> None:
    """A 503 says when to retry: at least our hint (``RETRY_AFTER_SECONDS``), which the rate
    limiter may stretch to the end of its window, less the second its arithmetic can floor away
    (it adds the hint to the clock, truncates, and subtracts a later clock)."""
    from app.api.errors import RETRY_AFTER_SECONDS

    assert int(response.headers["Retry-After"]) >= RETRY_AFTER_SECONDS - 1, response.headers


def assert_started_as_documented(execution: dict[str, Any]) -> None:
    """Seed 003's answer to starting an execution, as it stands when the answer is read: as its
    document shows it (RUNNING, the initial context ``{"key": "value"}``, version 1) unless the
    worker already wrote a task's result (``<task>-result``), which the context then holds, one
    version up each; RUNNING until both tasks of the document's workflow are done."""
    data = json.loads(execution["context"]["data"])
    results = {key for key in data if key.endswith("-result")}
    assert {k: v for k, v in data.items() if k not in results} == {"key": "value"}, data
    assert execution["context"]["version"] == 1 + len(results)
    if len(results) < 2:
        assert execution["status"] == "RUNNING" and execution["endTime"] is None, execution
