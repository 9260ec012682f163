"""``/health``, ``/health/ready`` and ``/metrics`` (JSON form): seed 002's and seed 004's fields."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

COMPONENT_STATUS = validate.OneOf(["healthy", "unhealthy"])


class CheckSchema(Schema):
    status = fields.String(validate=COMPONENT_STATUS)
    message = fields.String()
    response_time_ms = fields.Float(allow_none=True)


class ComponentsSchema(Schema):
    api = fields.String(validate=COMPONENT_STATUS)
    execution_engine = fields.String(
        validate=COMPONENT_STATUS, metadata={"description": "A Celery worker answers a ping"}
    )
    storage = fields.String(
        validate=COMPONENT_STATUS, metadata={"description": "The database answers SELECT 1"}
    )
    event_system = fields.String(
        validate=COMPONENT_STATUS, metadata={"description": "Redis (event bus, broker) answers"}
    )


class HealthSchema(Schema):
    status = fields.String(
        validate=validate.OneOf(["healthy", "degraded", "unhealthy"]),
        metadata={
            "description": "healthy: every component is; unhealthy: storage or the event "
            "system is down; degraded: only the execution engine is"
        },
    )
    timestamp = fields.String()
    version = fields.String()
    uptime_seconds = fields.Float(metadata={"description": "Seconds since this API process began"})
    uptime = fields.Integer(metadata={"description": "The same, in whole seconds (seed 004)"})
    components = fields.Nested(ComponentsSchema)
    services = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(CheckSchema),
        allow_none=True,
        metadata={"description": "Each component's check: status, message, response time"},
    )


class ReadySchema(Schema):
    ready = fields.Boolean()
    timestamp = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema))


class ExecutionCountsSchema(Schema):
    total = fields.Integer()
    active = fields.Integer(metadata={"description": "Runs not in a final status"})
    completed = fields.Integer()
    failed = fields.Integer()
    cancelled = fields.Integer()


class StepCountsSchema(Schema):
    total = fields.Integer()
    succeeded = fields.Integer()
    failed = fields.Integer()


class PerformanceSchema(Schema):
    average_execution_time_ms = fields.Float(allow_none=True)
    average_step_time_ms = fields.Float(allow_none=True)
    p95_execution_time_ms = fields.Float(allow_none=True)
    p95_step_time_ms = fields.Float(allow_none=True)


class ResourceUsageSchema(Schema):
    memory_mb = fields.Float(metadata={"description": "Resident memory of the answering process"})
    cpu_percent = fields.Float(
        metadata={"description": "CPU use of the answering process since its previous answer"}
    )


class MetricsSummarySchema(Schema):
    executions = fields.Nested(ExecutionCountsSchema)
    steps = fields.Nested(StepCountsSchema)
    performance = fields.Nested(PerformanceSchema)
    resource_usage = fields.Nested(ResourceUsageSchema)
