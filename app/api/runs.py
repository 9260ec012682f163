"""``/api/v1/runs``: run monitoring — runs, their steps, logs and progress, and their control."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.schemas.common import ApiErrorSchema
from app.schemas.progress import ProgressReportSchema
from app.schemas.runs import (
    LogArgs,
    ReasonSchema,
    RetrySchema,
    RunListArgs,
    RunLogsSchema,
    RunPageSchema,
    RunSchema,
    RunStateSchema,
    RunVariablesSchema,
    SaveStateSchema,
    StepDetailSchema,
    StepRetrySchema,
    StepSchema,
)
from app.services import control, progress, run_state
from app.services import runs as service

blp = Blueprint("runs", __name__, url_prefix="/api/v1/runs", description="Run monitoring")


@blp.route("")
class Runs(MethodView):
    @blp.arguments(RunListArgs, location="query")
    @blp.response(200, RunPageSchema)
    def get(self, args):
        """List runs with filters and sorting"""
        return service.list_runs(runtime(), **args)


@blp.route("/<run_id>")
class RunById(MethodView):
    @blp.response(200, RunSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, run_id):
        """Get a run"""
        return service.get_run(runtime(), run_id)


@blp.route("/<run_id>/steps")
class RunSteps(MethodView):
    @blp.response(200, StepSchema(many=True))
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, run_id):
        """Step executions of a run, ordered by start time"""
        return service.list_steps(runtime(), run_id)


@blp.route("/<run_id>/steps/<step_id>")
class RunStep(MethodView):
    @blp.response(200, StepDetailSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run or step does not exist")
    def get(self, run_id, step_id):
        """One step execution, with its stdout and stderr"""
        return service.get_step(runtime(), run_id, step_id)


@blp.route("/<run_id>/logs")
class RunLogs(MethodView):
    @blp.arguments(LogArgs, location="query")
    @blp.response(200, RunLogsSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, args, run_id):
        """Engine lines and each step's stdout/stderr, in time order"""
        return service.run_logs(runtime(), run_id, args.get("step_id"))


@blp.route("/<run_id>/progress")
class RunProgress(MethodView):
    @blp.response(200, ProgressReportSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, run_id):
        """Progress report: tasks done, an estimated completion, blockers and milestones"""
        return progress.progress_report(runtime(), run_id)


@blp.route("/<run_id>/pause")
@operation(Operation.CONTROL)
class RunPause(MethodView):
    @blp.arguments(ReasonSchema, required=False)
    @blp.response(200, RunSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Run is not PENDING or RUNNING")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def post(self, body, run_id):
        """Pause: running tasks finish, nothing new starts (PAUSING until nothing runs)"""
        return control.pause_run(runtime(), run_id, (body or {}).get("reason"))


@blp.route("/<run_id>/resume")
@operation(Operation.CONTROL)
class RunResume(MethodView):
    @blp.response(200, RunSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Run is not PAUSED or PAUSING")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def post(self, run_id):
        """Resume a paused run from where it stopped (completed steps are not run again)"""
        return control.resume_run(runtime(), run_id)


@blp.route("/<run_id>/cancel")
@operation(Operation.CONTROL)
class RunCancel(MethodView):
    @blp.arguments(ReasonSchema, required=False)
    @blp.response(200, RunSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Run is already finished")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def post(self, body, run_id):
        """Cancel: stop running tasks (and their processes) and run nothing more"""
        return control.cancel_run(runtime(), run_id, (body or {}).get("reason"))


@blp.route("/<run_id>/retry")
@operation(Operation.CONTROL)
class RunRetry(MethodView):
    @blp.arguments(RetrySchema, required=False)
    @blp.response(202, RunSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Run is not FAILED or CANCELLED")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def post(self, _body, run_id):
        """Retry a failed or cancelled run from its last incomplete steps"""
        return control.retry_run(runtime(), run_id)


@blp.route("/<run_id>/steps/<step_id>/retry")
@operation(Operation.CONTROL)
class StepRetry(MethodView):
    @blp.arguments(StepRetrySchema, required=False)
    @blp.response(202, RunSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Run is still active")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run or step does not exist")
    def post(self, body, run_id, step_id):
        """Rerun one step and everything downstream of it, optionally with a new input"""
        return control.rerun_from_step(runtime(), run_id, step_id, (body or {}).get("input"))


@blp.route("/<run_id>/state")
class RunState(MethodView):
    @blp.response(200, RunStateSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, run_id):
        """The run's custom state (empty until something sets it)"""
        return run_state.get_run_state(runtime(), run_id)

    @operation(Operation.CONTROL)
    @blp.arguments(SaveStateSchema)
    @blp.response(200, RunStateSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    @blp.alt_response(413, schema=ApiErrorSchema, description="State over HARMONIA_MAX_STATE_BYTES")
    def put(self, body, run_id):
        """Replace the run's custom state; tasks read it as ${state.key}"""
        return run_state.save_run_state(runtime(), run_id, body["state"])


@blp.route("/<run_id>/variables")
class RunVariables(MethodView):
    @blp.response(200, RunVariablesSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, run_id):
        """Run input, variables, and <step>_output of every completed step (seed 004)"""
        return service.run_variables(runtime(), run_id)
