"""Ops schemas: Celery workers, queues, and the answers to remote-control commands."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.schemas.common import UtcDateTime

# Celery's rate syntax: a number of tasks per second, or per ``/s``, ``/m``, ``/h``; 0 lifts it.
RATE = validate.Regexp(r"^\d+(\.\d+)?(/[smh])?$", error="a rate such as '10/m', '2/s' or '0'")
NAME = validate.Length(min=1, max=200)


class OpsTaskSchema(Schema):
    id = fields.String(allow_none=True, metadata={"description": "Celery task id"})
    name = fields.String(allow_none=True, metadata={"description": "Celery task name"})
    run_id = fields.String(allow_none=True, metadata={"description": "Harmonia run, if any"})
    step_id = fields.String(allow_none=True, metadata={"description": "Harmonia step, if any"})
    started_at = UtcDateTime(allow_none=True)
    eta = fields.String(allow_none=True, metadata={"description": "scheduled tasks only"})
    worker_pid = fields.Integer(allow_none=True)
    acknowledged = fields.Boolean(allow_none=True)


class PoolSchema(Schema):
    type = fields.String(allow_none=True, metadata={"description": "Celery pool class"})
    max_concurrency = fields.Integer(allow_none=True)
    size = fields.Integer(allow_none=True, metadata={"description": "processes now"})
    processes = fields.List(fields.Integer())
    max_tasks_per_child = fields.Integer(allow_none=True)


class WorkerSchema(Schema):
    hostname = fields.String()
    status = fields.String(
        validate=validate.OneOf(["online", "unresponsive", "offline"]),
        metadata={
            "description": "online: it answered this inspection; offline: the fleet monitor "
            "recorded it offline (worker_offline); unresponsive: it did not answer, but the "
            "monitor has not yet missed its heartbeats for long enough"
        },
    )
    last_heartbeat = UtcDateTime(
        allow_none=True,
        metadata={
            "description": "online: when it answered this inspection; otherwise the last "
            "heartbeat the monitor heard"
        },
    )
    offline_reason = fields.String(
        allow_none=True,
        metadata={"description": "offline only: clean, heartbeat_expired or restarted"},
    )
    pid = fields.Integer(allow_none=True)
    uptime_seconds = fields.Integer(allow_none=True)
    pool = fields.Nested(PoolSchema)
    autoscaler = fields.Dict(allow_none=True)
    prefetch_count = fields.Integer(allow_none=True)
    loadavg = fields.List(
        fields.Float(),
        allow_none=True,
        metadata={"description": "1, 5 and 15 minute load of its machine, from its heartbeats"},
    )
    processed = fields.Integer(
        allow_none=True, metadata={"description": "tasks received since it started"}
    )
    processed_by_task = fields.Dict(keys=fields.String(), values=fields.Integer())
    failed = fields.Integer(
        allow_none=True,
        metadata={
            "description": "tasks Celery saw fail on it since it came online, counted by the "
            "monitor (a Harmonia task that fails is data, not a Celery failure)"
        },
    )
    active = fields.List(fields.Nested(OpsTaskSchema))
    reserved = fields.List(fields.Nested(OpsTaskSchema))
    scheduled = fields.List(fields.Nested(OpsTaskSchema))
    queues = fields.List(fields.String())
    versions = fields.Dict(keys=fields.String(), values=fields.String())
    rusage = fields.Dict(allow_none=True)


class WorkerListSchema(Schema):
    items = fields.List(fields.Nested(WorkerSchema))
    total = fields.Integer()


class QueueSchema(Schema):
    name = fields.String()
    depth = fields.Integer(metadata={"description": "messages waiting, every priority level"})
    consumers = fields.List(fields.String(), metadata={"description": "worker hostnames"})


class QueueListSchema(Schema):
    items = fields.List(fields.Nested(QueueSchema))
    total = fields.Integer()


class PoolResizeSchema(Schema):
    grow = fields.Integer(validate=validate.Range(min=1, max=1000))
    shrink = fields.Integer(validate=validate.Range(min=1, max=1000))

    @validates_schema
    def one_of(self, data, **_kwargs):
        if ("grow" in data) == ("shrink" in data):
            raise ValidationError("give either 'grow' or 'shrink'", "grow")


class AutoscaleSchema(Schema):
    max = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))
    min = fields.Integer(required=True, validate=validate.Range(min=0, max=1000))

    @validates_schema
    def min_within_max(self, data, **_kwargs):
        if data.get("min", 0) > data.get("max", 0):
            raise ValidationError("must not exceed 'max'", "min")


class ConsumerSchema(Schema):
    queue = fields.String(required=True, validate=NAME)


class RateLimitSchema(Schema):
    task_name = fields.String(required=True, validate=NAME)
    rate = fields.String(required=True, validate=RATE)
    hostname = fields.String(validate=NAME, metadata={"description": "one worker; all if absent"})


class RevokeSchema(Schema):
    terminate = fields.Boolean(
        load_default=False, metadata={"description": "also kill the process running it"}
    )


class ControlResultSchema(Schema):
    action = fields.String()
    event_id = fields.Integer(metadata={"description": "the audit event (GET /api/v1/events/…)"})
    by = fields.String(metadata={"description": "who sent it"})
    target = fields.String(allow_none=True)
    arguments = fields.Dict()
    replies = fields.Dict(metadata={"description": "Celery's answers, by worker hostname"})
