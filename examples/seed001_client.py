"""A client written from seed 001's document ("Harmonia API Reference", ``/api/harmonia``) alone.

    python examples/seed001_client.py [BASE_URL] [API_KEY]

``BASE_URL`` defaults to ``$HARMONIA_URL`` or http://localhost:8002 (what ``make dev`` serves),
``API_KEY`` to ``$HARMONIA_API_KEY`` (the key ``make dev`` printed). It creates a workflow with one
``ergon`` ``execute_command`` task, executes it, follows it on the WebSocket until
``execution_completed``, and prints the final status. It exits non-zero when a call fails or the
execution does not complete.
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

FINAL = {"completed", "failed", "cancelled"}


def settings() -> tuple[str, str]:
    args = sys.argv[1:]
    base = args[0] if args else os.environ.get("HARMONIA_URL", "http://localhost:8002")
    key = args[1] if len(args) > 1 else os.environ.get("HARMONIA_API_KEY", "")
    if not key:
        sys.exit("usage: seed001_client.py [BASE_URL] API_KEY (or set HARMONIA_API_KEY)")
    return base.rstrip("/"), key


def call(client: httpx.Client, method: str, path: str, **kwargs) -> dict:
    response = client.request(method, path, **kwargs)
    if response.is_error:
        try:
            error = response.json()["error"]
            reason = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            reason = response.text
        sys.exit(f"{method} {path} failed with {response.status_code}: {reason}")
    return response.json()


def watch(base: str, key: str, execution_id: str, timeout: float = 120) -> list[dict]:
    """WebSocket messages until ``execution_completed`` (or the server closes the socket)."""
    url = base.replace("http", "ws", 1) + f"/ws/harmonia/executions/{execution_id}?api_key={key}"
    ws = Client.connect(url)
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            raw = ws.receive(timeout=1)
            if raw is None:
                continue
            message = json.loads(raw)
            messages.append(message)
            data = message.get("data") or {}
            print(f"{message['timestamp']} {message['type']} {data.get('task_name', '')}".rstrip())
            if message["type"] == "execution_completed":
                print(f"  finished in {data.get('duration_seconds')} s")
                break
    except ConnectionClosed:
        pass
    finally:
        with contextlib.suppress(ConnectionClosed):
            ws.close()
    return messages


def main() -> None:
    base, key = settings()
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=f"{base}/api/harmonia", headers=headers, timeout=30) as client:
        workflow = call(
            client,
            "POST",
            "/workflows",
            json={
                "name": f"hello_workflow_{uuid.uuid4().hex[:8]}",
                "description": "Say hello from ergon",
                "version": "1.0.0",
                "tasks": {
                    "greet": {
                        "name": "greet",
                        "component": "ergon",
                        "action": "execute_command",
                        "input": {"command": "echo Hello ${workflow.input.who}"},
                    }
                },
                "input_schema": {
                    "who": {"type": "string", "default": "world", "description": "Whom to greet"}
                },
            },
        )
        print(f"Workflow {workflow['workflow_id']} version {workflow['version']}")
        execution = call(
            client,
            "POST",
            "/executions",
            json={
                "workflow_id": workflow["workflow_id"],
                "input": {"who": "Harmonia"},
                "execution_options": {"async": True, "timeout": 600},
            },
        )
        execution_id = execution["execution_id"]
        print(f"Execution {execution_id}: {execution['status']}")
        watch(base, key, execution_id)
        # The socket may close before the status is written everywhere: read it until final.
        deadline = time.monotonic() + 30
        while True:
            status = call(client, "GET", f"/executions/{execution_id}")
            if status["status"] in FINAL or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for task_id, task in status["task_status"].items():
            print(f"  {task_id}: {task['status']} {json.dumps(task.get('output'))}")
        print(f"Final status: {status['status']}")
        if status["status"] != "completed":
            sys.exit(1)


if __name__ == "__main__":
    main()
