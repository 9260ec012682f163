"""``/api/v1/events``: the persisted event log, filterable and paginated."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.extensions import runtime
from app.schemas.common import ApiErrorSchema
from app.schemas.events import EventListArgs, EventPageSchema, EventSchema, RunEventListArgs
from app.services import events as service

blp = Blueprint("events", __name__, url_prefix="/api/v1", description="Event log")


@blp.route("/events")
class Events(MethodView):
    @blp.arguments(EventListArgs, location="query")
    @blp.response(200, EventPageSchema)
    def get(self, args):
        """List events (filters: type, run_id, invocation_id, from_date, to_date, after_event_id)"""
        return service.list_events(runtime(), **args)


@blp.route("/events/<int:event_id>")
class EventById(MethodView):
    @blp.response(200, EventSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Event does not exist")
    def get(self, event_id):
        """Get one event"""
        return service.get_event(runtime(), event_id)


@blp.route("/runs/<run_id>/events")
class RunEvents(MethodView):
    @blp.arguments(RunEventListArgs, location="query")
    @blp.response(200, EventPageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Run does not exist")
    def get(self, args, run_id):
        """A run's events in order"""
        return service.list_run_events(runtime(), run_id, **args)
