"""``/api/v1/workflows``: definitions with versions, their compiled plan, and execution."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.schemas.common import ApiErrorSchema, MessageSchema, PageArgs
from app.schemas.runs import RunSchema
from app.schemas.workflows import (
    ExecuteSchema,
    PlanSchema,
    WorkflowCreateSchema,
    WorkflowListArgs,
    WorkflowPageSchema,
    WorkflowSchema,
    WorkflowUpdateSchema,
)
from app.services import runs as run_service
from app.services import workflows as service

blp = Blueprint(
    "workflows",
    __name__,
    url_prefix="/api/v1/workflows",
    description="Workflow definitions, versions and execution",
)


@blp.route("")
class Workflows(MethodView):
    @operation(Operation.RUN)
    @blp.arguments(WorkflowCreateSchema)
    @blp.response(201, WorkflowSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Invalid definition or name taken")
    def post(self, body):
        """Create a workflow (any definition dialect)"""
        return service.create_workflow(runtime(), body)

    @blp.arguments(WorkflowListArgs, location="query")
    @blp.response(200, WorkflowPageSchema)
    def get(self, args):
        """List workflows (latest version of each)"""
        return service.list_workflows(runtime(), **args)


@blp.route("/<workflow_id>")
class WorkflowById(MethodView):
    @blp.response(200, WorkflowSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Workflow does not exist")
    def get(self, workflow_id):
        """Get a workflow version"""
        return service.get_workflow(runtime(), workflow_id)

    @operation(Operation.RUN)
    @blp.arguments(WorkflowUpdateSchema)
    @blp.response(200, WorkflowSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Invalid definition")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Workflow does not exist")
    def put(self, body, workflow_id):
        """Update a workflow; a new structure makes a new version"""
        return service.update_workflow(runtime(), workflow_id, body)

    @operation(Operation.CONTROL)
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Workflow does not exist")
    def delete(self, workflow_id):
        """Delete a workflow (soft delete of every version)"""
        service.delete_workflow(runtime(), workflow_id)
        return {"message": f"Workflow '{workflow_id}' deleted successfully"}


@blp.route("/<workflow_id>/versions")
class WorkflowVersions(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, WorkflowPageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Workflow does not exist")
    def get(self, args, workflow_id):
        """List every version of a workflow, newest first"""
        return service.list_versions(runtime(), workflow_id, **args)


@blp.route("/<workflow_id>/plan")
class WorkflowPlan(MethodView):
    @blp.response(200, PlanSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Workflow does not exist")
    def get(self, workflow_id):
        """The compiled series-parallel plan, with any barrier edges the compiler added"""
        return service.plan_workflow(runtime(), workflow_id)


@blp.route("/<workflow_id>/execute")
class WorkflowExecute(MethodView):
    @operation(Operation.RUN)
    @blp.arguments(ExecuteSchema)
    @blp.response(202, RunSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Inactive workflow or invalid input")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Workflow does not exist")
    def post(self, body, workflow_id):
        """Execute a workflow asynchronously"""
        return run_service.start_run(
            runtime(),
            workflow_id,
            body["input_data"],
            triggered_by=body["triggered_by"],
            variables=body["variables"],
        )
