"""``/api/v1/agents``: register, list, read, update, delete and health-check A2A agents."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.operations import Operation, operation
from app.extensions import runtime
from app.schemas.agents import (
    AgentCreateSchema,
    AgentHealthSchema,
    AgentListArgs,
    AgentPageSchema,
    AgentSchema,
    AgentUpdateSchema,
)
from app.schemas.common import ApiErrorSchema, MessageSchema
from app.services import agents as service

blp = Blueprint("agents", __name__, url_prefix="/api/v1/agents", description="Agent management")


@blp.route("")
class Agents(MethodView):
    @operation(Operation.ADMIN)
    @blp.arguments(AgentCreateSchema)
    @blp.response(201, AgentSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Agent name already exists")
    def post(self, body):
        """Register an agent"""
        return service.create_agent(runtime(), body)

    @blp.arguments(AgentListArgs, location="query")
    @blp.response(200, AgentPageSchema)
    def get(self, args):
        """List agents"""
        return service.list_agents(runtime(), **args)


@blp.route("/<agent_id>")
class AgentById(MethodView):
    @blp.response(200, AgentSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Agent does not exist")
    def get(self, agent_id):
        """Get an agent"""
        return service.get_agent(runtime(), agent_id)

    @operation(Operation.ADMIN)
    @blp.arguments(AgentUpdateSchema)
    @blp.response(200, AgentSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Agent does not exist")
    def put(self, body, agent_id):
        """Update an agent (only the fields given)"""
        return service.update_agent(runtime(), agent_id, body)

    @operation(Operation.ADMIN)
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Agent does not exist")
    def delete(self, agent_id):
        """Delete an agent (soft delete)"""
        service.delete_agent(runtime(), agent_id)
        return {"message": f"Agent '{agent_id}' deleted successfully"}


@blp.route("/<agent_id>/health")
class AgentHealth(MethodView):
    @blp.response(200, AgentHealthSchema)
    @blp.alt_response(404, schema=ApiErrorSchema, description="Agent does not exist")
    def get(self, agent_id):
        """Check an agent's health by calling its /health endpoint"""
        return service.check_agent_health(runtime(), agent_id)
