"""Workflow schemas. A definition may use any dialect (DESIGN §3); its fields are checked by the
engine's validator, which names every problem with a field path."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas.common import (
    PageArgs,
    PageSchema,
    SortOrder,
    UtcDateTime,
    json_object,
    json_object_or_list,
)

STATUSES = ["active", "inactive", "deleted"]


class _DefinitionFields(Schema):
    description = fields.String(allow_none=True)
    start_step = fields.String(allow_none=True, metadata={"description": "Seed 002: first step"})
    steps = fields.Raw(
        validate=json_object_or_list,
        metadata={"description": "Seed 002 steps keyed by id, or seed 004 plan steps (list)"},
    )
    tasks = fields.Raw(
        validate=json_object_or_list,
        metadata={"description": "Tasks keyed by id (seeds 000/001) or a list (seed 003)"},
    )
    synchronizationPoints = fields.List(fields.Dict(), metadata={"description": "Seed 003"})  # noqa: N815
    input = fields.Raw(validate=json_object, metadata={"description": "Input JSON Schema"})
    input_schema = fields.Raw(
        validate=json_object, metadata={"description": "Input schema (JSON Schema or seed 001 map)"}
    )
    output = fields.Raw(validate=json_object, metadata={"description": "Output schema (seed 000)"})
    output_mapping = fields.Raw(metadata={"description": "Run output from expressions"})
    variables = fields.Dict(metadata={"description": "Default variables (seed 004)"})
    checkpoint = fields.Dict(
        metadata={"description": "Automatic checkpoints: {every_n_tasks: N, on_pause: true}"}
    )
    metadata = fields.Dict()


class WorkflowCreateSchema(_DefinitionFields):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    status = fields.String(validate=validate.OneOf(["active", "inactive"]))


class WorkflowUpdateSchema(_DefinitionFields):
    name = fields.String(validate=validate.Length(min=1, max=255))
    status = fields.String(validate=validate.OneOf(["active", "inactive"]))


class WorkflowSchema(Schema):
    id = fields.String()
    workflow_id = fields.String(
        attribute="lineage_id", metadata={"description": "Id shared by every version"}
    )
    name = fields.String()
    description = fields.String(allow_none=True)
    version = fields.Integer()
    workflow_data = fields.Dict(attribute="definition")
    dialect = fields.String()
    status = fields.String()
    template_id = fields.String(
        allow_none=True, metadata={"description": "The template it was instantiated from"}
    )
    parameter_values = fields.Raw(
        attribute="template_parameters",
        allow_none=True,
        metadata={"description": "The parameter values it was instantiated with"},
    )
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class WorkflowListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))
    name = fields.String()
    sort_by = fields.String(
        load_default="created_at",
        validate=validate.OneOf(["name", "created_at", "updated_at", "version"]),
    )
    sort_order = SortOrder()


class WorkflowPageSchema(PageSchema):
    items = fields.List(fields.Nested(WorkflowSchema))


class ExecuteSchema(Schema):
    input_data = fields.Raw(
        load_default=dict,
        validate=json_object,
        metadata={"description": "Workflow input (validated by its schema)"},
    )
    variables = fields.Dict(load_default=dict)
    triggered_by = fields.String(load_default="system", validate=validate.Length(min=1, max=255))


class BarrierEdgeSchema(Schema):
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()


class PlanSchema(Schema):
    workflow_id = fields.String()
    workflow_definition_id = fields.String()
    version = fields.Integer()
    segment_size = fields.Integer()
    task_count = fields.Integer()
    structure = fields.Raw(metadata={"description": "Nested {series|parallel: [...]} of task ids"})
    barrier_edges = fields.List(fields.Nested(BarrierEdgeSchema))
    barrier_edge_count = fields.Integer()
    series_parallel = fields.Boolean()
