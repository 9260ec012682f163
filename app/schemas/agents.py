"""Agent schemas (seed 002). ``auth_config`` is write-only: it is never serialised back."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import PageArgs, PageSchema, UtcDateTime

AUTH_TYPES = ["none", "bearer", "apikey"]


class RetryConfigSchema(Schema):
    max_retries = fields.Integer(validate=validate.Range(min=0, max=10))
    initial_delay_ms = fields.Integer(validate=validate.Range(min=100))
    max_delay_ms = fields.Integer(validate=validate.Range(min=1000))
    backoff_multiplier = fields.Float(validate=validate.Range(min=1.0))


class AgentCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    url = fields.String(required=True, validate=validate.URL(require_tld=False))
    description = fields.String(allow_none=True)
    auth_type = fields.String(load_default="none", validate=validate.OneOf(AUTH_TYPES))
    auth_config = fields.Dict(allow_none=True, load_only=True)
    timeout_ms = fields.Integer(load_default=30000, validate=validate.Range(min=1000, max=300000))
    retry_config = fields.Nested(RetryConfigSchema)


class AgentUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=255))
    url = fields.String(validate=validate.URL(require_tld=False))
    description = fields.String(allow_none=True)
    auth_type = fields.String(validate=validate.OneOf(AUTH_TYPES))
    auth_config = fields.Dict(allow_none=True, load_only=True)
    timeout_ms = fields.Integer(validate=validate.Range(min=1000, max=300000))
    retry_config = fields.Nested(RetryConfigSchema)
    status = fields.String(validate=validate.OneOf(["active", "inactive"]))


class AgentSchema(Schema):
    id = fields.String()
    name = fields.String()
    url = fields.String()
    description = fields.String(allow_none=True)
    auth_type = fields.String()
    timeout_ms = fields.Integer()
    retry_config = fields.Nested(RetryConfigSchema)
    status = fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AgentListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(["active", "inactive", "deleted"]))
    name = fields.String()


class AgentPageSchema(PageSchema):
    items = fields.List(fields.Nested(AgentSchema))


class AgentHealthSchema(Schema):
    healthy = fields.Boolean()
    status_code = fields.Integer(allow_none=True)
    response_time_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
