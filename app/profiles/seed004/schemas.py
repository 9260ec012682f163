"""Seed 004's request and response shapes, rendered from what the services return."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    validate,
)

from app.events.vocabulary import pattern_matches_any
from app.models.base import as_utc
from app.profiles import base
from app.profiles.seed004.vocabulary import DEFAULT_LIMIT, MAX_LIMIT, WORDS, step_type, text_output
from app.schemas.common import UtcDateTime

NAME = validate.Length(min=1, max=255)


def RunStatusWord(**kwargs):  # noqa: N802 - reads as a field type
    return base.RunStatusWord(WORDS, **kwargs)


def TaskStatusWord(**kwargs):  # noqa: N802 - reads as a field type
    return base.TaskStatusWord(WORDS, **kwargs)


def _ms(start, end) -> int | None:
    if start is None or end is None:
        return None
    return max(round((as_utc(end) - as_utc(start)).total_seconds() * 1000), 0)


# -- lists ----------------------------------------------------------------------------------------


class ListArgs(base.limit_offset_args(DEFAULT_LIMIT, MAX_LIMIT)):
    """``limit`` (default 50), ``offset``, and the document's creation-date bounds."""

    from_date = fields.DateTime(metadata={"description": "Created at or after (ISO 8601)"})
    to_date = fields.DateTime(metadata={"description": "Created at or before (ISO 8601)"})


class LabelArgs(ListArgs):
    tag = fields.String(validate=NAME, metadata={"description": "Filter by tag"})
    created_by = fields.String(validate=NAME, metadata={"description": "Filter by creator"})

    @post_load
    def to_bounds(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        if "from_date" in data:
            data["created_after"] = data.pop("from_date")
        if "to_date" in data:
            data["created_before"] = data.pop("to_date")
        return data


def listing(key: str, item: type[Schema]) -> type[Schema]:
    """``{total, offset, limit, <key>: [...]}`` from a service's ``Page``."""
    return base.limit_offset_listing(key, item, counts_first=True)


class SuccessSchema(Schema):
    success = fields.Boolean()
    message = fields.String()


# -- plans ----------------------------------------------------------------------------------------


class StepSchema(Schema):
    """One step: ``id``, ``type`` (``command``, ``script``, ``http``, ``agent``, ``mcp`` or
    ``integration.capability``) and its ``parameters``; ``depends_on``, ``timeout``, ``retry``…
    as the plan dialect takes them (the engine checks them)."""

    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=NAME)
    type = fields.String(required=True, validate=NAME)
    parameters = fields.Dict(load_default=dict)


class MetadataSchema(Schema):
    class Meta:
        unknown = INCLUDE

    tags = fields.List(fields.String(validate=NAME), validate=validate.Length(max=100))
    created_by = fields.String(validate=NAME)


STEPS_REQUIRED = "At least one step is required"


class PlanSchema(Schema):
    """A plan as written inside ``POST /api/executions``."""

    name = fields.String(required=True, validate=NAME)
    description = fields.String(allow_none=True, validate=validate.Length(max=10_000))
    steps = fields.List(
        fields.Nested(StepSchema),
        required=True,
        validate=validate.Length(min=1, max=10_000, error=STEPS_REQUIRED),
        error_messages={"required": STEPS_REQUIRED, "null": STEPS_REQUIRED},
    )
    variables = fields.Dict(metadata={"description": "Defaults for the plan's variables"})


class PlanBodySchema(PlanSchema):
    metadata = fields.Nested(MetadataSchema, load_default=dict)


class PlanSummarySchema(Schema):
    """From a ``Plan``."""

    plan_id = fields.String(attribute="workflow.lineage_id")
    name = fields.String(attribute="workflow.name")
    description = fields.String(attribute="workflow.description", allow_none=True)
    created_at = UtcDateTime()
    tags = fields.Function(lambda plan: plan.workflow.tags or [])


class PlanOutSchema(PlanSummarySchema):
    updated_at = UtcDateTime(allow_none=True)
    steps = fields.Function(lambda plan: plan.workflow.definition.get("steps"))
    metadata = fields.Function(lambda plan: plan.workflow.definition.get("metadata") or {})

    class Meta:
        exclude = ("tags",)

    @post_dump
    def drop_unset(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        if data.get("updated_at") is None:
            data.pop("updated_at", None)
        return data


class PlanListArgs(LabelArgs):
    pass


# -- executions -----------------------------------------------------------------------------------


class RunBodySchema(Schema):
    variables = fields.Dict(load_default=dict)
    metadata = fields.Nested(MetadataSchema, load_default=dict)


class ExecutionBodySchema(RunBodySchema):
    plan = fields.Nested(PlanSchema, required=True)


def _plan(workflow) -> dict[str, Any]:
    plan = {"name": workflow.name, "description": workflow.description}
    return {**plan, "steps": workflow.definition.get("steps")}


class ExecutionCreatedSchema(Schema):
    """From an ``Execution`` (the run and its plan)."""

    execution_id = fields.String(attribute="run.id")
    status = RunStatusWord(attribute="run.status")
    created_at = UtcDateTime(attribute="run.created_at")
    plan = fields.Function(lambda execution: _plan(execution.workflow))


class ExecutionStartedSchema(Schema):
    """From a run: the answer of ``POST /api/plans/{id}/execute``."""

    execution_id = fields.String(attribute="run.id")
    status = RunStatusWord(attribute="run.status")
    created_at = UtcDateTime(attribute="run.created_at")
    started_at = UtcDateTime(attribute="run.started_at", allow_none=True)
    plan_id = fields.String(attribute="workflow.lineage_id")


class ExecutionSummarySchema(Schema):
    """From a run."""

    execution_id = fields.String(attribute="id")
    name = fields.String(attribute="workflow_name")
    status = RunStatusWord()
    created_at = UtcDateTime()
    completed_at = UtcDateTime(allow_none=True)
    tags = fields.Function(lambda run: run.tags or [])


class ExecutionListArgs(LabelArgs):
    status = fields.String(validate=validate.OneOf(WORDS.run_words))

    @post_load
    def to_statuses(self, data: dict[str, Any], **_kwargs) -> dict[str, Any]:
        if "status" in data:
            data["status"] = WORDS.run_statuses_for(data["status"])
        return data


class StepOutSchema(Schema):
    """From a task row."""

    id = fields.String(attribute="task_id")
    type = fields.Function(lambda step: step_type(step.action))
    status = TaskStatusWord()
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    duration_ms = fields.Function(
        lambda step: _ms(step.started_at, step.completed_at), allow_none=True
    )
    output = fields.Function(lambda step: text_output(step.output_data), allow_none=True)
    error = fields.String(attribute="error_message", allow_none=True)


class StepDetailSchema(StepOutSchema):
    """From a ``StepView``: the step and the parameters its plan gave it."""

    id = fields.String(attribute="step.task_id")
    type = fields.Function(lambda view: step_type(view.step.action))
    status = TaskStatusWord(attribute="step.status")
    started_at = UtcDateTime(attribute="step.started_at", allow_none=True)
    completed_at = UtcDateTime(attribute="step.completed_at", allow_none=True)
    duration_ms = fields.Function(
        lambda view: _ms(view.step.started_at, view.step.completed_at), allow_none=True
    )
    parameters = fields.Raw(allow_none=True)
    output = fields.Function(lambda view: text_output(view.step.output_data), allow_none=True)
    error = fields.String(attribute="step.error_message", allow_none=True)

    class Meta:
        ordered = True


class ExecutionSchema(Schema):
    """From an ``Execution``."""

    execution_id = fields.String(attribute="run.id")
    status = RunStatusWord(attribute="run.status")
    created_at = UtcDateTime(attribute="run.created_at")
    started_at = UtcDateTime(attribute="run.started_at", allow_none=True)
    completed_at = UtcDateTime(attribute="run.completed_at", allow_none=True)
    duration_ms = fields.Function(
        lambda e: _ms(e.run.started_at, e.run.completed_at), allow_none=True
    )
    plan_id = fields.String(attribute="workflow.lineage_id")
    plan = fields.Function(lambda execution: _plan(execution.workflow))
    steps = fields.List(fields.Nested(StepOutSchema))
    variables = fields.Raw(attribute="run.variables")
    metadata = fields.Function(lambda e: (e.run.options or {}).get("metadata") or {})
    error = fields.String(attribute="run.error_message", allow_none=True)


class StepsSchema(Schema):
    execution_id = fields.String(attribute="run.id")
    steps = fields.List(fields.Nested(StepOutSchema))


class StartedSchema(Schema):
    execution_id = fields.String(attribute="id")
    status = RunStatusWord()
    started_at = UtcDateTime(allow_none=True)


class PausedSchema(Schema):
    execution_id = fields.String(attribute="id")
    status = RunStatusWord()
    paused_at = UtcDateTime(attribute="updated_at")


class ResumedSchema(Schema):
    """A resume asked for while the pause still settles is taken: the run goes on once it has."""

    execution_id = fields.String(attribute="id")
    status = fields.Function(
        lambda run: (
            "running"
            if (run.options or {}).get("resume_requested")
            else WORDS.run_status(run.status)
        ),
        metadata={"enum": WORDS.run_words},
    )
    resumed_at = UtcDateTime(attribute="updated_at")


class CancelledSchema(Schema):
    execution_id = fields.String(attribute="id")
    status = RunStatusWord()
    cancelled_at = UtcDateTime(allow_none=True)


class VariablesSchema(Schema):
    execution_id = fields.String()
    variables = fields.Dict()


# -- integrations ---------------------------------------------------------------------------------


class ParameterSchema(Schema):
    type = fields.String()
    description = fields.String()
    required = fields.Boolean()
    default = fields.Raw()


Parameters = fields.Dict(keys=fields.String(), values=fields.Nested(ParameterSchema))


def described(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A capability's JSON Schema as the document lists parameters: ``{name: {type,
    description, required, default}}``."""
    required = set(schema.get("required") or [])
    out: dict[str, dict[str, Any]] = {}
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type") or next(
            (choice.get("type") for choice in spec.get("oneOf") or [] if choice.get("type")),
            "any",
        )
        item = {
            "type": kind,
            "description": spec.get("description") or name.replace("_", " ").capitalize(),
            "required": name in required,
        }
        if "default" in spec:
            item["default"] = spec["default"]
        out[name] = item
    return out


def described_all(schemas: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {capability: described(schema) for capability, schema in schemas.items()}


class IntegrationSummarySchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    capabilities = fields.List(fields.String())


class IntegrationsSchema(Schema):
    integrations = fields.List(fields.Nested(IntegrationSummarySchema))


class IntegrationSchema(IntegrationSummarySchema):
    parameters = fields.Dict(keys=fields.String(), values=Parameters)


class CapabilitySchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    parameters = Parameters


class CapabilitiesSchema(Schema):
    integration_id = fields.String()
    capabilities = fields.List(fields.Nested(CapabilitySchema))


class InvokeSchema(Schema):
    parameters = fields.Dict(load_default=dict)


class InvocationSchema(Schema):
    """From an invocation row."""

    invocation_id = fields.String(attribute="id")
    integration_id = fields.String()
    capability_id = fields.String()
    status = fields.Function(lambda invocation: invocation.status.lower())
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    output = fields.Function(lambda invocation: text_output(invocation.output), allow_none=True)
    error = fields.String(allow_none=True)


class InvocationDetailSchema(InvocationSchema):
    parameters = fields.Dict()

    class Meta:
        ordered = True


# -- events ---------------------------------------------------------------------------------------


class EventSchema(Schema):
    """From an event already rendered in seed 004's words (``streams.event``)."""

    event_id = fields.String()
    type = fields.String()
    timestamp = fields.String()
    execution_id = fields.String(allow_none=True)
    payload = fields.Dict()


class EventListArgs(ListArgs):
    type = fields.String(validate=NAME, metadata={"description": "e.g. step_completed"})
    execution_id = fields.String(validate=NAME)


class EventListSchema(Schema):
    total = fields.Integer()
    offset = fields.Integer()
    limit = fields.Integer()
    events = fields.List(fields.Nested(EventSchema))


class FilterSchema(Schema):
    execution_id = fields.String(validate=NAME, allow_none=True)


def _known_type(name: str) -> None:
    if not pattern_matches_any(name):
        raise ValidationError(
            f"unknown event type '{name[:100]}' (execution_started, step_completed…, or a "
            "pattern such as step_*)"
        )


class SubscriptionBodySchema(Schema):
    types = fields.List(
        fields.String(validate=[NAME, _known_type]),
        required=True,
        validate=validate.Length(min=1, max=100),
    )
    filter = fields.Nested(FilterSchema, load_default=dict)
    callback_url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    expiration = fields.AwareDateTime(allow_none=True, default_timezone=None)
    secret = fields.String(
        validate=validate.Length(min=8, max=255),
        load_only=True,
        metadata={"description": "Optional: deliveries are then signed (X-Harmonia-Signature)"},
    )


class SubscriptionSchema(Schema):
    """From a webhook registered through seed 004."""

    subscription_id = fields.String(attribute="id")
    types = fields.List(fields.String(), attribute="events")
    filter = fields.Function(lambda hook: {"execution_id": hook.run_id} if hook.run_id else {})
    callback_url = fields.String(attribute="url")
    created_at = UtcDateTime()
    expiration = UtcDateTime(attribute="expires_at", allow_none=True)


class SubscriptionsSchema(Schema):
    subscriptions = fields.List(fields.Nested(SubscriptionSchema))
