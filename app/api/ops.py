"""``/api/v1/ops``: the Celery workers and queues, seen and steered through Celery itself.

Every route here, reads included, is an ``OPERATE`` operation: an operator or an admin may call
it, a viewer may not. The reads show the fleet's insides (task arguments' run ids, process ids,
broker queues) and the controls change what every run experiences, so they sit with the roles
that already run and steer work; ``OPERATE`` rather than ``CONTROL`` keeps the policy able to move
the ops console alone (to admin, say) without touching run control. Each control answers with the
workers' replies and is recorded as an ``ops_<action>`` event naming who sent it.
"""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.schemas.common import ApiErrorSchema
from app.schemas.ops import (
    AutoscaleSchema,
    ConsumerSchema,
    ControlResultSchema,
    PoolResizeSchema,
    QueueListSchema,
    RateLimitSchema,
    RevokeSchema,
    WorkerListSchema,
    WorkerSchema,
)
from app.services import ops as service

blp = Blueprint(
    "ops",
    __name__,
    url_prefix="/api/v1/ops",
    description="Ops: the Celery workers and queues as Celery and the broker report them, and "
    "remote control of them (operator or admin; every control is an audit event).",
)

NOT_FOUND = {"schema": ApiErrorSchema, "description": "No worker by that name answered"}
UNKNOWN = {
    "schema": ApiErrorSchema,
    "description": "No worker by that name answered, and the monitor did not hear from it lately",
}


def _by() -> str:
    return g.identity.name


@blp.route("/workers")
@operation(Operation.OPERATE)
class Workers(MethodView):
    @blp.response(200, WorkerListSchema)
    def get(self):
        """The workers that answer Celery's inspection, with their pools, tasks and queues, and
        those the fleet monitor heard from lately that do not (offline or unresponsive)"""
        workers = service.list_workers(runtime())
        return {"items": workers, "total": len(workers)}


@blp.route("/workers/<hostname>")
@operation(Operation.OPERATE)
class WorkerByName(MethodView):
    @blp.response(200, WorkerSchema)
    @blp.alt_response(404, **UNKNOWN)
    def get(self, hostname):
        """One worker, live or as the fleet monitor last heard it"""
        return service.get_worker(runtime(), hostname)


@blp.route("/workers/<hostname>/pool")
@operation(Operation.OPERATE)
class WorkerPool(MethodView):
    @blp.arguments(PoolResizeSchema)
    @blp.response(200, ControlResultSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def post(self, body, hostname):
        """Grow or shrink a worker's pool by ``n`` processes"""
        if "grow" in body:
            return service.grow_pool(runtime(), hostname, body["grow"], by=_by())
        return service.shrink_pool(runtime(), hostname, body["shrink"], by=_by())


@blp.route("/workers/<hostname>/autoscale")
@operation(Operation.OPERATE)
class WorkerAutoscale(MethodView):
    @blp.arguments(AutoscaleSchema)
    @blp.response(200, ControlResultSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def post(self, body, hostname):
        """Set a worker's autoscale bounds (its reply is an error unless it runs --autoscale)"""
        return service.autoscale(runtime(), hostname, body["max"], body["min"], by=_by())


@blp.route("/workers/<hostname>/consumers")
@operation(Operation.OPERATE)
class WorkerConsumers(MethodView):
    @blp.arguments(ConsumerSchema)
    @blp.response(200, ControlResultSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def post(self, body, hostname):
        """Make a worker consume a queue too"""
        return service.add_consumer(runtime(), hostname, body["queue"], by=_by())


@blp.route("/workers/<hostname>/consumers/<queue>")
@operation(Operation.OPERATE)
class WorkerConsumer(MethodView):
    @blp.response(200, ControlResultSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def delete(self, hostname, queue):
        """Make a worker stop consuming a queue"""
        return service.cancel_consumer(runtime(), hostname, queue, by=_by())


@blp.route("/workers/<hostname>/shutdown")
@operation(Operation.OPERATE)
class WorkerShutdown(MethodView):
    @blp.response(200, ControlResultSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def post(self, hostname):
        """Warm shutdown of one worker: it finishes its running tasks, then exits (no reply)"""
        return service.shutdown_worker(runtime(), hostname, by=_by())


@blp.route("/queues")
@operation(Operation.OPERATE)
class Queues(MethodView):
    @blp.response(200, QueueListSchema)
    def get(self):
        """Each Celery queue: messages waiting on the broker and the workers consuming it"""
        queues = service.list_queues(runtime())
        return {"items": queues, "total": len(queues)}


@blp.route("/rate-limits")
@operation(Operation.OPERATE)
class RateLimits(MethodView):
    @blp.arguments(RateLimitSchema)
    @blp.response(200, ControlResultSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def post(self, body):
        """Set a task type's rate limit on one worker, or on all ('0' lifts it)"""
        return service.set_rate_limit(
            runtime(), body["task_name"], body["rate"], hostname=body.get("hostname"), by=_by()
        )


@blp.route("/tasks/<celery_task_id>/revoke")
@operation(Operation.OPERATE)
class TaskRevoke(MethodView):
    @blp.arguments(RevokeSchema)
    @blp.response(200, ControlResultSchema)
    def post(self, body, celery_task_id):
        """Revoke one Celery task on every worker (``terminate``: kill it if it runs). A run's
        task is better cancelled through its run"""
        return service.revoke_task(runtime(), celery_task_id, terminate=body["terminate"], by=_by())
