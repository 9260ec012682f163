"""Seed 001's REST paths under ``/api/harmonia``: workflows, executions, templates and the state
API (``/state/checkpoints``, ``/state/restore``). Each view parses, calls one service, renders."""

from __future__ import annotations

from flask.views import MethodView

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.profiles.base import ProfileBlueprint
from app.profiles.seed001 import schemas as s
from app.profiles.seed001.errors import ERRORS
from app.services import checkpoints, control, runs, templates, workflows

TITLE = "Harmonia API Reference (seed 001)"
PREFIX = "/api/harmonia"
PROFILE = "seed001"


def _blueprint(name: str, path: str, what: str) -> ProfileBlueprint:
    return ProfileBlueprint(
        f"001 {name}", __name__, PREFIX + path, f"{TITLE}: {what}", errors=ERRORS
    )


def _options(body) -> dict:
    return {"execution_options": body["execution_options"]}


workflows_blp = _blueprint("workflows", "/workflows", "workflow definitions")
executions_blp = _blueprint("executions", "/executions", "workflow executions")
templates_blp = _blueprint("templates", "/templates", "workflow templates")
state_blp = _blueprint("state", "/state", "checkpoints and restore")
BLUEPRINTS = (workflows_blp, executions_blp, templates_blp, state_blp)


# -- workflows ------------------------------------------------------------------------------------


@workflows_blp.route("")
class Workflows(MethodView):
    @operation(Operation.RUN)
    @workflows_blp.arguments(s.WorkflowBodySchema)
    @workflows_blp.response(201, s.WorkflowSchema)
    @workflows_blp.error(409, "A workflow with the same name already exists")
    def post(self, body):
        """Create Workflow"""
        return workflows.create_workflow(runtime(), body)

    @workflows_blp.arguments(s.WorkflowListArgs, location="query")
    @workflows_blp.response(200, s.listing(s.WorkflowSummarySchema))
    def get(self, args):
        """List Workflows"""
        return workflows.list_workflows(runtime(), **args)


@workflows_blp.route("/<workflow_id>")
class WorkflowById(MethodView):
    @workflows_blp.response(200, s.WorkflowSchema)
    @workflows_blp.error(404, "Workflow not found")
    def get(self, workflow_id):
        """Get Workflow"""
        return workflows.get_current_workflow(runtime(), workflow_id)

    @operation(Operation.RUN)
    @workflows_blp.arguments(s.WorkflowUpdateBodySchema)
    @workflows_blp.response(200, s.WorkflowSchema)
    @workflows_blp.error(404, "Workflow not found")
    @workflows_blp.error(409, "Another workflow has that name")
    def put(self, body, workflow_id):
        """Update Workflow"""
        return workflows.update_workflow(runtime(), workflow_id, body)

    @operation(Operation.CONTROL)
    @workflows_blp.response(200, s.SuccessSchema)
    @workflows_blp.error(404, "Workflow not found")
    @workflows_blp.error(409, "The workflow has executions that have not finished")
    def delete(self, workflow_id):
        """Delete Workflow"""
        workflows.delete_workflow(runtime(), workflow_id, unless_active=True)
        return {"success": True, "message": "Workflow deleted successfully"}


# -- executions -----------------------------------------------------------------------------------


@executions_blp.route("")
class Executions(MethodView):
    @operation(Operation.RUN)
    @executions_blp.arguments(s.ExecuteSchema)
    @executions_blp.response(202, s.ExecutionAcceptedSchema)
    @executions_blp.error(404, "Workflow not found")
    def post(self, body):
        """Execute Workflow"""
        return runs.start_run(
            runtime(),
            body["workflow_id"],
            body["input"],
            profile=PROFILE,
            options=_options(body),
            latest=True,
        )

    @executions_blp.arguments(s.ExecutionListArgs, location="query")
    @executions_blp.response(200, s.listing(s.ExecutionSummarySchema))
    def get(self, args):
        """List Executions"""
        return runs.list_runs(runtime(), **args)


@executions_blp.route("/<execution_id>")
class ExecutionById(MethodView):
    @executions_blp.response(200, s.ExecutionSchema)
    @executions_blp.error(404, "Execution not found")
    def get(self, execution_id):
        """Get Execution Status"""
        return runs.describe_run(runtime(), execution_id)


@executions_blp.route("/<execution_id>/cancel")
@operation(Operation.CONTROL)
class ExecutionCancel(MethodView):
    @executions_blp.response(200, s.CancelledSchema)
    @executions_blp.error(404, "Execution not found")
    @executions_blp.error(409, "The execution has already finished")
    def post(self, execution_id):
        """Cancel Execution"""
        return control.cancel_run(runtime(), execution_id)


@executions_blp.route("/<execution_id>/pause")
@operation(Operation.CONTROL)
class ExecutionPause(MethodView):
    @executions_blp.response(200, s.PausedSchema)
    @executions_blp.error(404, "Execution not found")
    @executions_blp.error(409, "The execution is not pending or running")
    def post(self, execution_id):
        """Pause Execution"""
        return control.pause_run(runtime(), execution_id)


@executions_blp.route("/<execution_id>/resume")
@operation(Operation.CONTROL)
class ExecutionResume(MethodView):
    @executions_blp.response(200, s.ResumedSchema)
    @executions_blp.error(404, "Execution not found")
    @executions_blp.error(409, "The execution is not paused")
    def post(self, execution_id):
        """Resume Execution"""
        return control.resume_run(runtime(), execution_id)


# -- templates ------------------------------------------------------------------------------------


@templates_blp.route("")
class Templates(MethodView):
    @operation(Operation.RUN)
    @templates_blp.arguments(s.TemplateBodySchema)
    @templates_blp.response(201, s.TemplateSchema)
    @templates_blp.error(404, "Workflow not found")
    @templates_blp.error(409, "A template with the same name already exists")
    def post(self, body):
        """Create Template"""
        return templates.create_template(runtime(), body, latest=True)

    @templates_blp.arguments(s.TemplateListArgs, location="query")
    @templates_blp.response(200, s.listing(s.TemplateSchema))
    def get(self, args):
        """List Templates"""
        return templates.list_templates(runtime(), **args)


@templates_blp.route("/<template_id>")
class TemplateById(MethodView):
    @templates_blp.response(200, s.TemplateSchema)
    @templates_blp.error(404, "Template not found")
    def get(self, template_id):
        """Get Template"""
        return templates.get_template(runtime(), template_id)


@templates_blp.route("/<template_id>/instantiate")
@operation(Operation.RUN)
class TemplateInstantiate(MethodView):
    @templates_blp.arguments(s.InstantiateBodySchema)
    @templates_blp.response(201, s.InstantiatedSchema)
    @templates_blp.error(404, "Template not found")
    @templates_blp.error(409, "A workflow with that name already exists")
    def post(self, body, template_id):
        """Instantiate Template"""
        return templates.instantiate_template(runtime(), template_id, body)


# -- state ----------------------------------------------------------------------------------------


@state_blp.route("/checkpoints")
class Checkpoints(MethodView):
    @operation(Operation.CONTROL)
    @state_blp.arguments(s.CheckpointBodySchema)
    @state_blp.response(201, s.CheckpointSchema)
    @state_blp.error(404, "Execution not found")
    def post(self, body):
        """Create Checkpoint"""
        return checkpoints.create_checkpoint(
            runtime(),
            body["execution_id"],
            name=body.get("name"),
            description=body.get("description"),
        )

    @state_blp.arguments(s.CheckpointListArgs, location="query")
    @state_blp.response(200, s.listing(s.CheckpointSummarySchema))
    def get(self, args):
        """List Checkpoints"""
        return checkpoints.list_checkpoints(
            runtime(), window=args["window"], run_id=args.get("execution_id")
        )


@state_blp.route("/checkpoints/<checkpoint_id>")
class CheckpointById(MethodView):
    @state_blp.response(200, s.CheckpointSchema)
    @state_blp.error(404, "Checkpoint not found")
    def get(self, checkpoint_id):
        """Get Checkpoint"""
        return checkpoints.get_checkpoint(runtime(), checkpoint_id)


@state_blp.route("/restore")
@operation(Operation.RUN)
class Restore(MethodView):
    @state_blp.arguments(s.RestoreBodySchema)
    @state_blp.response(202, s.RestoredSchema)
    @state_blp.error(404, "Checkpoint not found")
    def post(self, body):
        """Restore from Checkpoint"""
        return checkpoints.restore_checkpoint_detail(
            runtime(), body["checkpoint_id"], profile=PROFILE, options=_options(body)
        )
