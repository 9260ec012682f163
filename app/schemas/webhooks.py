"""Webhook schemas (``/api/v1/webhooks``), and the payload every delivery carries."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from app.events.vocabulary import name_for, pattern_matches_any
from app.schemas.common import PageArgs, PageSchema, UtcDateTime, json_object
from app.schemas.events import EventSchema
from app.services.webhooks import status_of

STATUSES = ["active", "inactive", "disabled", "expired"]
DELIVERY_STATUSES = ["pending", "delivered", "failed"]


def known_pattern(pattern: str) -> None:
    if not pattern_matches_any(pattern):
        raise ValidationError(
            f"'{pattern}' names no event (see GET /api/v1/webhooks/events for the names; "
            "'*' is a wildcard, e.g. 'workflow.*')"
        )


def Url(**options):  # noqa: N802 - reads as a field type
    return fields.String(
        validate=[
            validate.Length(max=2048),
            validate.URL(require_tld=False, schemes={"http", "https"}),
        ],
        metadata={"description": "Where deliveries are POSTed (http or https)"},
        **options,
    )


def Events(**options):  # noqa: N802
    return fields.List(
        fields.String(validate=[validate.Length(min=1, max=100), known_pattern]),
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "Event names to deliver: internal (`task_completed`), dotted "
            "(`task.execution.completed`) or seed 004's (`step_completed`); `*` is a "
            "wildcard (`workflow.*`, `task.execution.*`, `*`)"
        },
        **options,
    )


Secret = fields.String(
    allow_none=True,
    validate=validate.Length(min=8, max=256),
    metadata={"description": "Signing secret; omitted: one is generated; null: unsigned"},
)
ExpiresAt = fields.AwareDateTime(
    allow_none=True, metadata={"description": "After this time it matches no event (expired)"}
)


class WebhookCreateSchema(Schema):
    url = Url(required=True)
    events = Events(load_default=["*"])
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    workflow_id = fields.String(
        allow_none=True,
        validate=validate.Length(max=36),
        metadata={"description": "Only events of runs of this workflow"},
    )
    run_id = fields.String(
        allow_none=True,
        validate=validate.Length(max=36),
        metadata={"description": "Only events of this run"},
    )
    active = fields.Boolean(load_default=True)
    expires_at = ExpiresAt
    secret = Secret


class WebhookUpdateSchema(Schema):
    url = Url()
    events = Events()
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    workflow_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    run_id = fields.String(allow_none=True, validate=validate.Length(max=36))
    active = fields.Boolean(
        metadata={"description": "false stops deliveries (pending ones fail); true resumes"}
    )
    expires_at = ExpiresAt
    secret = fields.String(
        allow_none=True,
        validate=validate.Length(min=8, max=256),
        load_only=True,
        metadata={"description": "A new signing secret (null: stop signing)"},
    )


class WebhookSchema(Schema):
    id = fields.String()
    url = fields.String()
    description = fields.String(allow_none=True)
    events = fields.List(fields.String())
    workflow_id = fields.String(allow_none=True)
    run_id = fields.String(allow_none=True)
    active = fields.Boolean()
    status = fields.Function(
        status_of, metadata={"description": "active, inactive, disabled or expired"}
    )
    expires_at = UtcDateTime(allow_none=True)
    has_secret = fields.Boolean(metadata={"description": "Deliveries are signed"})
    consecutive_failures = fields.Integer()
    disabled_reason = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(
        allow_none=True,
        metadata={"description": "The signing secret: shown in this answer only"},
    )


class WebhookListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))


class WebhookPageSchema(PageSchema):
    items = fields.List(fields.Nested(WebhookSchema))


class DeliverySchema(Schema):
    id = fields.String(metadata={"description": "The X-Harmonia-Delivery id"})
    webhook_id = fields.String()
    event = fields.Function(lambda d: name_for(d.event_type, "v1"))
    event_type = fields.String()
    event_id = fields.Integer(allow_none=True)
    run_id = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending, delivered or failed"})
    attempts = fields.Integer()
    status_code = fields.Integer(attribute="response_status", allow_none=True)
    latency_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    next_retry_at = UtcDateTime(attribute="next_attempt_at", allow_none=True)
    created_at = UtcDateTime()
    delivered_at = UtcDateTime(allow_none=True)


class AttemptSchema(Schema):
    attempt = fields.Integer()
    at = fields.String()
    status_code = fields.Integer(allow_none=True)
    latency_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)


class DeliveryDetailSchema(DeliverySchema):
    history = fields.List(fields.Nested(AttemptSchema))
    response_body = fields.String(allow_none=True)


class DeliveryListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


class DeliveryPageSchema(PageSchema):
    items = fields.List(fields.Nested(DeliverySchema))


class WebhookTestSchema(Schema):
    url = Url(required=True)
    event = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    payload = fields.Raw(load_default=None, allow_none=True, validate=json_object)
    secret = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=256))


class TestResultSchema(Schema):
    success = fields.Boolean()
    status_code = fields.Integer(allow_none=True)
    message = fields.String()
    delivery_id = fields.String()
    latency_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)


class EventNameSchema(Schema):
    type = fields.String(metadata={"description": "Harmonia's internal type (DESIGN §6)"})
    name = fields.String(metadata={"description": "Dotted name (X-Harmonia-Event, seed 003)"})
    synthesis_name = fields.String(metadata={"description": "Seed 004's name"})
    description = fields.String()


class WebhookPayloadSchema(Schema):
    """The JSON body of every delivery (``Content-Type: application/json``)."""

    id = fields.String(metadata={"description": "The delivery id (also X-Harmonia-Delivery)"})
    event = fields.String(metadata={"description": "Dotted event name (also X-Harmonia-Event)"})
    type = fields.String(metadata={"description": "Harmonia's internal event type"})
    created_at = fields.String(metadata={"description": "When the event happened (UTC)"})
    webhook_id = fields.String()
    data = fields.Nested(EventSchema, metadata={"description": "The event, as streams send it"})
