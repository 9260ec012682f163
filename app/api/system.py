"""``/health`` (liveness, each component checked), ``/health/ready`` (readiness with per-check
messages) and ``/metrics`` (Prometheus text, or seed 004's JSON for ``Accept: application/json``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app import VERSION
from app.api.operations import Operation, operation
from app.extensions import runtime
from app.schemas.system import HealthSchema, MetricsSummarySchema, ReadySchema
from app.services.health import liveness, readiness
from app.services.metrics import execution_summary, prometheus_exposition

blp = Blueprint("system", __name__, description="System and health")

JSON = "application/json"
# What a Prometheus server or a browser accepts first gets the text format; JSON only when it is
# preferred.
EXPOSITION = ("text/plain", "application/openmetrics-text", JSON)
# The text format, documented beside the JSON one (the default; OpenMetrics when asked for).
PROMETHEUS_TEXT = {
    "schema": {"type": "string"},
    "example": "# HELP harmonia_runs_total Runs that reached a final status\n"
    '# TYPE harmonia_runs_total counter\nharmonia_runs_total{status="completed"} 3.0\n',
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@blp.route("/health")
@operation(Operation.OPEN)
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self):
        """Liveness: this process answers; the database, Redis and the Celery workers are each
        checked (half a second at most). Always 200: the body says what is down"""
        uptime = time.time() - current_app.config["HARMONIA_STARTED"]
        return {
            "timestamp": _now(),
            "version": VERSION,
            "uptime_seconds": round(uptime, 2),
            "uptime": int(uptime),
            **liveness(runtime()),
        }


@blp.route("/health/ready")
@operation(Operation.PROBE)
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ReadySchema, description="A dependency is not ready")
    def get(self):
        """Readiness: database, Redis and at least one worker (open to anyone unless
        HARMONIA_PUBLIC_READY=false)"""
        result = readiness(runtime())
        return {"timestamp": _now(), **result}, (200 if result["ready"] else 503)


@blp.route("/metrics")
@operation(Operation.PROBE)
class Metrics(MethodView):
    @blp.response(
        200,
        MetricsSummarySchema,
        content_type=JSON,
        description="Prometheus text by default; seed 004's summary for Accept: application/json",
    )
    @blp.doc(
        responses={
            200: {
                "content": {
                    "text/plain": PROMETHEUS_TEXT,
                    "application/openmetrics-text": {"schema": {"type": "string"}},
                }
            }
        }
    )
    def get(self):
        """Metrics of every API and worker process: Prometheus text, or with
        ``Accept: application/json`` the executions, steps, timings and resource use (open to
        anyone unless HARMONIA_PUBLIC_READY=false)"""
        if request.accept_mimetypes.best_match(EXPOSITION) == JSON:
            return execution_summary(runtime())
        body, content_type = prometheus_exposition(
            runtime(), current_app.config["HARMONIA_STARTED"], request.headers.get("Accept")
        )
        return Response(body, content_type=content_type)
