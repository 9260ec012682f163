"""Seed 000's REST paths: ``/api/workflows``, ``/api/executions``, ``/api/templates``,
``/api/checkpoints`` and ``/api/state``. Each view parses, calls one service, renders."""

from __future__ import annotations

from flask.views import MethodView

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.profiles.base import ProfileBlueprint
from app.profiles.seed000 import schemas as s
from app.profiles.seed000.errors import ERRORS
from app.services import checkpoints, control, run_state, runs, templates, workflows

TITLE = "Harmonia API Reference (seed 000)"
INVALID = 400  # the document answers every invalid request with 400 ValidationError


def _blueprint(name: str, prefix: str, what: str) -> ProfileBlueprint:
    return ProfileBlueprint(
        f"000 {name}", __name__, prefix, f"{TITLE}: {what}", errors=ERRORS, invalid_status=INVALID
    )


workflows_blp = _blueprint("workflows", "/api/workflows", "workflow management")
executions_blp = _blueprint("executions", "/api/executions", "execution management")
templates_blp = _blueprint("templates", "/api/templates", "template management")
checkpoints_blp = _blueprint("checkpoints", "/api/checkpoints", "checkpoints")
state_blp = _blueprint("state", "/api/state", "custom execution state")
BLUEPRINTS = (workflows_blp, executions_blp, templates_blp, checkpoints_blp, state_blp)


# -- workflows ------------------------------------------------------------------------------------


@workflows_blp.route("")
class Workflows(MethodView):
    @operation(Operation.RUN)
    @workflows_blp.arguments(s.WorkflowBodySchema)
    @workflows_blp.response(201, s.WorkflowCreatedSchema)
    @workflows_blp.error(409, "A workflow with the same name already exists")
    def post(self, body):
        """Create Workflow"""
        return workflows.create_workflow(runtime(), body)

    @workflows_blp.arguments(s.WorkflowListArgs, location="query")
    @workflows_blp.response(200, s.listing("workflows", s.WorkflowSummarySchema))
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
    @workflows_blp.arguments(s.WorkflowBodySchema)
    @workflows_blp.response(200, s.WorkflowUpdatedSchema)
    @workflows_blp.error(404, "Workflow not found")
    def put(self, body, workflow_id):
        """Update Workflow"""
        return workflows.update_workflow(runtime(), workflow_id, body)

    @operation(Operation.CONTROL)
    @workflows_blp.response(200, s.SuccessSchema)
    @workflows_blp.error(404, "Workflow not found")
    @workflows_blp.error(409, "Cannot delete workflow with active executions")
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
            profile="seed000",
            options={"metadata": body["metadata"]} if body["metadata"] else None,
            latest=True,
        )

    @executions_blp.arguments(s.ExecutionListArgs, location="query")
    @executions_blp.response(200, s.listing("executions", s.ExecutionSummarySchema))
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
    @executions_blp.arguments(s.ReasonSchema, required=False)
    @executions_blp.response(200, s.ControlledSchema)
    @executions_blp.error(404, "Execution not found")
    @executions_blp.error(409, "Cannot cancel execution (already completed/failed)")
    def post(self, body, execution_id):
        """Cancel Execution"""
        return control.cancel_run(runtime(), execution_id, (body or {}).get("reason"))


@executions_blp.route("/<execution_id>/pause")
@operation(Operation.CONTROL)
class ExecutionPause(MethodView):
    @executions_blp.arguments(s.ReasonSchema, required=False)
    @executions_blp.response(200, s.ControlledSchema)
    @executions_blp.error(404, "Execution not found")
    @executions_blp.error(409, "Cannot pause execution (not running)")
    def post(self, body, execution_id):
        """Pause Execution"""
        return control.pause_run(runtime(), execution_id, (body or {}).get("reason"))


@executions_blp.route("/<execution_id>/resume")
@operation(Operation.CONTROL)
class ExecutionResume(MethodView):
    @executions_blp.response(200, s.ControlledSchema)
    @executions_blp.error(404, "Execution not found")
    @executions_blp.error(409, "Cannot resume execution (not paused)")
    def post(self, execution_id):
        """Resume Execution"""
        return control.resume_run(runtime(), execution_id)


# -- templates ------------------------------------------------------------------------------------


@templates_blp.route("")
class Templates(MethodView):
    @operation(Operation.RUN)
    @templates_blp.arguments(s.TemplateBodySchema)
    @templates_blp.response(201, s.TemplateCreatedSchema)
    @templates_blp.error(404, "Workflow definition not found")
    @templates_blp.error(409, "Template with the same name already exists")
    def post(self, body):
        """Create Template"""
        return templates.create_template(runtime(), body)

    @templates_blp.arguments(s.LimitOffsetArgs, location="query")
    @templates_blp.response(200, s.listing("templates", s.TemplateSummarySchema))
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
    def post(self, body, template_id):
        """Instantiate Template"""
        return templates.instantiate_template(runtime(), template_id, body)


# -- checkpoints ----------------------------------------------------------------------------------


@checkpoints_blp.route("")
class Checkpoints(MethodView):
    @operation(Operation.CONTROL)
    @checkpoints_blp.arguments(s.CheckpointBodySchema)
    @checkpoints_blp.response(201, s.CheckpointCreatedSchema)
    @checkpoints_blp.error(404, "Execution not found")
    def post(self, body):
        """Create Checkpoint"""
        return checkpoints.create_checkpoint(
            runtime(),
            body["execution_id"],
            name=body.get("name"),
            description=body.get("description"),
        )

    @checkpoints_blp.arguments(s.CheckpointListArgs, location="query")
    @checkpoints_blp.response(200, s.listing("checkpoints", s.CheckpointSummarySchema))
    def get(self, args):
        """List Checkpoints"""
        return checkpoints.list_checkpoints(
            runtime(), window=args["window"], run_id=args.get("execution_id")
        )


@checkpoints_blp.route("/<checkpoint_id>")
class CheckpointById(MethodView):
    @checkpoints_blp.response(200, s.CheckpointSchema)
    @checkpoints_blp.error(404, "Checkpoint not found")
    def get(self, checkpoint_id):
        """Get Checkpoint"""
        return checkpoints.get_checkpoint(runtime(), checkpoint_id)


@checkpoints_blp.route("/<checkpoint_id>/restore")
@operation(Operation.RUN)
class CheckpointRestore(MethodView):
    @checkpoints_blp.response(201, s.RestoredSchema)
    @checkpoints_blp.error(404, "Checkpoint not found")
    def post(self, checkpoint_id):
        """Restore From Checkpoint"""
        return checkpoints.restore_checkpoint(runtime(), checkpoint_id, profile="seed000")


# -- state ----------------------------------------------------------------------------------------


@state_blp.route("/<execution_id>")
class State(MethodView):
    @state_blp.response(200, s.StateSchema)
    @state_blp.error(404, "Execution or state not found")
    def get(self, execution_id):
        """Load State"""
        return run_state.get_run_state(runtime(), execution_id, saved_only=True)

    @operation(Operation.CONTROL)
    @state_blp.arguments(s.SaveStateSchema)
    @state_blp.response(200, s.StateSavedSchema)
    @state_blp.error(404, "Execution not found")
    def put(self, body, execution_id):
        """Save State"""
        return run_state.save_run_state(runtime(), execution_id, body["state"])
