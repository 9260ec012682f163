"""Run schemas (seed 002 "Run Monitoring"), plus steps/{id} and logs in the same style."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models import RunStatus
from app.schemas.common import PageArgs, PageSchema, SortOrder, UtcDateTime, json_object
from app.services.runs import SORTABLE


class RunSchema(Schema):
    id = fields.String()
    run_id = fields.Function(lambda run: run.id, metadata={"type": "string"})
    workflow_id = fields.String()
    workflow_name = fields.String()
    workflow_definition_id = fields.String()
    status = fields.String()
    input_data = fields.Raw()
    output_data = fields.Raw(allow_none=True)
    triggered_by = fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    cancelled_by = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    original_run_id = fields.String(
        allow_none=True, metadata={"description": "Restored runs: the run checkpointed"}
    )
    checkpoint_id = fields.String(
        allow_none=True, metadata={"description": "Restored runs: the checkpoint used"}
    )


class RunListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([s.value for s in RunStatus]))
    workflow_id = fields.String()
    workflow_definition_id = fields.String()
    created_after = fields.AwareDateTime(default_timezone=None)
    created_before = fields.AwareDateTime(default_timezone=None)
    sort_by = fields.String(
        load_default="created_at",
        validate=validate.OneOf(sorted(SORTABLE)),
    )
    sort_order = SortOrder()


class RunPageSchema(PageSchema):
    items = fields.List(fields.Nested(RunSchema))


class StepSchema(Schema):
    id = fields.String()
    run_id = fields.String()
    step_id = fields.String(attribute="task_id")
    step_name = fields.String(attribute="name")
    agent_name = fields.String(allow_none=True)
    action = fields.String()
    status = fields.String()
    attempt = fields.Integer(metadata={"description": "Attempts made so far"})
    input_data = fields.Raw(allow_none=True)
    output_data = fields.Raw(allow_none=True)
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    error_message = fields.String(allow_none=True)


class StepDetailSchema(StepSchema):
    stdout = fields.String(allow_none=True)
    stderr = fields.String(allow_none=True)
    worker = fields.String(allow_none=True)


class LogArgs(Schema):
    step_id = fields.String(metadata={"description": "Only this step's lines"})


class LogLineSchema(Schema):
    timestamp = UtcDateTime()
    source = fields.String(metadata={"description": "engine or step"})
    step_id = fields.String(allow_none=True)
    stream = fields.String(metadata={"description": "event, stdout or stderr"})
    level = fields.String()
    message = fields.String()


class RunLogsSchema(Schema):
    run_id = fields.String()
    status = fields.String()
    lines = fields.List(fields.Nested(LogLineSchema))


class ReasonSchema(Schema):
    reason = fields.String(
        validate=validate.Length(max=2000),
        allow_none=True,
        metadata={"description": "Why (recorded on the run and its events)"},
    )


class RetrySchema(Schema):
    """Seed 002 sends ``{}``; there is nothing to set."""


class StepRetrySchema(Schema):
    input = fields.Raw(
        validate=json_object,
        allow_none=True,
        metadata={"description": "Replaces the step's input for this rerun (expressions allowed)"},
    )


class RunStateSchema(Schema):
    run_id = fields.String()
    execution_id = fields.String()
    state = fields.Dict(metadata={"description": "The run's custom state (read as ${state.key})"})
    last_updated = UtcDateTime(allow_none=True)


class SaveStateSchema(Schema):
    state = fields.Dict(required=True, metadata={"description": "Replaces the run's state"})


class RunVariablesSchema(Schema):
    run_id = fields.String()
    execution_id = fields.String()
    input_data = fields.Raw()
    variables = fields.Dict(
        metadata={"description": "The run's variables and <step>_output of each completed step"}
    )
