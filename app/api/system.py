"""``/health`` (liveness) and ``/health/ready`` (readiness with per-check messages)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app import VERSION
from app.api.operations import Operation, operation
from app.extensions import runtime
from app.services.health import readiness

blp = Blueprint("system", __name__, description="System and health")


class HealthSchema(Schema):
    status = fields.String()
    timestamp = fields.String()
    version = fields.String()
    uptime_seconds = fields.Float()
    services = fields.Raw(allow_none=True)


class CheckSchema(Schema):
    status = fields.String()
    message = fields.String()
    response_time_ms = fields.Float(allow_none=True)


class ReadySchema(Schema):
    ready = fields.Boolean()
    timestamp = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.Nested(CheckSchema))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@blp.route("/health")
@operation(Operation.OPEN)
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self):
        """Liveness: the API process answers (no dependency is checked)"""
        started = current_app.config["HARMONIA_STARTED"]
        return {
            "status": "healthy",
            "timestamp": _now(),
            "version": VERSION,
            "uptime_seconds": round(time.time() - started, 2),
            "services": None,
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
