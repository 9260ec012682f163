"""Seed 004's Python client ("Synthesis API Reference", section "API Clients").

    client = SynthesisClient(base_url="http://localhost:8009")
    execution_id = await client.execute_plan({"name": ..., "steps": [...]})
    result = await client.wait_for_execution(execution_id)
    steps = await client.get_execution_steps(execution_id)

It speaks that document's paths: ``POST /api/executions`` with a ``plan`` creates an execution in
status ``created``, and ``POST /api/executions/{id}/start`` runs it, so ``execute_plan`` does both.
The API key defaults to ``HARMONIA_API_KEY``. Errors are ``harmonia_client``'s typed errors,
carrying seed 004's ``{"error": {"code", "message", "details"}}`` body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from harmonia_client import AsyncClient

FINAL = frozenset({"completed", "failed", "cancelled"})


def _path(execution_id: str, rest: str = "") -> str:
    return f"/api/executions/{quote(str(execution_id), safe='')}{rest}"


class SynthesisClient:
    def __init__(self, base_url: str = "http://localhost:8009", api_key: str | None = None):
        self._api = AsyncClient(base_url=base_url, api_key=api_key)

    @property
    def base_url(self) -> str:
        return self._api.config.base_url

    async def execute_plan(self, plan: Mapping[str, Any]) -> str:
        """Create an execution of ``plan``, start it, and return its id."""
        created = await self._api.request("POST", "/api/executions", json={"plan": dict(plan)})
        execution_id = created["execution_id"]
        if created.get("status") == "created":
            await self._api.request("POST", _path(execution_id, "/start"))
        return execution_id

    async def get_execution(self, execution_id: str) -> dict[str, Any]:
        return await self._api.request("GET", _path(execution_id))

    async def wait_for_execution(
        self, execution_id: str, timeout: float = 300.0, poll_interval: float = 0.5
    ) -> dict[str, Any]:
        """The execution once it is completed, failed or cancelled; ``TimeoutError`` after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (execution := await self.get_execution(execution_id))["status"] not in FINAL:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"execution {execution_id} is still {execution['status']}")
            await asyncio.sleep(poll_interval)
        return execution

    async def get_execution_steps(self, execution_id: str) -> dict[str, Any]:
        """``{"execution_id", "steps": [{"id", "status", "output", …}]}``."""
        return await self._api.request("GET", _path(execution_id, "/steps"))

    async def close(self) -> None:
        await self._api.close()
