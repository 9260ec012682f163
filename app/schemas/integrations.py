"""Integration catalogue and invocation schemas (seed 004 "Integrations API" in /api/v1 style).

A capability's ``parameters`` is the JSON Schema from ``app.engine.catalogue`` served as is: the
same schema validates task inputs, direct invocations and (on the worker) resolved inputs.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.models import InvocationStatus
from app.schemas.common import PageArgs, PageSchema, UtcDateTime

OBJECT = {"type": "object"}


class CapabilitySchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    parameters = fields.Dict(metadata={"description": "JSON Schema of the capability's input"})
    required = fields.List(fields.String(), metadata={"description": "Required parameters"})


class IntegrationSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    type = fields.String(metadata={"description": "Kind of integration (built-ins: their id)"})
    status = fields.String(metadata={"description": "available, or disabled by configuration"})
    capabilities = fields.List(fields.String(), metadata={"description": "Capability ids"})


class IntegrationDetailSchema(IntegrationSchema):
    parameters = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        metadata={"description": "capability id → JSON Schema of its input (seed 004)"},
    )


class IntegrationListArgs(PageArgs):
    kind = fields.String(
        data_key="type", metadata={"description": "Only integrations of this kind"}
    )
    status = fields.String(validate=validate.OneOf(["available", "disabled"]))


class IntegrationPageSchema(PageSchema):
    items = fields.List(fields.Nested(IntegrationSchema))


class CapabilityListSchema(Schema):
    integration_id = fields.String()
    capabilities = fields.List(fields.Nested(CapabilitySchema))


class InvocationCreateSchema(Schema):
    # Raw, not Dict: a non-object is reported by the service as a 400 naming the field, like
    # every other problem with the parameters.
    parameters = fields.Raw(
        allow_none=True,
        metadata={**OBJECT, "description": "The capability's input (seed 004's name)"},
    )
    input = fields.Raw(
        allow_none=True,
        metadata={**OBJECT, "description": "Alias of parameters (the name task definitions use)"},
    )
    agent_name = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "agent.call only: the registered agent to call"},
    )


class InvocationSchema(Schema):
    id = fields.String()
    invocation_id = fields.Function(lambda row: row.id, metadata={"type": "string"})
    integration_id = fields.String()
    capability_id = fields.String()
    agent_name = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "PENDING, RUNNING, COMPLETED or FAILED"})
    parameters = fields.Raw(metadata=OBJECT)
    output = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)


class InvocationListArgs(PageArgs):
    integration_id = fields.String()
    capability_id = fields.String()
    status = fields.String(validate=validate.OneOf([s.value for s in InvocationStatus]))


class InvocationPageSchema(PageSchema):
    items = fields.List(fields.Nested(InvocationSchema))
