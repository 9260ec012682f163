"""A client written from seed 003's document ("Workflow Orchestration API Reference") alone.

    HARMONIA_URL=http://127.0.0.1:8002 HARMONIA_USERNAME=<user> HARMONIA_PASSWORD=<password> \
        python examples/seed003_client.py [--v2]

It logs in for a JWT, starts a small HTTP receiver on 127.0.0.1 and registers a webhook for the
execution events pointing at it, creates the document's "Sample Workflow", starts an execution,
follows its progress report until the execution is final, waits for the
``workflow.execution.completed`` webhook (checking its ``X-Harmonia-Signature``), deletes the
webhook and prints ``done``. Requests name the document's media type in ``Accept`` on
``/api/...``; with ``--v2`` (or ``HARMONIA_API_VERSION=v2``) they use ``/api/v2/...`` instead.
Registering webhooks needs an admin's credentials. Exits non-zero when a call fails or the
execution does not complete.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

BASE = os.environ.get("HARMONIA_URL", "http://127.0.0.1:8002").rstrip("/")
MEDIA_TYPE = "application/vnd.workflow-orchestration.v1+json"
SECRET = "webhook-secret"
FINAL = {"COMPLETED", "FAILED", "CANCELLED"}
EVENTS = ["workflow.execution.started", "workflow.execution.completed"]
SAMPLE_WORKFLOW = {
    "name": f"Sample Workflow {uuid.uuid4().hex[:6]}",  # names are unique: one per run
    "description": "A sample workflow definition",
    "tasks": [
        {"name": "Task 1", "description": "First task"},
        {"name": "Task 2", "description": "Second task", "dependencies": ["task-1"]},
    ],
    "synchronizationPoints": [
        {
            "name": "All Tasks Completed",
            "description": "Wait for all tasks to complete",
            "requiredTasks": ["task-1", "task-2"],
        }
    ],
}


def call(client: httpx.Client, method: str, path: str, expected: int | None = None, **kw) -> Any:
    """The answer's JSON; exits unless the status is ``expected`` (any 2xx when None)."""
    response = client.request(method, path, **kw)
    ok = response.status_code == expected if expected else response.is_success
    if not ok:
        sys.exit(f"{method} {path}: got {response.status_code}: {response.text}")
    return response.json() if response.content else None


def signature_ok(header: str | None, body: bytes) -> bool:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with our secret."""
    parts = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    if "t" not in parts or "v1" not in parts:
        return False
    mac = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), parts["v1"])


def start_receiver(received: queue.Queue) -> ThreadingHTTPServer:
    """An HTTP server on a free 127.0.0.1 port that queues (event, body, signature ok)."""

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = signature_ok(self.headers.get("X-Harmonia-Signature"), body)
            received.put((self.headers.get("X-Harmonia-Event"), body.decode(), ok))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def follow(client: httpx.Client, api: str, execution_id: str, timeout: float = 120) -> dict:
    """Print the progress report whenever it changes; the execution once it is final."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        execution = call(client, "GET", f"{api}/executions/{execution_id}")
        report = call(client, "GET", f"{api}/executions/{execution_id}/progress")
        milestones = [m["name"] for m in report["milestones"] if m.get("achieved")]
        line = (
            f"progress: {report['completedTasks']}/{report['totalTasks']} tasks, "
            f"estimated completion {report['estimatedCompletion']}, "
            f"blockers {report['blockers']}, milestones achieved {milestones}"
        )
        if line != last:
            print(line, flush=True)
            last = line
        if execution["status"] in FINAL:
            return execution
        if time.monotonic() > deadline:
            sys.exit(f"execution {execution_id} still {execution['status']} after {timeout}s")
        time.sleep(0.3)


def wait_for_webhook(received: queue.Queue, execution_id: str, timeout: float = 30) -> None:
    """Until a signed ``workflow.execution.completed`` about our execution arrives."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event, body, ok = received.get(timeout=left)
        except queue.Empty:
            break
        if not ok:
            sys.exit(f"webhook {event} with a bad X-Harmonia-Signature: {body}")
        print(f"webhook received: {event} (signature verified)", flush=True)
        if event == "workflow.execution.completed" and execution_id in body:
            return
    sys.exit(f"no workflow.execution.completed webhook within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v2", action="store_true", help="URL versioning: /api/v2/...")
    v2 = parser.parse_args().v2 or os.environ.get("HARMONIA_API_VERSION") == "v2"
    api = "/api/v2" if v2 else "/api"

    with httpx.Client(base_url=BASE, timeout=30) as client:
        login = call(
            client,
            "POST",
            "/api/auth/login",
            json={
                "username": os.environ.get("HARMONIA_USERNAME", ""),
                "password": os.environ.get("HARMONIA_PASSWORD", ""),
            },
        )
        client.headers["Authorization"] = f"Bearer {login.get('token') or login['access_token']}"
        if not v2:
            client.headers["Accept"] = MEDIA_TYPE

        received: queue.Queue = queue.Queue()
        receiver = start_receiver(received)
        url = f"http://127.0.0.1:{receiver.server_port}/webhook"
        hook = call(
            client,
            "POST",
            f"{api}/webhooks",
            json={"url": url, "events": EVENTS, "secret": SECRET},
        )
        print(f"Registered webhook {hook['id']} for {hook['events']}")
        try:
            workflow = call(client, "POST", f"{api}/workflows", json=SAMPLE_WORKFLOW)
            print(f"Created workflow definition: {workflow['id']} ({workflow['name']})")
            execution = call(
                client,
                "POST",
                f"{api}/executions",
                json={"workflowDefinitionId": workflow["id"], "initialContext": {"key": "value"}},
            )
            print(f"Started execution: {execution['id']} ({execution['status']})")

            execution = follow(client, api, execution["id"])
            data = execution["context"]["data"]
            context = json.loads(data) if isinstance(data, str) else data
            print("Final status:", execution["status"])
            print("Context data:", json.dumps(context, sort_keys=True))
            if execution["status"] != "COMPLETED" or context.get("key") != "value":
                sys.exit(f"unexpected final execution: {execution}")

            wait_for_webhook(received, execution["id"])
        finally:
            call(client, "DELETE", f"{api}/webhooks/{hook['id']}", 204)
            receiver.shutdown()
    print("done")


if __name__ == "__main__":
    try:
        main()
    except httpx.HTTPError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")
