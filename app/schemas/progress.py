"""A run's progress report (``GET /api/v1/runs/{id}/progress``): seed 003's report in the
canonical API's words."""

from __future__ import annotations

from marshmallow import Schema, fields

from app.schemas.common import UtcDateTime


class BlockerSchema(Schema):
    id = fields.String(metadata={"description": "Stable: the id of the event that raised it"})
    kind = fields.String(
        metadata={"description": "task_failed, task_retrying, run_paused or agent_unavailable"}
    )
    task_id = fields.String(allow_none=True, metadata={"description": "The step it concerns"})
    task_execution_id = fields.String(
        allow_none=True, metadata={"description": "The step execution's own id"}
    )
    description = fields.String()
    created_at = UtcDateTime()
    resolved_at = UtcDateTime(allow_none=True, metadata={"description": "null while it holds"})


class MilestoneSchema(Schema):
    id = fields.String(
        metadata={"description": "initialization, completion, or a synchronization point's id"}
    )
    name = fields.String()
    description = fields.String()
    achieved = fields.Boolean()
    achieved_at = UtcDateTime(allow_none=True)


class ProgressReportSchema(Schema):
    id = fields.String(metadata={"description": "The run's id (a run has one report)"})
    run_id = fields.String()
    status = fields.String(metadata={"description": "The run's status"})
    completed_tasks = fields.Integer(
        metadata={"description": "Tasks COMPLETED or SKIPPED (synchronization points excluded)"}
    )
    total_tasks = fields.Integer(
        metadata={"description": "Tasks of the run (synchronization points are milestones)"}
    )
    estimated_completion = UtcDateTime(
        allow_none=True,
        metadata={
            "description": "Now plus the remaining critical path, each task expected to take "
            "what it took in recent runs or what this run's tasks took. null unless the run is "
            "PENDING or RUNNING, and until a duration can be estimated"
        },
    )
    blockers = fields.List(
        fields.Nested(BlockerSchema),
        metadata={"description": "Current and past blockers, oldest first"},
    )
    milestones = fields.List(fields.Nested(MilestoneSchema))
    generated_at = UtcDateTime(metadata={"description": "The instant the report describes"})
