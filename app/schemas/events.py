"""Event schemas: the union shape served to every client (DESIGN §6)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.events.model import render_event
from app.events.stream import MAX_EVENT_ID
from app.schemas.common import PageArgs, PageSchema


class EventSchema(Schema):
    event_id = fields.Integer()
    id = fields.Integer()
    type = fields.String()
    event_type = fields.String()
    execution_id = fields.String(allow_none=True)
    run_id = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    step_id = fields.String(allow_none=True)
    invocation_id = fields.String(allow_none=True)
    timestamp = fields.String()
    data = fields.Dict()
    details = fields.Dict()
    payload = fields.Dict()
    message = fields.String(allow_none=True)

    def dump(self, obj, *, many=None):  # rows become the union shape first
        many = self.many if many is None else many
        rendered = [render_event(o) for o in obj] if many else render_event(obj)
        return super().dump(rendered, many=many)


class EventListArgs(PageArgs):
    type = fields.String(validate=validate.Length(min=1, max=64))
    run_id = fields.String()
    invocation_id = fields.String(metadata={"description": "a direct invocation's events"})
    from_date = fields.AwareDateTime(default_timezone=None)
    to_date = fields.AwareDateTime(default_timezone=None)
    after_event_id = fields.Integer(validate=validate.Range(min=0, max=MAX_EVENT_ID))
    sort_order = fields.String(
        load_default="asc",
        validate=validate.OneOf(["asc", "desc"]),
        metadata={"description": "By event id: asc (oldest first, the default) or desc"},
    )


class RunEventListArgs(PageArgs):
    type = fields.String(validate=validate.Length(min=1, max=64))
    after_event_id = fields.Integer(validate=validate.Range(min=0, max=MAX_EVENT_ID))


class EventPageSchema(PageSchema):
    items = fields.List(fields.Nested(EventSchema))
