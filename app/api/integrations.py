"""``/api/v1/integrations``: the built-in integration catalogue and direct invocations.

The ``/invocations`` routes are registered first and are static, so Werkzeug matches them before
``/<integration_id>`` (no integration can be called "invocations").
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.schemas.common import ApiErrorSchema
from app.schemas.integrations import (
    CapabilityListSchema,
    CapabilitySchema,
    IntegrationDetailSchema,
    IntegrationListArgs,
    IntegrationPageSchema,
    InvocationCreateSchema,
    InvocationListArgs,
    InvocationPageSchema,
    InvocationSchema,
)
from app.services import integrations as service

blp = Blueprint(
    "integrations",
    __name__,
    url_prefix="/api/v1/integrations",
    description="Built-in integrations, their capabilities, and direct invocations",
)


@blp.route("/invocations")
class Invocations(MethodView):
    @blp.arguments(InvocationListArgs, location="query")
    @blp.response(200, InvocationPageSchema)
    def get(self, args):
        """List invocations, newest first"""
        return service.list_invocations(runtime(), **args)


@blp.route("/invocations/<invocation_id>")
class InvocationById(MethodView):
    @blp.response(200, InvocationSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Invocation does not exist")
    def get(self, invocation_id):
        """Get an invocation: its status, output or error"""
        return service.get_invocation(runtime(), invocation_id)


@blp.route("")
class Integrations(MethodView):
    @blp.arguments(IntegrationListArgs, location="query")
    @blp.response(200, IntegrationPageSchema)
    def get(self, args):
        """List the built-in integrations"""
        return service.list_integrations(runtime().settings, **args)


@blp.route("/<integration_id>")
class IntegrationById(MethodView):
    @blp.response(200, IntegrationDetailSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Integration does not exist")
    def get(self, integration_id):
        """Get an integration, with the JSON Schema of each capability's parameters"""
        return service.get_integration(runtime().settings, integration_id)


@blp.route("/<integration_id>/capabilities")
class Capabilities(MethodView):
    @blp.response(200, CapabilityListSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Integration does not exist")
    def get(self, integration_id):
        """List an integration's capabilities"""
        return service.list_capabilities(integration_id)


@blp.route("/<integration_id>/capabilities/<capability_id>")
class CapabilityById(MethodView):
    @blp.response(200, CapabilitySchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Unknown integration or capability")
    def get(self, integration_id, capability_id):
        """Get one capability"""
        return service.get_capability(integration_id, capability_id)

    @operation(Operation.RUN)
    @blp.arguments(InvocationCreateSchema)
    @blp.response(202, InvocationSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Invalid parameters, or disabled")
    @blp.alt_response(404, schema=ApiErrorSchema, description="Unknown integration or capability")
    def post(self, body, integration_id, capability_id):
        """Invoke a capability on a worker; poll GET /invocations/{id} for its outcome"""
        invocation = service.invoke_capability(runtime(), integration_id, capability_id, body)
        return invocation, {"Location": f"{blp.url_prefix}/invocations/{invocation.id}"}
