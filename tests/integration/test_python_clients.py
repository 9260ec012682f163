"""The Python client package (``clients/python``) against a live gunicorn server and a real worker.

- the seed 000 and seed 004 documents' Python examples, run as written (in a subprocess, the
  server and key from ``HARMONIA_URL``/``HARMONIA_API_KEY``), and every other façade method;
- the canonical ``harmonia_client``, sync and async: lazy pagination, typed errors, retries on
  503/429 with ``Retry-After`` (against a tiny local server, so the real one stays healthy), and
  ``stream_events`` through a TCP proxy that cuts the connection mid-run: the events yielded equal
  the run's stored events, in order, none lost or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from harmonia.client import get_harmonia_client
from harmonia_client import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from synthesis.client import SynthesisClient

from tests.integration.api_support import ADMIN_KEY

# Seed 000, "Client Library" → "Basic Usage", verbatim.
SEED000_EXAMPLE = """
import asyncio
from harmonia.client import get_harmonia_client

async def main():
    # Get Harmonia client
    client = await get_harmonia_client()

    try:
        # Create a workflow
        workflow = await client.create_workflow(
            name="Example Workflow",
            description="An example workflow",
            tasks=[
                {
                    "id": "task1",
                    "component": "ergon",
                    "action": "execute_command",
                    "input": {"command": "echo Hello World"}
                }
            ]
        )

        # Execute the workflow
        execution = await client.execute_workflow(
            workflow_id=workflow["workflow_id"]
        )

        # Get workflow status
        status = await client.get_workflow_status(
            execution_id=execution["execution_id"]
        )

        print(f"Workflow status: {status['status']}")

    finally:
        # Close the client
        await client.close()

if __name__ == "__main__":
    asyncio.run(main())
"""

# Seed 004, "API Clients" → "Python Client", verbatim but for the server's address.
SEED004_EXAMPLE = """
from synthesis.client import SynthesisClient
import asyncio

async def example():
    # Create client
    client = SynthesisClient(base_url="http://localhost:8009")

    try:
        # Create and execute a simple plan
        execution_id = await client.execute_plan({
            "name": "Example Plan",
            "description": "An example execution plan",
            "steps": [
                {
                    "id": "step1",
                    "type": "command",
                    "parameters": {
                        "command": "echo Hello, World!"
                    }
                }
            ]
        })

        # Wait for completion
        result = await client.wait_for_execution(execution_id)

        print(f"Execution completed with status: {result['status']}")

        # Get step outputs
        steps = await client.get_execution_steps(execution_id)
        for step in steps["steps"]:
            print(f"Step {step['id']} output: {step['output']}")

    finally:
        # Close client
        await client.close()

# Run the example
asyncio.run(example())
"""


@pytest.fixture
def url(server: str, clean) -> str:
    return f"http://{server}"


@pytest.fixture
def api(url: str) -> Iterator[Client]:
    with Client(url, ADMIN_KEY) as client:
        yield client


def run_example(source: str, url: str) -> list[str]:
    env = {**os.environ, "HARMONIA_URL": url, "HARMONIA_API_KEY": ADMIN_KEY}
    done = subprocess.run(
        [sys.executable, "-c", source], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if line.strip()]


def sleepers(count: int, seconds: float) -> dict[str, Any]:
    """``count`` builtin.sleep tasks, one after another."""
    return {
        f"s{i}": {
            "action": "builtin.sleep",
            "input": {"seconds": seconds},
            **({"depends_on": [f"s{i - 1}"]} if i else {}),
        }
        for i in range(count)
    }


# Seed 000's façade


def test_seed000_example_runs_as_written(url):
    lines = run_example(SEED000_EXAMPLE, url)
    assert len(lines) == 1 and lines[0].startswith("Workflow status: "), lines
    assert lines[0].split(": ")[1] in {"pending", "running", "completed"}


def test_seed000_facade_methods(url, api):
    async def scenario() -> None:
        client = await get_harmonia_client(base_url=url, api_key=ADMIN_KEY)
        try:
            workflow = await client.create_workflow(
                "slow",
                {"nap": {"component": "ergon", "action": "execute_command",
                         "input": {"command": "sleep ${workflow.input.seconds}"}}},
                description="naps",
                input_schema={"type": "object", "properties": {"seconds": {"type": "number"}}},
                output_schema={"type": "object"},
            )  # fmt: skip
            assert set(workflow) >= {"workflow_id", "name", "created_at"}
            execution = await client.execute_workflow(workflow["workflow_id"], {"seconds": 30})
            assert execution["workflow_id"] == workflow["workflow_id"]
            assert execution["status"] == "pending"
            execution_id = execution["execution_id"]
            status = await client.get_workflow_status(execution_id)
            assert status["execution_id"] == execution_id and status["input"] == {"seconds": 30}

            cancelled = await client.cancel_workflow(execution_id)
            assert cancelled["status"] == "canceled", cancelled
            checkpoint = api.create_checkpoint(execution_id, name="after cancel")
            restored = await client.restore_from_checkpoint(checkpoint["id"])
            assert restored["original_execution_id"] == execution_id
            assert restored["checkpoint_id"] == checkpoint["id"] and restored["execution_id"]
            api.cancel_run(restored["execution_id"])

            template = await client.create_template(
                "napper", workflow["workflow_id"], {"who": {"type": "string", "required": True}}
            )
            assert set(template) >= {"template_id", "name", "created_at"}
            made = await client.instantiate_template(template["template_id"], {"who": "Ada"})
            assert made["template_id"] == template["template_id"] and made["workflow_id"]
            assert api.get_workflow(made["workflow_id"])["parameter_values"] == {"who": "Ada"}

            with pytest.raises(NotFound) as missing:
                await client.get_workflow_status("no-such-execution")
            assert missing.value.body["error"]["type"] == "NotFoundError"
        finally:
            await client.close()

    asyncio.run(scenario())


# Seed 004's façade


def test_seed004_example_runs_as_written(url):
    source = SEED004_EXAMPLE.replace("http://localhost:8009", url)
    assert run_example(source, url) == [
        "Execution completed with status: completed",
        "Step step1 output: Hello, World!",
    ]


def test_seed004_facade_reads_its_key_from_the_environment(url, monkeypatch):
    monkeypatch.setenv("HARMONIA_API_KEY", ADMIN_KEY)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        client = SynthesisClient(base_url=url)
        try:
            execution_id = await client.execute_plan(
                {"name": "two", "steps": [
                    {"id": "a", "type": "command", "parameters": {"command": "echo one"}},
                    {"id": "b", "type": "command", "parameters": {"command": "echo two"}},
                ]}
            )  # fmt: skip
            result = await client.wait_for_execution(execution_id, timeout=30, poll_interval=0.2)
            return result, await client.get_execution_steps(execution_id)
        finally:
            await client.close()

    result, steps = asyncio.run(scenario())
    assert result["status"] == "completed"
    assert [(s["id"], s["output"]) for s in steps["steps"]] == [("a", "one\n"), ("b", "two\n")]


# The canonical client: pagination


def test_iterators_walk_every_page_lazily(url, api):
    workflow_ids, run_ids = [], []
    for number in range(25):
        workflow = api.create_workflow(f"w{number:02}", {"t": {"action": "builtin.noop"}})
        workflow_ids.append(workflow["id"])
        run_ids.append(api.execute_workflow(workflow["id"])["id"])

    sent: list[httpx.URL] = []
    api._http.event_hooks["request"].append(lambda request: sent.append(request.url))
    runs = api.iter_runs(page_size=10)
    first = next(runs)
    assert len(sent) == 1 and sent[0].params["page_size"] == "10"
    walked = [first["id"], *(run["id"] for run in runs)]
    assert walked == run_ids  # oldest first, each exactly once
    assert [u.params["page"] for u in sent] == ["1", "2", "3"]
    assert [w["id"] for w in api.iter_workflows(page_size=10)] == workflow_ids

    async def walk() -> tuple[list[str], list[str]]:
        async with AsyncClient(url, ADMIN_KEY) as client:
            runs = [run["id"] async for run in client.iter_runs(page_size=10)]
            flows = [w["id"] async for w in client.iter_workflows(page_size=10, name="w17")]
            return runs, flows

    async_runs, filtered = asyncio.run(walk())
    assert async_runs == run_ids
    assert filtered == [workflow_ids[17]]  # filters pass through


# Typed errors


def test_refusals_raise_typed_errors_with_the_servers_body(url, api):
    with pytest.raises(NotFound) as missing:
        api.get_run("no-such-run")
    assert missing.value.status == 404 and missing.value.body["status_code"] == 404
    assert missing.value.message == "Run with id 'no-such-run' not found"
    assert missing.value.request_id and missing.value.request_id.startswith("req-")

    with pytest.raises(ValidationFailed) as unprocessable:
        api.list_runs(page_size=1000)
    assert unprocessable.value.status == 422
    assert unprocessable.value.body["errors"][0]["field"] == "page_size"

    cycle = {"a": {"action": "builtin.noop", "depends_on": ["b"]},
             "b": {"action": "builtin.noop", "depends_on": ["a"]}}  # fmt: skip
    with pytest.raises(ValidationFailed) as invalid:
        api.create_workflow("bad", cycle)
    assert invalid.value.status == 400
    assert invalid.value.body["errors"][0]["type"] == "cycle"

    api.create_template("once", definition={"tasks": {"t": {"action": "builtin.noop"}}})
    with pytest.raises(Conflict) as taken:
        api.create_template("once", definition={"tasks": {"t": {"action": "builtin.noop"}}})
    assert taken.value.status == 409

    with Client(url, "hmn_wrong-key") as stranger:
        with pytest.raises(Unauthorized):
            stranger.list_runs()
        with pytest.raises(Unauthorized):  # the socket is refused before it opens
            next(stranger.stream_events("any-run"))

    async def async_missing() -> NotFound:
        async with AsyncClient(url, ADMIN_KEY) as client:
            with pytest.raises(NotFound) as raised:
                await client.get_workflow("no-such-workflow")
            return raised.value

    assert asyncio.run(async_missing()).body["path"] == "/api/v1/workflows/no-such-workflow"


# Retries on 503/429 with Retry-After


@contextlib.contextmanager
def flaky_server(answers: list[tuple[int, dict[str, str]]]) -> Iterator[tuple[str, list[float]]]:
    """A local server answering ``answers`` in turn (status, headers), then 200 forever; yields
    its URL and the time of each request."""
    seen: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(time.monotonic())
            status, headers = answers.pop(0) if answers else (200, {})
            body = json.dumps({"status_code": status, "detail": "busy" if status > 299 else "ok"})
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_503_and_429_are_retried_after_retry_after():
    with flaky_server([(503, {"Retry-After": "1"})]) as (base, seen):
        assert Client(base, "k").get_run("r1") == {"status_code": 200, "detail": "ok"}
    assert len(seen) == 2 and seen[1] - seen[0] >= 0.95

    async def twice_limited() -> Any:
        async with AsyncClient(base, "k") as client:
            return await client.get_run("r1")

    with flaky_server([(429, {"Retry-After": "1"}), (429, {"Retry-After": "0"})]) as (
        base,
        seen,
    ):
        assert asyncio.run(twice_limited())["detail"] == "ok"
    assert len(seen) == 3 and seen[1] - seen[0] >= 0.95

    busy = [(503, {"Retry-After": "0"})] * 5
    with flaky_server(busy) as (base, seen), pytest.raises(Unavailable) as exhausted:
        Client(base, "k", retries=2).get_run("r1")
    assert len(seen) == 3 and exhausted.value.body["detail"] == "busy"


# stream_events through a connection that is cut mid-run


class CuttingProxy:
    """A TCP proxy to the server that can cut every connection and refuse new ones a while."""

    def __init__(self, upstream: str):
        host, port = upstream.split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.opened = 0
        self.refuse_until = 0.0
        self.live: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.refuse_until:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            self.opened += 1
            self.live += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self, refuse_for: float) -> None:
        self.refuse_until = time.monotonic() + refuse_for
        for end in self.live:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        self.live = []

    def close(self) -> None:
        self.listener.close()
        self.cut(0)


@pytest.fixture
def proxy(server: str) -> Iterator[CuttingProxy]:
    cutter = CuttingProxy(server)
    yield cutter
    cutter.close()


def start_sleepy_run(api: Client) -> str:
    workflow = api.create_workflow("sleepy", sleepers(6, 0.3))
    return api.execute_workflow(workflow["id"])["id"]


def stored_ids(api: Client, run_id: str) -> list[int]:
    return [event["event_id"] for event in api.iter_events(run_id, page_size=10)]


def test_stream_events_resumes_after_a_cut_without_gap_or_repeat(api, proxy):
    run_id = start_sleepy_run(api)
    yielded: list[dict[str, Any]] = []
    with Client(proxy.url, ADMIN_KEY) as streaming:
        for event in streaming.stream_events(run_id):
            yielded.append(event)
            if len(yielded) == 3:
                proxy.cut(refuse_for=0.8)  # events keep coming while the client is away
    assert proxy.opened >= 2, "the stream never reconnected"
    assert yielded[-1]["type"] == "workflow_completed"
    assert [event["event_id"] for event in yielded] == stored_ids(api, run_id)


def test_async_stream_events_resumes_after_cuts(api, proxy):
    run_id = start_sleepy_run(api)

    async def follow() -> list[int]:
        seen: list[int] = []
        async with AsyncClient(proxy.url, ADMIN_KEY) as streaming:
            async for event in streaming.stream_events(run_id):
                seen.append(event["event_id"])
                if len(seen) in (2, 6):
                    proxy.cut(refuse_for=0.4)
        return seen

    seen = asyncio.run(follow())
    assert proxy.opened >= 3
    assert seen == stored_ids(api, run_id)
    # Resuming from a known id yields exactly what follows it.
    with Client(proxy.url, ADMIN_KEY) as streaming:
        assert [e["event_id"] for e in streaming.stream_events(run_id, seen[4])] == seen[5:]
