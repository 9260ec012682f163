"""The shapes ``/api/v1`` answers with, as ``TypedDict``s (``total=False``: the server may add
fields, and a client should not break when it does). Only the fields a caller commonly reads are
listed; every answer is the server's JSON object as it came."""

from __future__ import annotations

from typing import Any, TypedDict


class Workflow(TypedDict, total=False):
    id: str
    workflow_id: str
    name: str
    description: str | None
    version: int
    status: str
    workflow_data: dict[str, Any]
    dialect: str
    template_id: str | None
    parameter_values: dict[str, Any] | None
    created_at: str
    updated_at: str


class Run(TypedDict, total=False):
    id: str
    run_id: str
    workflow_id: str
    workflow_name: str
    workflow_definition_id: str
    status: str
    input_data: dict[str, Any]
    output_data: Any
    error_message: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    cancelled_at: str | None
    original_run_id: str | None
    checkpoint_id: str | None


class Step(TypedDict, total=False):
    id: str
    run_id: str
    step_id: str
    step_name: str
    action: str
    status: str
    attempt: int
    input_data: Any
    output_data: Any
    error_message: str | None
    started_at: str | None
    completed_at: str | None


class Event(TypedDict, total=False):
    event_id: int
    id: int
    type: str
    event_type: str
    run_id: str | None
    execution_id: str | None
    step_id: str | None
    task_id: str | None
    timestamp: str
    message: str
    data: dict[str, Any]


class Checkpoint(TypedDict, total=False):
    id: str
    checkpoint_id: str
    run_id: str
    name: str | None
    trigger: str
    run_status: str
    created_at: str


class Template(TypedDict, total=False):
    id: str
    template_id: str
    name: str
    description: str | None
    parameters: dict[str, Any]
    created_at: str


class Page(TypedDict):
    """One page of a list: ``items`` and where it sits (``page`` is 1-indexed)."""

    items: list[Any]
    total: int
    page: int
    page_size: int
    total_pages: int
