"""Checkpoints: take one of a run, list and read them, restore a new run from one."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.schemas.checkpoints import (
    CheckpointCreateSchema,
    CheckpointListArgs,
    CheckpointPageSchema,
    CheckpointSchema,
    RestoreSchema,
)
from app.schemas.common import ApiErrorSchema, MessageSchema, PageArgs
from app.schemas.runs import RunSchema
from app.services import checkpoints as service

blp = Blueprint(
    "checkpoints", __name__, url_prefix="/api/v1", description="Checkpoints and restore"
)


@blp.route("/runs/<run_id>/checkpoints")
class RunCheckpoints(MethodView):
    @operation(Operation.CONTROL)
    @blp.arguments(CheckpointCreateSchema, required=False)
    @blp.response(201, CheckpointSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def post(self, body, run_id):
        """Checkpoint a run: status, every step's status and output, input, variables, state"""
        body = body or {}
        return service.create_checkpoint(
            runtime(), run_id, name=body.get("name"), description=body.get("description")
        )

    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CheckpointPageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, args, run_id):
        """A run's checkpoints, newest first"""
        return service.list_run_checkpoints(runtime(), run_id, **args)


@blp.route("/checkpoints")
class Checkpoints(MethodView):
    @blp.arguments(CheckpointListArgs, location="query")
    @blp.response(200, CheckpointPageSchema)
    def get(self, args):
        """List checkpoints, newest first (filter by run_id)"""
        return service.list_checkpoints(runtime(), **args)


@blp.route("/checkpoints/<checkpoint_id>")
class CheckpointById(MethodView):
    @blp.response(200, CheckpointSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Checkpoint does not exist")
    def get(self, checkpoint_id):
        """A checkpoint with its snapshot of every step"""
        return service.get_checkpoint(runtime(), checkpoint_id)

    @operation(Operation.CONTROL)
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Checkpoint does not exist")
    def delete(self, checkpoint_id):
        """Delete a checkpoint (runs restored from it are not affected)"""
        service.delete_checkpoint(runtime(), checkpoint_id)
        return {"message": f"Checkpoint '{checkpoint_id}' deleted successfully"}


@blp.route("/checkpoints/<checkpoint_id>/restore")
@operation(Operation.CONTROL)
class CheckpointRestore(MethodView):
    @blp.arguments(RestoreSchema, required=False)
    @blp.response(201, RunSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Its workflow version is gone")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Checkpoint does not exist")
    def post(self, body, checkpoint_id):
        """Start a NEW run from a checkpoint: done steps keep their outputs, the rest runs"""
        triggered_by = (body or {}).get("triggered_by", "system")
        return service.restore_checkpoint(runtime(), checkpoint_id, triggered_by=triggered_by)
