"""Seed 001's request and response shapes, rendered from what the services return."""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields, post_load, pre_dump, validate

from app.models import TaskStatus
from app.models.status import TASK_DONE
from app.profiles import base
from app.profiles.base import compact
from app.profiles.seed001.vocabulary import DEFAULT_LIMIT, MAX_LIMIT, WORDS
from app.schemas.common import SortOrder, UtcDateTime, json_object
from app.schemas.templates import InstantiateSchema, TemplateCreateSchema
from app.schemas.workflows import WorkflowCreateSchema, WorkflowUpdateSchema
from app.services import runs, templates, workflows
from app.services.pagination import Page, Window

DONE = {status.value for status in TASK_DONE}
ACTIVE = {TaskStatus.RUNNING.value, TaskStatus.RETRYING.value}


def RunStatusWord(**kwargs):  # noqa: N802 - reads as a field type
    return base.RunStatusWord(WORDS, **kwargs)


def TaskStatusWord(**kwargs):  # noqa: N802 - reads as a field type
    return base.TaskStatusWord(WORDS, **kwargs)


# -- lists ----------------------------------------------------------------------------------------


class PageLimitArgs(Schema):
    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=2**31),
        metadata={"description": "Page number for pagination (default: 1)"},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Number of items per page (default: {DEFAULT_LIMIT})"},
    )

    @post_load
    def to_window(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        page, limit = data.pop("page"), data.pop("limit")
        return {**data, "window": Window(offset=(page - 1) * limit, limit=limit)}


def sorted_by(sortable: set[str]) -> type[Schema]:
    """``page``/``limit`` plus ``sort_by`` (one of ``sortable``) and ``sort_order``."""
    return PageLimitArgs.from_dict(
        {
            "sort_by": fields.String(
                load_default="created_at",
                validate=validate.OneOf(sorted(sortable)),
                metadata={"description": 'Field to sort by (default: "created_at")'},
            ),
            "sort_order": SortOrder(),
        },
        name="SortedPageLimitArgs",
    )


def listing(item: type[Schema]) -> type[Schema]:
    """``{items, total, page, limit}`` from a service's ``Page``."""

    class Listing(Schema):
        items = fields.List(fields.Nested(item), required=True)
        total = fields.Integer(required=True)
        page = fields.Integer(required=True)
        limit = fields.Integer(required=True)

        @pre_dump
        def from_page(self, page: Page, **_kwargs) -> dict[str, Any]:
            return {
                "items": page.items,
                "total": page.total,
                "page": page.offset // page.limit + 1,
                "limit": page.limit,
            }

    Listing.__name__ = item.__name__.removesuffix("Schema") + "Page"
    return Listing


# -- workflows ------------------------------------------------------------------------------------


def _version():
    return fields.String(
        attribute="version_label",
        validate=validate.Length(min=1, max=64),
        metadata={"description": 'The version as you name it (e.g. "1.0.0")'},
    )


class WorkflowBodySchema(WorkflowCreateSchema):
    version = _version()


class WorkflowUpdateBodySchema(WorkflowUpdateSchema):
    version = _version()


class WorkflowListArgs(sorted_by(workflows.SORTABLE)):
    pass


class WorkflowSummarySchema(Schema):
    workflow_id = fields.String(attribute="lineage_id")
    name = fields.String()
    description = fields.String(allow_none=True)
    version = fields.String(attribute="version_label", allow_none=True)
    created_at = base.FirstCreated()
    updated_at = UtcDateTime()


class WorkflowSchema(WorkflowSummarySchema):
    tasks = fields.Function(lambda workflow: workflow.definition.get("tasks"), allow_none=True)
    # A workflow written in another dialect may call its input schema ``input``.
    input_schema = fields.Function(
        lambda workflow: workflow.definition.get("input_schema", workflow.definition.get("input")),
        allow_none=True,
    )


class SuccessSchema(Schema):
    success = fields.Boolean()
    message = fields.String()


# -- executions -----------------------------------------------------------------------------------


class Seconds(fields.Number):
    """A number of seconds, kept as sent: ``3600`` is echoed as ``3600``, not ``3600.0``."""

    def _format_num(self, value):
        return value if isinstance(value, int) else float(value)


class RetryPolicySchema(Schema):
    class Meta:
        unknown = INCLUDE

    max_retries = fields.Integer(validate=validate.Range(min=0, max=100))
    retry_interval = Seconds(validate=validate.Range(min=0))


class ExecutionOptionsSchema(Schema):
    """Recorded on the execution as given, and echoed back."""

    class Meta:
        unknown = INCLUDE

    async_ = fields.Boolean(data_key="async", attribute="async")
    timeout = Seconds(validate=validate.Range(min=0, min_inclusive=False))
    retry_policy = fields.Nested(RetryPolicySchema)


class ExecuteSchema(Schema):
    workflow_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    input = fields.Raw(load_default=dict, validate=json_object)
    execution_options = fields.Nested(ExecutionOptionsSchema, load_default=dict)


def _options(run) -> dict[str, Any]:
    return (run.options or {}).get("execution_options") or {}


class ExecutionSummarySchema(Schema):
    execution_id = fields.String(attribute="id")
    workflow_id = fields.String()
    status = RunStatusWord()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)


class ExecutionAcceptedSchema(Schema):
    execution_id = fields.String(attribute="id")
    workflow_id = fields.String()
    status = RunStatusWord()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    input = fields.Raw(attribute="input_data")
    execution_options = fields.Function(_options)


class ExecutionListArgs(sorted_by(runs.SORTABLE)):
    workflow_id = fields.String(
        validate=validate.Length(max=255), metadata={"description": "Filter by workflow ID"}
    )
    status = fields.String(
        validate=validate.OneOf(WORDS.run_words), metadata={"description": "Filter by status"}
    )

    @post_load
    def to_statuses(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        if "status" in data:
            data["status"] = WORDS.run_statuses_for(data["status"])
        return data


class TaskStateSchema(Schema):
    status = TaskStatusWord()
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    output = fields.Raw(attribute="output_data", allow_none=True)
    error = fields.String(attribute="error_message", allow_none=True)


class _RunDetailSchema(Schema):
    """From a ``RunDetail``: the run and its tasks, in definition order."""

    execution_id = fields.String(attribute="run.id")
    workflow_id = fields.String(attribute="run.workflow_id")
    status = RunStatusWord(attribute="run.status")
    created_at = UtcDateTime(attribute="run.created_at")
    updated_at = UtcDateTime(attribute="run.updated_at")
    started_at = UtcDateTime(attribute="run.started_at", allow_none=True)
    task_status = fields.Method("_task_status")

    def _task_status(self, detail) -> dict[str, Any]:
        schema = TaskStateSchema()
        return {step.task_id: compact(schema.dump(step)) for step in detail.steps}


class ExecutionSchema(_RunDetailSchema):
    progress = fields.Method("_progress")
    completed_at = UtcDateTime(attribute="run.completed_at", allow_none=True)
    input = fields.Raw(attribute="run.input_data")
    execution_options = fields.Function(lambda detail: _options(detail.run))
    output = fields.Raw(attribute="run.output_data", allow_none=True)
    error = fields.String(attribute="run.error_message", allow_none=True)

    def _progress(self, detail) -> dict[str, Any]:
        current = next((step.task_id for step in detail.steps if step.status in ACTIVE), None)
        return {
            "completed_tasks": sum(step.status in DONE for step in detail.steps),
            "total_tasks": len(detail.steps),
            "current_task": current,
        }


def controlled(message: str, name: str) -> type[Schema]:
    """The answer to a control request (cancel, pause, resume) on a run."""
    return Schema.from_dict(
        {
            "success": fields.Constant(True),
            "message": fields.Constant(message),
            "execution_id": fields.String(attribute="id"),
            "status": RunStatusWord(),
        },
        name=name,
    )


CancelledSchema = controlled("Execution cancellation requested", "CancelledSchema")
PausedSchema = controlled("Execution pause requested", "PausedSchema")
ResumedSchema = controlled("Execution resume requested", "ResumedSchema")


# -- templates ------------------------------------------------------------------------------------


class TemplateBodySchema(TemplateCreateSchema):
    """``workflow_id`` names the source workflow; its current version is copied."""


class TemplateSchema(Schema):
    template_id = fields.String(attribute="id")
    name = fields.String()
    description = fields.String(allow_none=True)
    workflow_id = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    parameters = fields.Raw()


class TemplateListArgs(sorted_by(templates.SORTABLE)):
    pass


class InstantiateBodySchema(InstantiateSchema):
    pass


class InstantiatedSchema(WorkflowSchema):
    template_id = fields.String()


# -- state: checkpoints and restore ---------------------------------------------------------------


class CheckpointBodySchema(Schema):
    execution_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    name = fields.String(validate=validate.Length(max=255), allow_none=True)
    description = fields.String(validate=validate.Length(max=2000), allow_none=True)


class CheckpointSummarySchema(Schema):
    checkpoint_id = fields.String(attribute="id")
    execution_id = fields.String(attribute="run_id")
    workflow_id = fields.String()
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    created_at = UtcDateTime()


class CheckpointSchema(CheckpointSummarySchema):
    task_states = fields.Function(
        lambda checkpoint: {
            task_id: compact(
                {
                    "status": WORDS.task_status(task["status"]),
                    "output": task.get("output"),
                    "error": task.get("error_message"),
                }
            )
            for task_id, task in (checkpoint.tasks or {}).items()
        }
    )


class CheckpointListArgs(PageLimitArgs):
    execution_id = fields.String(
        validate=validate.Length(max=255), metadata={"description": "Filter by execution ID"}
    )


class RestoreBodySchema(Schema):
    checkpoint_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    execution_options = fields.Nested(ExecutionOptionsSchema, load_default=dict)


class RestoredSchema(_RunDetailSchema):
    checkpoint_id = fields.String(attribute="run.checkpoint_id")
    execution_options = fields.Function(lambda detail: _options(detail.run))
