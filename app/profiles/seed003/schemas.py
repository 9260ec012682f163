"""Seed 003's request and response shapes: camelCase, list-shaped tasks, bare JSON arrays."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, pre_dump, validate

from app.models import TaskStatus
from app.models.base import as_utc
from app.profiles import base
from app.profiles.seed003.vocabulary import DEFAULT_LIMIT, MAX_LIMIT, WORDS
from app.schemas.common import UtcDateTime
from app.schemas.webhooks import Events, Url

NAME = validate.Length(min=1, max=255)
TEXT = validate.Length(max=10_000)
DONE = {TaskStatus.COMPLETED.value}


def RunStatusWord(**kwargs):  # noqa: N802 - reads as a field type
    return base.RunStatusWord(WORDS, **kwargs)


def TaskStatusWord(**kwargs):  # noqa: N802 - reads as a field type
    return base.TaskStatusWord(WORDS, **kwargs)


LimitOffsetArgs = base.limit_offset_args(DEFAULT_LIMIT, MAX_LIMIT)


# -- workflow definitions -------------------------------------------------------------------------


class TaskSchema(Schema):
    """A task as the document writes it. ``id`` defaults to ``task-<n>``; a task that names no
    ``action`` (or ``component`` + ``action``, ``agent_name``) runs ``builtin.noop``; ``input``
    is what the action gets."""

    class Meta:
        unknown = INCLUDE

    id = fields.String(validate=NAME)
    name = fields.String(required=True, validate=NAME)
    description = fields.String(allow_none=True, validate=TEXT)
    resourceRequirements = fields.Dict(allow_none=True)  # noqa: N815 - the document's name
    dependencies = fields.List(fields.String(validate=NAME), validate=validate.Length(max=1000))
    timeout = fields.Float(allow_none=True, validate=validate.Range(min=0, min_inclusive=False))
    retryPolicy = fields.Raw(allow_none=True)  # noqa: N815
    action = fields.String(validate=NAME, metadata={"description": "e.g. builtin.echo"})
    input = fields.Raw()


class SyncPointSchema(Schema):
    id = fields.String(validate=NAME)
    name = fields.String(required=True, validate=NAME)
    description = fields.String(allow_none=True, validate=TEXT)
    requiredTasks = fields.List(  # noqa: N815
        fields.String(validate=NAME), required=True, validate=validate.Length(min=1, max=1000)
    )
    timeout = fields.Float(allow_none=True, validate=validate.Range(min=0, min_inclusive=False))


class WorkflowBodySchema(Schema):
    name = fields.String(required=True, validate=NAME)
    description = fields.String(allow_none=True, validate=TEXT)
    tasks = fields.List(
        fields.Nested(TaskSchema), required=True, validate=validate.Length(min=1, max=10_000)
    )
    synchronizationPoints = fields.List(  # noqa: N815
        fields.Nested(SyncPointSchema), load_default=list, validate=validate.Length(max=1000)
    )

    @post_load
    def as_definition(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        """Written as sent, ``None`` values left out (the definition keeps what the user said)."""
        data["tasks"] = [{k: v for k, v in t.items() if v is not None} for t in data["tasks"]]
        data["synchronizationPoints"] = [
            {k: v for k, v in p.items() if v is not None} for p in data["synchronizationPoints"]
        ]
        return data


def tasks_of(workflow) -> list[dict[str, Any]]:
    """The workflow's tasks in the document's shape (every documented key, ``null`` if unset)."""
    written = workflow.definition.get("tasks")
    if not isinstance(written, list):  # another dialect: its tasks by id, in order
        written = [{"id": tid, **(spec or {})} for tid, spec in (written or {}).items()]
    return [
        {
            "id": str(task.get("id") or f"task-{index + 1}"),
            "name": task.get("name") or task.get("id") or f"task-{index + 1}",
            "description": task.get("description"),
            "resourceRequirements": task.get("resourceRequirements"),
            "dependencies": list(task.get("dependencies", task.get("depends_on")) or []),
            "timeout": task.get("timeout"),
            "retryPolicy": task.get("retryPolicy", task.get("retry")),
            **({"action": task["action"]} if isinstance(task.get("action"), str) else {}),
        }
        for index, task in enumerate(written)
        if isinstance(task, dict)
    ]


def sync_points_of(workflow) -> list[dict[str, Any]]:
    return [
        {
            "id": str(point.get("id") or f"sync-{index + 1}"),
            "name": point.get("name"),
            "description": point.get("description"),
            "requiredTasks": list(point.get("requiredTasks") or []),
            "timeout": point.get("timeout"),
        }
        for index, point in enumerate(workflow.definition.get("synchronizationPoints") or [])
        if isinstance(point, dict)
    ]


class TaskOutSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    resourceRequirements = fields.Raw(allow_none=True)  # noqa: N815
    dependencies = fields.List(fields.String())
    timeout = fields.Float(allow_none=True)
    retryPolicy = fields.Raw(allow_none=True)  # noqa: N815
    action = fields.String()


class SyncPointOutSchema(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    requiredTasks = fields.List(fields.String())  # noqa: N815
    timeout = fields.Float(allow_none=True)


class WorkflowSchema(Schema):
    """From a workflow version; ``id`` is the workflow's (every version's) id."""

    id = fields.String(attribute="lineage_id")
    name = fields.String()
    description = fields.String(allow_none=True)
    version = fields.String(attribute="version_label")
    # When the workflow was first created; an update that makes a new version is its updatedAt.
    createdAt = base.FirstCreated()  # noqa: N815
    updatedAt = UtcDateTime(attribute="updated_at")  # noqa: N815
    tasks = fields.Function(tasks_of, metadata={"type": "array", "items": {"type": "object"}})
    synchronizationPoints = fields.Function(  # noqa: N815
        sync_points_of, metadata={"type": "array", "items": {"type": "object"}}
    )


# -- executions -----------------------------------------------------------------------------------


def _context(value):
    if isinstance(value, str):  # the GraphQL example sends it as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError("Not valid JSON.") from None
    if not isinstance(value, dict):
        raise ValidationError("Must be a JSON object (or a JSON string of one).")
    return value


class ExecutionBodySchema(Schema):
    workflowDefinitionId = fields.String(required=True, validate=NAME)  # noqa: N815
    initialContext = fields.Raw(load_default=dict)  # noqa: N815

    @post_load
    def parse_context(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        try:
            data["initialContext"] = _context(data["initialContext"])
        except ValidationError as exc:
            raise ValidationError(exc.messages, "initialContext") from None
        return data


class TaskExecutionSchema(Schema):
    """From a task row."""

    id = fields.String()
    taskDefinitionId = fields.String(attribute="task_id")  # noqa: N815
    status = TaskStatusWord()
    startTime = UtcDateTime(attribute="started_at", allow_none=True)  # noqa: N815
    endTime = UtcDateTime(attribute="completed_at", allow_none=True)  # noqa: N815
    attempts = fields.Integer(attribute="attempt")
    error = fields.String(attribute="error_message", allow_none=True)
    resources = fields.Raw(allow_none=True, dump_default=None)


def _result(output: Any) -> Any:
    """What a task wrote into the context: its ``result``, its output, or ``"success"``."""
    if isinstance(output, dict):
        if "result" in output:
            return output["result"]
        return output or "success"
    return "success" if output is None else output


def context_of(execution) -> dict[str, Any]:
    """The execution's context: the initial context and each completed task's result
    (``<task>-result``), as a JSON string; its ``version`` goes up with each result written."""
    skip = execution.sync_points
    done = [
        s
        for s in execution.steps
        if s.status in DONE and s.task_id not in skip and s.completed_at is not None
    ]
    done.sort(key=lambda s: as_utc(s.completed_at))
    data = dict(execution.run.input_data or {})
    for step in done:
        data[f"{step.task_id}-result"] = _result(step.output_data)
    updated = as_utc(done[-1].completed_at) if done else as_utc(execution.run.created_at)
    return {
        "id": execution.run.id,
        "data": json.dumps(data, separators=(",", ":"), default=str),
        "version": 1 + len(done),
        "createdAt": as_utc(execution.run.created_at),
        "updatedAt": updated,
    }


class ContextSchema(Schema):
    id = fields.String()
    data = fields.String()
    version = fields.Integer()
    createdAt = UtcDateTime()  # noqa: N815
    updatedAt = UtcDateTime()  # noqa: N815


def start_time(run):
    """When the run started; a run sent to the workers reads ``RUNNING`` before a worker has
    picked it up, and then (as the document's answer to a start shows) started when accepted."""
    if run.started_at is None and WORDS.run_status(run.status) == "RUNNING":
        return run.created_at
    return run.started_at


class ExecutionSchema(Schema):
    """From an ``Execution`` (run, workflow version, task rows)."""

    id = fields.String(attribute="run.id")
    workflowDefinitionId = fields.String(attribute="workflow.lineage_id")  # noqa: N815
    status = RunStatusWord(attribute="run.status")
    startTime = UtcDateTime(attribute="run_start", allow_none=True)  # noqa: N815
    endTime = UtcDateTime(attribute="run.completed_at", allow_none=True)  # noqa: N815
    taskExecutions = fields.List(  # noqa: N815
        fields.Nested(TaskExecutionSchema), attribute="tasks"
    )
    context = fields.Nested(ContextSchema)

    @pre_dump
    def unfold(self, execution, **_kwargs) -> dict[str, Any]:
        """Sync points are milestones, not task executions; the context is computed."""
        skip = execution.sync_points
        return {
            "run": execution.run,
            "run_start": start_time(execution.run),
            "workflow": execution.workflow,
            "tasks": [s for s in execution.steps if s.task_id not in skip],
            "context": context_of(execution),
        }


class TaskListArgs(LimitOffsetArgs):
    status = fields.String(validate=validate.OneOf(WORDS.task_words))

    @post_load
    def to_statuses(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        if "status" in data:
            data["statuses"] = WORDS.task_statuses_for(data.pop("status"))
        return data


# -- progress -------------------------------------------------------------------------------------


class BlockerSchema(Schema):
    id = fields.String()
    taskExecutionId = fields.String(attribute="task_execution_id", allow_none=True)  # noqa: N815
    description = fields.String()
    createdAt = UtcDateTime(attribute="created_at")  # noqa: N815
    resolvedAt = UtcDateTime(attribute="resolved_at", allow_none=True)  # noqa: N815


class MilestoneSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    achieved = fields.Boolean()
    achievedAt = UtcDateTime(attribute="achieved_at", allow_none=True)  # noqa: N815


class ProgressSchema(Schema):
    """From a ``ProgressReport`` (``app/services/progress.py``)."""

    id = fields.String()
    workflowExecutionId = fields.String(attribute="run_id")  # noqa: N815
    completedTasks = fields.Integer(attribute="completed_tasks")  # noqa: N815
    totalTasks = fields.Integer(attribute="total_tasks")  # noqa: N815
    estimatedCompletion = UtcDateTime(  # noqa: N815
        attribute="estimated_completion", allow_none=True
    )
    blockers = fields.List(fields.Nested(BlockerSchema))
    milestones = fields.List(fields.Nested(MilestoneSchema))


# -- webhooks -------------------------------------------------------------------------------------


class WebhookBodySchema(Schema):
    url = Url(required=True)
    events = Events(load_default=["*"])
    secret = fields.String(allow_none=True, validate=validate.Length(min=1, max=256))
    active = fields.Boolean(load_default=True)


class WebhookUpdateSchema(Schema):
    url = Url()
    events = Events()
    secret = fields.String(allow_none=True, validate=validate.Length(min=1, max=256))
    active = fields.Boolean()


class WebhookSchema(Schema):
    """The document shows a webhook's secret whenever it shows the webhook."""

    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    secret = fields.String(allow_none=True)
    active = fields.Boolean()
    createdAt = UtcDateTime(attribute="created_at")  # noqa: N815


class WebhookTestSchema(Schema):
    url = Url(required=True)
    event = fields.String(validate=NAME)
    payload = fields.Dict()
    secret = fields.String(allow_none=True, validate=validate.Length(min=1, max=256))


class TestResultSchema(Schema):
    success = fields.Boolean()
    statusCode = fields.Integer(attribute="status_code", allow_none=True)  # noqa: N815
    message = fields.String()
