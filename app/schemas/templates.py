"""Template schemas (seeds 000/001): typed parameters, a definition with ``${params.x}``."""

from __future__ import annotations

from marshmallow import Schema, fields, pre_load, validate

from app.schemas.common import PageArgs, PageSchema, SortOrder, UtcDateTime, json_object


class _TemplateFields(Schema):
    description = fields.String(allow_none=True)
    workflow_id = fields.String(
        allow_none=True,
        metadata={"description": "Copy the definition of this workflow version (seed 001)"},
    )
    definition = fields.Raw(
        validate=json_object,
        allow_none=True,
        metadata={"description": "An inline definition (any dialect) instead of workflow_id"},
    )
    parameters = fields.Raw(
        validate=json_object,
        metadata={"description": "name → {type, required, default, enum, description, properties}"},
    )
    metadata = fields.Dict()

    @pre_load
    def accept_seed_000_name(self, data, **kwargs):
        """Seed 000 calls the source workflow ``workflow_definition_id``: the same field."""
        if isinstance(data, dict) and "workflow_definition_id" in data:
            data = dict(data)
            alias = data.pop("workflow_definition_id")
            data.setdefault("workflow_id", alias)
        return data


class TemplateCreateSchema(_TemplateFields):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))


class TemplateUpdateSchema(_TemplateFields):
    name = fields.String(validate=validate.Length(min=1, max=255))


class TemplateSummarySchema(Schema):
    id = fields.String()
    template_id = fields.Function(lambda template: template.id, metadata={"type": "string"})
    name = fields.String()
    description = fields.String(allow_none=True)
    workflow_id = fields.String(allow_none=True)
    workflow_definition_id = fields.String(allow_none=True)
    parameters = fields.Raw()
    metadata = fields.Raw(attribute="meta")
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class TemplateSchema(TemplateSummarySchema):
    definition = fields.Raw(metadata={"description": "The definition, with its placeholders"})


class TemplateListArgs(PageArgs):
    name = fields.String()
    sort_by = fields.String(
        load_default="created_at", validate=validate.OneOf(["name", "created_at", "updated_at"])
    )
    sort_order = SortOrder()


class TemplatePageSchema(PageSchema):
    items = fields.List(fields.Nested(TemplateSummarySchema))


class InstantiateSchema(Schema):
    parameter_values = fields.Raw(
        load_default=dict, validate=json_object, metadata={"description": "name → value"}
    )
    name = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "The new workflow's name (default: template name + suffix)"},
    )
    description = fields.String(allow_none=True)
