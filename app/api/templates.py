"""``/api/v1/templates``: parameterised workflow definitions, instantiated into workflows."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.schemas.common import ApiErrorSchema, MessageSchema
from app.schemas.templates import (
    InstantiateSchema,
    TemplateCreateSchema,
    TemplateListArgs,
    TemplatePageSchema,
    TemplateSchema,
    TemplateUpdateSchema,
)
from app.schemas.workflows import WorkflowSchema
from app.services import templates as service

blp = Blueprint(
    "templates",
    __name__,
    url_prefix="/api/v1/templates",
    description="Workflow templates with typed parameters",
)


@blp.route("")
class Templates(MethodView):
    @operation(Operation.RUN)
    @blp.arguments(TemplateCreateSchema)
    @blp.response(201, TemplateSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Invalid parameters or definition")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Source workflow does not exist")
    @blp.alt_response(409, schema=ApiErrorSchema, description="Template name already exists")
    def post(self, body):
        """Create a template from a workflow version (workflow_id) or an inline definition"""
        return service.create_template(runtime(), body)

    @blp.arguments(TemplateListArgs, location="query")
    @blp.response(200, TemplatePageSchema)
    def get(self, args):
        """List templates"""
        return service.list_templates(runtime(), **args)


@blp.route("/<template_id>")
class TemplateById(MethodView):
    @blp.response(200, TemplateSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Template does not exist")
    def get(self, template_id):
        """Get a template, with its definition"""
        return service.get_template(runtime(), template_id)

    @operation(Operation.RUN)
    @blp.arguments(TemplateUpdateSchema)
    @blp.response(200, TemplateSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Invalid parameters or definition")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Template does not exist")
    @blp.alt_response(409, schema=ApiErrorSchema, description="Template name already exists")
    def put(self, body, template_id):
        """Update a template (fields not given are kept)"""
        return service.update_template(runtime(), template_id, body)

    @operation(Operation.CONTROL)
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Template does not exist")
    def delete(self, template_id):
        """Delete a template (workflows made from it are kept)"""
        service.delete_template(runtime(), template_id)
        return {"message": f"Template '{template_id}' deleted successfully"}


@blp.route("/<template_id>/instantiate")
@operation(Operation.RUN)
class TemplateInstantiate(MethodView):
    @blp.arguments(InstantiateSchema)
    @blp.response(201, WorkflowSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Invalid parameter values")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Template does not exist")
    def post(self, body, template_id):
        """Create a workflow from a template, binding its parameters"""
        return service.instantiate_template(runtime(), template_id, body)
