"""``/api/v1/webhooks``: endpoints that receive run events, signed, retried, in order."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.events.vocabulary import EVENTS
from app.extensions import runtime
from app.schemas.common import ApiErrorSchema
from app.schemas.webhooks import (
    DeliveryDetailSchema,
    DeliveryListArgs,
    DeliveryPageSchema,
    DeliverySchema,
    EventNameSchema,
    TestResultSchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookListArgs,
    WebhookPageSchema,
    WebhookPayloadSchema,
    WebhookSchema,
    WebhookTestSchema,
    WebhookUpdateSchema,
)
from app.services import delivery
from app.services import webhooks as service

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Webhooks: run events POSTed to your endpoints, signed, retried, in order. "
    "Every request carries `X-Harmonia-Event`, `X-Harmonia-Delivery` (deduplicate on it) and, "
    'with a secret, `X-Harmonia-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` '
    "(see the `webhooks` section of this spec for each event's payload).",
)

NOT_FOUND = {"schema": ApiErrorSchema, "description": "Webhook does not exist"}
REFUSED = {"schema": ApiErrorSchema, "description": "Invalid body, or a URL the SSRF guard refuses"}


@blp.route("")
class Webhooks(MethodView):
    @operation(Operation.ADMIN)
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookCreatedSchema)
    @blp.alt_response(422, **REFUSED)
    def post(self, body):
        """Register a webhook (its secret is shown in this answer only)"""
        return service.create_webhook(runtime(), body, created_by=g.identity.name)

    @blp.arguments(WebhookListArgs, location="query")
    @blp.response(200, WebhookPageSchema)
    def get(self, args):
        """List webhooks"""
        return service.list_webhooks(runtime(), **args)


@blp.route("/events")
class WebhookEvents(MethodView):
    @blp.response(200, EventNameSchema(many=True))
    def get(self):
        """The events a webhook can subscribe to, in each vocabulary"""
        return [
            {
                "type": e.internal,
                "name": e.dotted,
                "synthesis_name": e.synthesis,
                "description": e.description,
            }
            for e in EVENTS
        ]


@blp.route("/test")
class AdHocTest(MethodView):
    @operation(Operation.ADMIN)
    @blp.arguments(WebhookTestSchema)
    @blp.response(200, TestResultSchema)
    @blp.alt_response(422, **REFUSED)
    def post(self, body):
        """Send one signed test request to any URL (nothing is stored)"""
        return delivery.test_url(runtime(), body)


@blp.route("/<webhook_id>")
class WebhookById(MethodView):
    @blp.response(200, WebhookSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def get(self, webhook_id):
        """Get a webhook"""
        return service.get_webhook(runtime(), webhook_id)

    @operation(Operation.ADMIN)
    @blp.arguments(WebhookUpdateSchema)
    @blp.response(200, WebhookSchema)
    @blp.alt_response(404, **NOT_FOUND)
    @blp.alt_response(422, **REFUSED)
    def put(self, body, webhook_id):
        """Update a webhook (only the fields given; `active: true` re-enables it)"""
        return service.update_webhook(runtime(), webhook_id, body)

    @operation(Operation.ADMIN)
    @blp.response(204)
    @blp.alt_response(404, **NOT_FOUND)
    def delete(self, webhook_id):
        """Delete a webhook and its delivery history"""
        service.delete_webhook(runtime(), webhook_id)


@blp.route("/<webhook_id>/test")
class WebhookTest(MethodView):
    @operation(Operation.ADMIN)
    @blp.response(200, TestResultSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def post(self, webhook_id):
        """Send a `webhook.test` delivery now (kept in the history, never retried)"""
        return delivery.test_webhook(runtime(), webhook_id)


@blp.route("/<webhook_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(DeliveryListArgs, location="query")
    @blp.response(200, DeliveryPageSchema)
    @blp.alt_response(404, **NOT_FOUND)
    def get(self, args, webhook_id):
        """A webhook's deliveries, newest first"""
        return service.list_deliveries(runtime(), webhook_id, **args)


@blp.route("/<webhook_id>/deliveries/<delivery_id>")
class DeliveryById(MethodView):
    @blp.response(200, DeliveryDetailSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Webhook or delivery not found")
    def get(self, webhook_id, delivery_id):
        """A delivery with every attempt"""
        return service.get_delivery(runtime(), webhook_id, delivery_id)


@blp.route("/<webhook_id>/deliveries/<delivery_id>/redeliver")
class Redeliver(MethodView):
    @operation(Operation.ADMIN)
    @blp.response(202, DeliverySchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Webhook or delivery not found")
    @blp.alt_response(400, schema=ApiErrorSchema, description="Pending already, or webhook off")
    def post(self, webhook_id, delivery_id):
        """Send a delivery again, with the same delivery id"""
        return delivery.redeliver(runtime(), webhook_id, delivery_id)


SIGNATURE = {
    "name": "X-Harmonia-Signature",
    "in": "header",
    "description": 'With a secret: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" '
    "keyed with the secret>`. Recompute it over the raw body, compare in constant time, and "
    "reject a `t` older than 5 minutes (replays).",
    "schema": {"type": "string", "example": "t=1764748800,v1=5257a869e7ecebeda32affa62cdca3fa"},
}
HEADERS = [
    SIGNATURE,
    {
        "name": "X-Harmonia-Event",
        "in": "header",
        "required": True,
        "description": "The event's dotted name",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Harmonia-Delivery",
        "in": "header",
        "required": True,
        "description": "The delivery id: the same on every attempt and redelivery, so "
        "receivers can deduplicate",
        "schema": {"type": "string", "format": "uuid"},
    },
    {
        "name": "X-Harmonia-Attempt",
        "in": "header",
        "description": "1 on the first attempt, then 2, 3…",
        "schema": {"type": "integer"},
    },
]


def document_webhooks(api) -> None:
    """The spec's ``webhooks`` section (OpenAPI 3.1): each event a webhook can receive, its
    headers and its payload, so receivers can be written (or generated) from the spec."""
    api.spec.components.schema("WebhookPayload", schema=WebhookPayloadSchema)
    payload = {"$ref": "#/components/schemas/WebhookPayload"}
    hooks = {}
    for event in EVENTS:
        data = {name: {"description": f"`{name}`"} for name in ("execution_id", *event.fields)}
        hooks[event.dotted] = {
            "post": {
                "summary": event.description,
                "description": f"`{event.dotted}` (internal type `{event.internal}`, seed 004 "
                f"`{event.synthesis}`). The event's own fields are in `data.data`: "
                + ", ".join(f"`{name}`" for name in event.fields),
                "tags": ["webhooks"],
                "parameters": HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "allOf": [
                                    payload,
                                    {
                                        "properties": {
                                            "event": {"const": event.dotted},
                                            "type": {"const": event.internal},
                                            "data": {
                                                "properties": {
                                                    "type": {"const": event.internal},
                                                    "data": {
                                                        "type": "object",
                                                        "properties": data,
                                                    },
                                                }
                                            },
                                        }
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "2XX": {
                        "description": "Delivered. Anything else (or no answer in time) is "
                        "a failed attempt, retried with backoff"
                    },
                },
                "security": [],
            }
        }
    api.spec.options["webhooks"] = hooks
