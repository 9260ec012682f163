"""``/api/v1/runs``: run monitoring — runs, their steps and their logs."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.extensions import runtime
from app.schemas.common import ApiErrorSchema
from app.schemas.runs import (
    LogArgs,
    RunListArgs,
    RunLogsSchema,
    RunPageSchema,
    RunSchema,
    StepDetailSchema,
    StepSchema,
)
from app.services import runs as service

blp = Blueprint("runs", __name__, url_prefix="/api/v1/runs", description="Run monitoring")


@blp.route("")
class Runs(MethodView):
    @blp.arguments(RunListArgs, location="query")
    @blp.response(200, RunPageSchema)
    def get(self, args):
        """List runs with filters and sorting"""
        with runtime().db.transaction() as session:
            return service.list_runs(session, **args)


@blp.route("/<run_id>")
class RunById(MethodView):
    @blp.response(200, RunSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, run_id):
        """Get a run"""
        with runtime().db.transaction() as session:
            return service.get_run(session, run_id)


@blp.route("/<run_id>/steps")
class RunSteps(MethodView):
    @blp.response(200, StepSchema(many=True))
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, run_id):
        """Step executions of a run, ordered by start time"""
        with runtime().db.transaction() as session:
            return service.list_steps(session, run_id)


@blp.route("/<run_id>/steps/<step_id>")
class RunStep(MethodView):
    @blp.response(200, StepDetailSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run or step does not exist")
    def get(self, run_id, step_id):
        """One step execution, with its stdout and stderr"""
        with runtime().db.transaction() as session:
            return service.get_step(session, run_id, step_id)


@blp.route("/<run_id>/logs")
class RunLogs(MethodView):
    @blp.arguments(LogArgs, location="query")
    @blp.response(200, RunLogsSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, args, run_id):
        """Engine lines and each step's stdout/stderr, in time order"""
        with runtime().db.transaction() as session:
            return service.run_logs(session, run_id, args.get("step_id"))
