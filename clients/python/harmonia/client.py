"""Seed 000's Python client ("Harmonia API Reference", section "Client Library").

    client = await get_harmonia_client()  # HARMONIA_URL, HARMONIA_API_KEY
    workflow = await client.create_workflow(name=..., tasks=[...])
    execution = await client.execute_workflow(workflow_id=workflow["workflow_id"])
    status = await client.get_workflow_status(execution_id=execution["execution_id"])

Each method calls that document's own REST paths (``/api/workflows``, ``/api/executions``,
``/api/templates``, ``/api/checkpoints``) and returns the JSON object the document shows. It rides
on ``harmonia_client.AsyncClient``, so it has the same retries, timeouts and typed errors
(each carrying seed 000's ``{"error": {"type", "message", …}}`` body).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from harmonia_client import AsyncClient


def _id(value: str) -> str:
    return quote(str(value), safe="")


class HarmoniaClient:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
    ):
        self._api = AsyncClient(base_url, api_key, timeout, retries)

    @property
    def base_url(self) -> str:
        return self._api.config.base_url

    async def create_workflow(
        self,
        name: str,
        tasks: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        description: str | None = None,
        input_schema: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a new workflow definition: ``{"workflow_id", "name", "created_at"}``."""
        body: dict[str, Any] = {"name": name, "tasks": tasks}
        optional = {"description": description, "input": input_schema, "output": output_schema}
        body.update({key: value for key, value in optional.items() if value is not None})
        return await self._api.request("POST", "/api/workflows", json=body)

    async def execute_workflow(
        self, workflow_id: str, input_data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Execute a workflow: ``{"execution_id", "workflow_id", "status", "created_at"}``."""
        body = {"workflow_id": workflow_id, "input": dict(input_data or {})}
        return await self._api.request("POST", "/api/executions", json=body)

    async def get_workflow_status(self, execution_id: str) -> dict[str, Any]:
        """The execution: ``status``, ``task_statuses``, ``input``, ``output``, ``error``…"""
        return await self._api.request("GET", f"/api/executions/{_id(execution_id)}")

    async def cancel_workflow(self, execution_id: str) -> dict[str, Any]:
        """Cancel a workflow execution."""
        return await self._api.request("POST", f"/api/executions/{_id(execution_id)}/cancel")

    async def create_template(
        self, name: str, workflow_definition_id: str, parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create a workflow template: ``{"template_id", "name", "created_at"}``."""
        body = {
            "name": name,
            "workflow_definition_id": workflow_definition_id,
            "parameters": dict(parameters),
        }
        return await self._api.request("POST", "/api/templates", json=body)

    async def instantiate_template(
        self, template_id: str, parameter_values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A workflow from a template: ``{"workflow_id", "template_id", "name", …}``."""
        path = f"/api/templates/{_id(template_id)}/instantiate"
        return await self._api.request(
            "POST", path, json={"parameter_values": dict(parameter_values)}
        )

    async def restore_from_checkpoint(self, checkpoint_id: str) -> dict[str, Any]:
        """A new execution from a checkpoint: ``{"execution_id", "original_execution_id",
        "checkpoint_id", "status"}``."""
        path = f"/api/checkpoints/{_id(checkpoint_id)}/restore"
        return await self._api.request("POST", path)

    async def close(self) -> None:
        await self._api.close()


async def get_harmonia_client(
    base_url: str | None = None, api_key: str | None = None
) -> HarmoniaClient:
    """A client for ``base_url`` (default ``HARMONIA_URL``, else ``http://127.0.0.1:8002``) with
    ``api_key`` (default ``HARMONIA_API_KEY``)."""
    return HarmoniaClient(base_url=base_url, api_key=api_key)
