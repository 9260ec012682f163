"""A client written from seed 004's document ("Synthesis API Reference") alone.

    HARMONIA_URL=http://127.0.0.1:8002 HARMONIA_TOKEN=<token> python examples/seed004_client.py

``SynthesisClient`` is the document's Python client: ``execute_plan`` creates an execution of a
plan (``POST /api/executions {"plan": ...}``) and starts it (``POST /api/executions/{id}/start``),
``wait_for_execution`` polls ``GET /api/executions/{id}`` until the status is final, and
``subscribe_to_execution`` follows the ``/ws/executions/{id}`` WebSocket. Run as a script, it runs
the document's example as written and exits non-zero when a call fails or the plan does not
complete with step1's ``Hello, World!``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from simple_websocket import AioClient, ConnectionClosed

FINAL = {"completed", "failed", "cancelled"}


class SynthesisError(Exception):
    """A non-2xx answer, with the document's ``{"error": {"code", "message", ...}}`` body."""


class SynthesisClient:
    def __init__(self, base_url: str = "http://localhost:8009", token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=30)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.http.request(method, path, **kwargs)
        if response.is_error:
            raise SynthesisError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def create_execution(self, plan: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """``extra`` may carry the document's ``variables`` and ``metadata``."""
        return await self._call("POST", "/api/executions", json={"plan": plan, **extra})

    async def start_execution(self, execution_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/api/executions/{execution_id}/start")

    async def execute_plan(self, plan: dict[str, Any], **extra: Any) -> str:
        """Create an execution of ``plan``, start it, and return its id."""
        execution_id = (await self.create_execution(plan, **extra))["execution_id"]
        await self.start_execution(execution_id)
        return execution_id

    async def get_execution(self, execution_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/executions/{execution_id}")

    async def get_execution_steps(self, execution_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/executions/{execution_id}/steps")

    async def get_execution_variables(self, execution_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/executions/{execution_id}/variables")

    async def wait_for_execution(
        self, execution_id: str, timeout: float = 120, interval: float = 0.5
    ) -> dict[str, Any]:
        """The execution once its status is completed, failed or cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            execution = await self.get_execution(execution_id)
            if execution["status"] in FINAL:
                return execution
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_id} still {execution['status']}")
            await asyncio.sleep(interval)

    async def subscribe_to_execution(self, execution_id: str) -> AsyncIterator[dict[str, Any]]:
        """The execution's WebSocket messages, until ``execution_completed``."""
        url = self.base_url.replace("http", "ws", 1) + f"/ws/executions/{execution_id}"
        ws = await AioClient.connect(url, headers=self.headers)
        try:
            while True:
                message = json.loads(await ws.receive())
                yield message
                if message["type"] == "execution_completed":
                    break
        except ConnectionClosed:
            pass
        finally:
            with contextlib.suppress(ConnectionClosed):
                await ws.close()

    async def close(self) -> None:
        await self.http.aclose()


async def example() -> None:
    # The document's example, with the server and token from the environment.
    client = SynthesisClient(
        base_url=os.environ.get("HARMONIA_URL", "http://127.0.0.1:8002"),
        token=os.environ.get("HARMONIA_TOKEN"),
    )
    try:
        # Create and execute a simple plan
        execution_id = await client.execute_plan(
            {
                "name": "Example Plan",
                "description": "An example execution plan",
                "steps": [
                    {
                        "id": "step1",
                        "type": "command",
                        "parameters": {"command": "echo Hello, World!"},
                    }
                ],
            }
        )

        # Wait for completion
        result = await client.wait_for_execution(execution_id)

        print(f"Execution completed with status: {result['status']}")

        # Get step outputs
        steps = await client.get_execution_steps(execution_id)
        for step in steps["steps"]:
            print(f"Step {step['id']} output: {step['output']}")
    finally:
        await client.close()

    outputs = {step["id"]: step["output"] for step in steps["steps"]}
    if result["status"] != "completed" or (outputs.get("step1") or "").strip() != "Hello, World!":
        sys.exit(f"unexpected result: {result}")
    print("done")


if __name__ == "__main__":
    try:
        asyncio.run(example())
    except (SynthesisError, TimeoutError, httpx.HTTPError) as exc:
        sys.exit(str(exc))
