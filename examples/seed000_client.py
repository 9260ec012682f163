"""A client written from seed 000's document ("Harmonia API Reference") alone.

    HARMONIA_URL=http://localhost:8002 HARMONIA_TOKEN=<token> python examples/seed000_client.py

It creates a workflow, executes it, follows it on the WebSocket until ``workflow_completed``,
reads the final status, saves and loads custom state, takes a checkpoint and restores it, and
lists what it made. It uses only the paths, fields and codes the document shows, and exits
non-zero when an answer differs from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid

import httpx
from simple_websocket import Client, ConnectionClosed

BASE = os.environ.get("HARMONIA_URL", "http://localhost:8002").rstrip("/")
HEADERS = {"Authorization": f"Bearer {os.environ.get('HARMONIA_TOKEN', 'your-token')}"}


def call(client: httpx.Client, method: str, path: str, expected: int, **kwargs) -> dict:
    response = client.request(method, path, **kwargs)
    if response.status_code != expected:
        sys.exit(
            f"{method} {path}: expected {expected}, got {response.status_code}: {response.text}"
        )
    return response.json()


def watch(execution_id: str, timeout: float = 120) -> list[dict]:
    """Execution events until ``workflow_completed`` (or the server closes the socket)."""
    ws_url = BASE.replace("http", "ws", 1) + f"/ws/executions/{execution_id}"
    ws = Client.connect(ws_url, headers=HEADERS)
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        ws.send(json.dumps({"type": "ping"}))
        while time.monotonic() < deadline:
            raw = ws.receive(timeout=1)
            if raw is None:
                continue
            data = json.loads(raw)
            if data.get("type") == "pong":
                print("pong at", data["timestamp"])
                continue
            events.append(data)
            print(f"Event: {data['event_type']}", data.get("task_id") or "")
            if data["event_type"] == "workflow_completed":
                break
    except ConnectionClosed:
        pass
    finally:
        with contextlib.suppress(ConnectionClosed):
            ws.close()
    return events


def main() -> None:
    with httpx.Client(base_url=BASE, headers=HEADERS, timeout=30) as client:
        workflow = call(
            client,
            "POST",
            "/api/workflows",
            201,
            json={
                "name": f"Example Workflow {uuid.uuid4().hex[:6]}",
                "description": "An example workflow",
                "tasks": {
                    "task1": {
                        "component": "ergon",
                        "action": "execute_command",
                        "input": {"command": "echo Hello World"},
                    },
                    "task2": {
                        "component": "ergon",
                        "action": "execute_command",
                        "input": {"command": "echo got ${tasks.task1.output.result}"},
                        "depends_on": ["task1"],
                    },
                },
                "input": {"type": "object", "properties": {"param1": {"type": "string"}}},
            },
        )
        print(f"Created workflow: {workflow['workflow_id']}")
        execution = call(
            client,
            "POST",
            "/api/executions",
            202,
            json={
                "workflow_id": workflow["workflow_id"],
                "input": {"param1": "value1"},
                "metadata": {"source": "api", "priority": "high"},
            },
        )
        execution_id = execution["execution_id"]
        print(f"Started execution: {execution_id} ({execution['status']})")

        events = watch(execution_id)
        if not events or events[-1]["event_type"] != "workflow_completed":
            sys.exit(f"the execution did not complete: {events[-1:] or 'no events'}")
        status = call(client, "GET", f"/api/executions/{execution_id}", 200)
        print("Final status:", status["status"])
        task2 = status["task_statuses"]["task2"]
        if status["status"] != "completed" or task2["output"]["result"] != "got Hello World":
            sys.exit(f"unexpected final status: {status}")

        state = {"custom_data": {"key1": "value1", "key2": 42}, "progress": 1.0}
        call(client, "PUT", f"/api/state/{execution_id}", 200, json={"state": state})
        loaded = call(client, "GET", f"/api/state/{execution_id}", 200)
        if loaded["state"] != state:
            sys.exit(f"state came back different: {loaded}")

        checkpoint = call(
            client, "POST", "/api/checkpoints", 201, json={"execution_id": execution_id}
        )
        print("Checkpoint:", checkpoint["checkpoint_id"], checkpoint["completed_tasks"])
        restored = call(
            client, "POST", f"/api/checkpoints/{checkpoint['checkpoint_id']}/restore", 201
        )
        print("Restored as execution:", restored["execution_id"])

        listed = call(
            client, "GET", "/api/executions", 200, params={"workflow_id": workflow["workflow_id"]}
        )
        print(f"{listed['total']} execution(s) of the workflow")
        missing = client.get("/api/executions/does-not-exist")
        if missing.status_code != 404 or missing.json()["error"]["type"] != "NotFoundError":
            sys.exit(f"an unknown execution answered {missing.status_code}: {missing.text}")
    print("done")


if __name__ == "__main__":
    main()
