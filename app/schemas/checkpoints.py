"""Checkpoint schemas: create, read (summary in lists, full snapshot by id), restore."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import PageArgs, PageSchema, UtcDateTime

TRIGGERS = ["manual", "every_n_tasks", "on_pause"]


class CheckpointCreateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=255), allow_none=True)
    description = fields.String(validate=validate.Length(max=2000), allow_none=True)


class CheckpointSummarySchema(Schema):
    id = fields.String()
    checkpoint_id = fields.Function(lambda cp: cp.id, metadata={"type": "string"})
    run_id = fields.String()
    execution_id = fields.Function(lambda cp: cp.run_id, metadata={"type": "string"})
    workflow_id = fields.String()
    workflow_definition_id = fields.String(
        metadata={"description": "The exact workflow version a restore runs"}
    )
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    trigger = fields.String(metadata={"description": "manual, every_n_tasks or on_pause"})
    run_status = fields.String(metadata={"description": "The run's status when it was taken"})
    generation = fields.Integer()
    completed_tasks = fields.Function(
        lambda cp: [tid for tid, t in (cp.tasks or {}).items() if t["status"] == "COMPLETED"],
        metadata={"type": "array", "items": {"type": "string"}},
    )
    created_at = UtcDateTime()


class TaskSnapshotSchema(Schema):
    status = fields.String()
    attempt = fields.Integer()
    input = fields.Raw(allow_none=True)
    output = fields.Raw(allow_none=True)
    error_message = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)


class CheckpointSchema(CheckpointSummarySchema):
    task_statuses = fields.Function(
        lambda cp: {tid: t["status"] for tid, t in (cp.tasks or {}).items()},
        metadata={"type": "object", "additionalProperties": {"type": "string"}},
    )
    task_states = fields.Dict(
        attribute="tasks",
        keys=fields.String(),
        values=fields.Nested(TaskSnapshotSchema),
        metadata={"description": "Every task's status, attempts, input and output"},
    )
    input_data = fields.Raw()
    variables = fields.Raw()
    state = fields.Raw(metadata={"description": "The run's custom state"})
    input_overrides = fields.Raw(metadata={"description": "Step inputs of a rerun-from-step"})


class CheckpointListArgs(PageArgs):
    run_id = fields.String(metadata={"description": "Only this run's checkpoints"})


class CheckpointPageSchema(PageSchema):
    items = fields.List(fields.Nested(CheckpointSummarySchema))


class RestoreSchema(Schema):
    triggered_by = fields.String(load_default="system", validate=validate.Length(min=1, max=255))
