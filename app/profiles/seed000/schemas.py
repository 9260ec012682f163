"""Seed 000's request and response shapes, rendered from what the services return."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from app.models.status import TASK_DONE
from app.profiles import base
from app.profiles.base import compact
from app.profiles.seed000.vocabulary import DEFAULT_LIMIT, MAX_LIMIT, WORDS
from app.schemas.common import UtcDateTime, json_object
from app.schemas.templates import InstantiateSchema, TemplateCreateSchema
from app.schemas.workflows import WorkflowCreateSchema
from app.services.workflows import Match

DONE = {status.value for status in TASK_DONE}


def _definition(key: str):
    return fields.Function(lambda workflow: workflow.definition.get(key), allow_none=True)


def RunStatusWord(**kwargs):  # noqa: N802 - reads as a field type
    return base.RunStatusWord(WORDS, **kwargs)


def TaskStatusWord(**kwargs):  # noqa: N802 - reads as a field type
    return base.TaskStatusWord(WORDS, **kwargs)


# -- lists ----------------------------------------------------------------------------------------


LimitOffsetArgs = base.limit_offset_args(DEFAULT_LIMIT, MAX_LIMIT)


def listing(key: str, item: type[Schema]) -> type[Schema]:
    """``{<key>: [...], total, limit, offset}`` from a service's ``Page``."""
    return base.limit_offset_listing(key, item)


# -- workflows ------------------------------------------------------------------------------------


class WorkflowBodySchema(WorkflowCreateSchema):
    version = fields.String(
        attribute="version_label",
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The version as you name it (e.g. 1.0)"},
    )


class WorkflowListArgs(LimitOffsetArgs):
    filter = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "field:operator:value, e.g. name:contains:test"},
    )

    @post_load
    def to_matches(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        text = data.pop("filter", None)
        return {**data, "matches": (Match.parse(text),) if text else ()}


class WorkflowCreatedSchema(Schema):
    workflow_id = fields.String(attribute="lineage_id")
    name = fields.String()
    created_at = UtcDateTime()


class WorkflowUpdatedSchema(Schema):
    workflow_id = fields.String(attribute="lineage_id")
    name = fields.String()
    updated_at = UtcDateTime()


class WorkflowSummarySchema(Schema):
    id = fields.String(attribute="lineage_id")
    name = fields.String()
    description = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class WorkflowSchema(WorkflowSummarySchema):
    version = fields.String(attribute="version_label", allow_none=True)
    tasks = _definition("tasks")
    input = _definition("input")
    output = _definition("output")
    metadata = _definition("metadata")


class SuccessSchema(Schema):
    success = fields.Boolean()
    message = fields.String()


# -- executions -----------------------------------------------------------------------------------


class ExecuteSchema(Schema):
    workflow_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    input = fields.Raw(load_default=dict, validate=json_object)
    metadata = fields.Dict(load_default=dict)


class ExecutionAcceptedSchema(Schema):
    execution_id = fields.String(attribute="id")
    workflow_id = fields.String()
    status = RunStatusWord()
    created_at = UtcDateTime()


class ExecutionSummarySchema(Schema):
    """An item of ``GET /api/executions``: seed 000's fields, and seed 004's (``name``,
    ``created_at``, ``completed_at``, ``tags``), whose clients list on the same path."""

    execution_id = fields.String(attribute="id")
    workflow_id = fields.String()
    workflow_name = fields.String()
    status = RunStatusWord()
    start_time = UtcDateTime(attribute="started_at", allow_none=True)
    end_time = UtcDateTime(attribute="completed_at", allow_none=True)
    name = fields.String(attribute="workflow_name", dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    completed_at = UtcDateTime(allow_none=True, dump_only=True)
    tags = fields.Function(lambda run: run.tags or [])


class TaskStatusSchema(Schema):
    status = TaskStatusWord()
    start_time = UtcDateTime(attribute="started_at", allow_none=True)
    end_time = UtcDateTime(attribute="completed_at", allow_none=True)
    output = fields.Raw(attribute="output_data", allow_none=True)
    error = fields.String(attribute="error_message", allow_none=True)


class TaskExecutionSchema(TaskStatusSchema):
    task_id = fields.String()
    input = fields.Raw(attribute="input_data", allow_none=True)
    retries = fields.Function(lambda step: max((step.attempt or 0) - 1, 0))


class ExecutionSchema(Schema):
    """From a ``RunDetail``: the run and its tasks."""

    id = fields.Function(lambda detail: detail.run.id, metadata={"type": "string"})
    execution_id = fields.String(attribute="run.id")
    workflow_id = fields.String(attribute="run.workflow_id")
    workflow_name = fields.String(attribute="run.workflow_name")
    status = RunStatusWord(attribute="run.status")
    start_time = UtcDateTime(attribute="run.started_at", allow_none=True)
    end_time = UtcDateTime(attribute="run.completed_at", allow_none=True)
    created_at = UtcDateTime(attribute="run.created_at")
    task_statuses = fields.Method("_task_statuses")
    task_executions = fields.Method("_task_executions")
    input = fields.Raw(attribute="run.input_data")
    output = fields.Raw(attribute="run.output_data", allow_none=True)
    error = fields.String(attribute="run.error_message", allow_none=True)
    metadata = fields.Function(lambda detail: (detail.run.options or {}).get("metadata") or {})

    def _task_statuses(self, detail) -> dict[str, Any]:
        schema = TaskStatusSchema()
        return {step.task_id: compact(schema.dump(step)) for step in detail.steps}

    def _task_executions(self, detail) -> dict[str, Any]:
        schema = TaskExecutionSchema()
        return {step.task_id: schema.dump(step) for step in detail.steps}


class ExecutionListArgs(LimitOffsetArgs):
    workflow_id = fields.String(validate=validate.Length(max=255))
    status = fields.String(validate=validate.OneOf(WORDS.run_words))

    @post_load
    def to_statuses(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        if "status" in data:
            data["status"] = WORDS.run_statuses_for(data["status"])
        return data


class ReasonSchema(Schema):
    reason = fields.String(validate=validate.Length(max=2000), allow_none=True)


class ControlledSchema(Schema):
    success = fields.Constant(True)
    execution_id = fields.String(attribute="id")
    status = RunStatusWord()


# -- templates ------------------------------------------------------------------------------------


class TemplateBodySchema(TemplateCreateSchema):
    """``workflow_definition_id`` names the source workflow (the canonical ``workflow_id``)."""


class TemplateCreatedSchema(Schema):
    template_id = fields.String(attribute="id")
    name = fields.String()
    created_at = UtcDateTime()


class TemplateSummarySchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class TemplateSchema(TemplateSummarySchema):
    workflow_definition_id = fields.String(attribute="workflow_id", allow_none=True)
    parameters = fields.Raw()
    metadata = fields.Raw(attribute="meta")


class InstantiateBodySchema(InstantiateSchema):
    pass


class InstantiatedSchema(Schema):
    workflow_id = fields.String(attribute="lineage_id")
    template_id = fields.String()
    name = fields.String()
    created_at = UtcDateTime()


# -- checkpoints and state ------------------------------------------------------------------------


class CheckpointBodySchema(Schema):
    execution_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    name = fields.String(validate=validate.Length(max=255), allow_none=True)
    description = fields.String(validate=validate.Length(max=2000), allow_none=True)


def _completed(checkpoint) -> list[str]:
    return [tid for tid, task in (checkpoint.tasks or {}).items() if task["status"] in DONE]


class CheckpointSummarySchema(Schema):
    id = fields.String()
    execution_id = fields.String(attribute="run_id")
    created_at = UtcDateTime()
    workflow_status = RunStatusWord(attribute="run_status")


class CheckpointCreatedSchema(Schema):
    checkpoint_id = fields.String(attribute="id")
    execution_id = fields.String(attribute="run_id")
    created_at = UtcDateTime()
    workflow_status = RunStatusWord(attribute="run_status")
    completed_tasks = fields.Function(_completed)


class CheckpointSchema(CheckpointSummarySchema):
    task_statuses = fields.Function(
        lambda cp: {tid: WORDS.task_status(t["status"]) for tid, t in (cp.tasks or {}).items()}
    )
    completed_tasks = fields.Function(_completed)
    state_data = fields.Function(
        lambda cp: {
            "input": cp.input_data or {},
            "output": None,
            "state": cp.state or {},
            "task_results": {
                tid: task.get("output")
                for tid, task in (cp.tasks or {}).items()
                if task["status"] in DONE
            },
        }
    )


class CheckpointListArgs(LimitOffsetArgs):
    execution_id = fields.String(validate=validate.Length(max=255))


class RestoredSchema(Schema):
    execution_id = fields.String(attribute="id")
    original_execution_id = fields.String(attribute="original_run_id")
    checkpoint_id = fields.String()
    status = RunStatusWord()


class SaveStateSchema(Schema):
    state = fields.Dict(required=True)


class StateSavedSchema(Schema):
    success = fields.Constant(True)
    execution_id = fields.String()
    timestamp = UtcDateTime(attribute="last_updated")


class StateSchema(Schema):
    state = fields.Dict()
    last_updated = UtcDateTime(allow_none=True)
