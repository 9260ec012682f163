"""Seed 004's REST paths: ``/api/plans``, ``/api/executions``, ``/api/integrations`` and
``/api/events`` (with ``/api/events/subscriptions``). Each view parses, calls one service,
renders.

``/api/executions`` is seed 000's path too. These views are mounted at
``/api/synthesis/executions``, where they are always seed 004's; ``app/profiles/routing.py``
sends a seed-004 request on the shared path here (a ``plan`` body, or a run created through
seed 004), so a client of either document uses the path its document gives.
"""

from __future__ import annotations

from flask.views import MethodView

from app.api.operations import Operation, operation
from app.events.model import render_event
from app.events.vocabulary import NOT_NOTIFIED, internal_types
from app.extensions import runtime
from app.profiles.base import ProfileBlueprint
from app.profiles.seed004 import schemas as s
from app.profiles.seed004.errors import ERRORS
from app.profiles.seed004.streams import event as rendered
from app.profiles.seed004.vocabulary import PROFILE, text_output
from app.services import control, events, integrations, plans, runs, webhooks
from app.services.pagination import Window

TITLE = "Synthesis API (seed 004)"
INVALID = 400  # the document's validation_error
EXECUTIONS = "/api/synthesis/executions"
# How long ``POST /api/integrations/…/capabilities/…`` waits for the result before it answers.
INVOKE_WAIT = 25.0


def _blueprint(name: str, prefix: str, what: str) -> ProfileBlueprint:
    return ProfileBlueprint(
        f"004 {name}", __name__, prefix, f"{TITLE}: {what}", errors=ERRORS, invalid_status=INVALID
    )


plans_blp = _blueprint("plans", "/api/plans", "execution plans")
executions_blp = _blueprint("executions", EXECUTIONS, "executions (also at /api/executions)")
integrations_blp = _blueprint("integrations", "/api/integrations", "integrations")
events_blp = _blueprint("events", "/api/events", "events and subscriptions")
BLUEPRINTS = (plans_blp, executions_blp, integrations_blp, events_blp)


def _creator(body) -> str:
    return (body.get("metadata") or {}).get("created_by") or "api"


# -- plans ----------------------------------------------------------------------------------------


@plans_blp.route("")
class Plans(MethodView):
    @operation(Operation.RUN)
    @plans_blp.arguments(s.PlanBodySchema)
    @plans_blp.response(201, s.PlanOutSchema)
    @plans_blp.error(400, "Invalid plan")
    @plans_blp.error(409, "A plan with the same name already exists")
    def post(self, body):
        """Create Plan"""
        return plans.create_plan(runtime(), body)

    @plans_blp.arguments(s.PlanListArgs, location="query")
    @plans_blp.response(200, s.listing("plans", s.PlanSummarySchema))
    def get(self, args):
        """List Plans"""
        return plans.list_plans(runtime(), **args)


@plans_blp.route("/<plan_id>")
class PlanById(MethodView):
    @plans_blp.response(200, s.PlanOutSchema)
    @plans_blp.error(404, "Plan not found")
    def get(self, plan_id):
        """Get Plan"""
        return plans.get_plan(runtime(), plan_id)

    @operation(Operation.RUN)
    @plans_blp.arguments(s.PlanBodySchema)
    @plans_blp.response(200, s.PlanOutSchema)
    @plans_blp.error(404, "Plan not found")
    @plans_blp.error(409, "A plan with the same name already exists")
    def put(self, body, plan_id):
        """Update Plan"""
        return plans.update_plan(runtime(), plan_id, body)

    @operation(Operation.CONTROL)
    @plans_blp.response(200, s.SuccessSchema)
    @plans_blp.error(404, "Plan not found")
    def delete(self, plan_id):
        """Delete Plan"""
        plans.delete_plan(runtime(), plan_id)
        return {"success": True, "message": "Plan deleted successfully"}


@plans_blp.route("/<plan_id>/execute")
class PlanExecute(MethodView):
    @operation(Operation.RUN)
    @plans_blp.arguments(s.RunBodySchema, required=False)
    @plans_blp.response(202, s.ExecutionStartedSchema)
    @plans_blp.error(404, "Plan not found")
    def post(self, body, plan_id):
        """Execute Plan: create an execution and start it"""
        body = body or {"variables": {}, "metadata": {}}
        return plans.execute_plan(
            runtime(),
            plan_id,
            variables=body["variables"],
            metadata=body["metadata"],
            triggered_by=_creator(body),
        )


# -- executions -----------------------------------------------------------------------------------


@executions_blp.route("")
class Executions(MethodView):
    @operation(Operation.RUN)
    @executions_blp.arguments(s.ExecutionBodySchema)
    @executions_blp.response(201, s.ExecutionCreatedSchema)
    @executions_blp.error(400, "Invalid plan")
    def post(self, body):
        """Create Execution (status ``created``; ``POST …/start`` runs it)"""
        return plans.create_execution(
            runtime(),
            body["plan"],
            variables=body["variables"],
            metadata=body["metadata"],
            triggered_by=_creator(body),
        )

    @executions_blp.arguments(s.ExecutionListArgs, location="query")
    @executions_blp.response(200, s.listing("executions", s.ExecutionSummarySchema))
    def get(self, args):
        """List Executions"""
        return runs.list_runs(runtime(), **args)


@executions_blp.route("/<execution_id>")
class ExecutionById(MethodView):
    @executions_blp.response(200, s.ExecutionSchema)
    @executions_blp.error(404, "Execution not found")
    def get(self, execution_id):
        """Get Execution Details"""
        return runs.describe_execution(runtime(), execution_id)


def _control(path: str, summary: str, schema, call, conflict: str):
    @executions_blp.route(f"/<execution_id>/{path}")
    @operation(Operation.RUN if path == "start" else Operation.CONTROL)
    class Control(MethodView):
        @executions_blp.response(200, schema)
        @executions_blp.error(404, "Execution not found")
        @executions_blp.error(409, conflict)
        def post(self, execution_id):
            return call(runtime(), execution_id)

    Control.post.__doc__ = summary
    Control.__name__ = f"Execution{path.title()}"
    return Control


_control(
    "start",
    "Start Execution (one in the created state)",
    s.StartedSchema,
    control.start_created_run,
    "The execution is not in the created state",
)
_control(
    "pause",
    "Pause Execution",
    s.PausedSchema,
    control.pause_run,
    "The execution is not running",
)
_control(
    "resume",
    "Resume Execution",
    s.ResumedSchema,
    control.resume_run,
    "The execution is not paused",
)
_control(
    "cancel",
    "Cancel Execution",
    s.CancelledSchema,
    control.cancel_run,
    "The execution has already finished",
)


@executions_blp.route("/<execution_id>/steps")
class ExecutionSteps(MethodView):
    @executions_blp.response(200, s.StepsSchema)
    @executions_blp.error(404, "Execution not found")
    def get(self, execution_id):
        """Get Execution Steps"""
        return runs.describe_execution(runtime(), execution_id)


@executions_blp.route("/<execution_id>/steps/<step_id>")
class ExecutionStep(MethodView):
    @executions_blp.response(200, s.StepDetailSchema)
    @executions_blp.error(404, "Execution or step not found")
    def get(self, execution_id, step_id):
        """Get Execution Step (with the parameters its plan gave it)"""
        return plans.get_execution_step(runtime(), execution_id, step_id)


@executions_blp.route("/<execution_id>/variables")
class ExecutionVariables(MethodView):
    @executions_blp.response(200, s.VariablesSchema)
    @executions_blp.error(404, "Execution not found")
    def get(self, execution_id):
        """Get Execution Variables (with each completed step's ``<step>_output``)"""
        return plans.execution_variables(runtime(), execution_id, render=text_output)


# -- integrations ---------------------------------------------------------------------------------


ALL = Window(offset=0, limit=10_000)


@integrations_blp.route("")
class Integrations(MethodView):
    @integrations_blp.response(200, s.IntegrationsSchema)
    def get(self):
        """List Integrations"""
        page = integrations.list_integrations(runtime().settings, window=ALL)
        return {"integrations": page.items}


@integrations_blp.route("/<integration_id>")
class IntegrationById(MethodView):
    @integrations_blp.response(200, s.IntegrationSchema)
    @integrations_blp.error(404, "Integration not found")
    def get(self, integration_id):
        """Get Integration"""
        found = integrations.get_integration(runtime().settings, integration_id)
        return {**found, "parameters": s.described_all(found["parameters"])}


@integrations_blp.route("/<integration_id>/capabilities")
class IntegrationCapabilities(MethodView):
    @integrations_blp.response(200, s.CapabilitiesSchema)
    @integrations_blp.error(404, "Integration not found")
    def get(self, integration_id):
        """Get Integration Capabilities"""
        found = integrations.list_capabilities(integration_id)
        return {
            "integration_id": found["integration_id"],
            "capabilities": [
                {**c, "parameters": s.described(c["parameters"])} for c in found["capabilities"]
            ],
        }


def _invoke(body, integration_id, capability_id):
    return integrations.invoke_and_wait(
        runtime(), integration_id, capability_id, body, wait=INVOKE_WAIT
    )


@integrations_blp.route("/<integration_id>/capabilities/<capability_id>")
class IntegrationInvoke(MethodView):
    @operation(Operation.RUN)
    @integrations_blp.arguments(s.InvokeSchema)
    @integrations_blp.response(200, s.InvocationSchema)
    @integrations_blp.error(400, "Invalid parameters")
    @integrations_blp.error(404, "Integration or capability not found")
    def post(self, body, integration_id, capability_id):
        """Invoke Integration Capability (answers once it finished, or after 25 s with its
        status: poll ``/api/integrations/invocations/{id}``)"""
        return _invoke(body, integration_id, capability_id)


@integrations_blp.route("/<integration_id>/capabilities/<capability_id>/invoke")
class IntegrationInvokeAlias(MethodView):
    @operation(Operation.RUN)
    @integrations_blp.arguments(s.InvokeSchema)
    @integrations_blp.response(200, s.InvocationSchema)
    @integrations_blp.error(400, "Invalid parameters")
    @integrations_blp.error(404, "Integration or capability not found")
    def post(self, body, integration_id, capability_id):
        """Invoke Integration Capability (the same, at ``…/invoke``)"""
        return _invoke(body, integration_id, capability_id)


@integrations_blp.route("/invocations/<invocation_id>")
class InvocationById(MethodView):
    @integrations_blp.response(200, s.InvocationDetailSchema)
    @integrations_blp.error(404, "Invocation not found")
    def get(self, invocation_id):
        """Get Invocation Status"""
        return integrations.get_invocation(runtime(), invocation_id)


# -- events ---------------------------------------------------------------------------------------


@events_blp.route("")
class Events(MethodView):
    @events_blp.arguments(s.EventListArgs, location="query")
    @events_blp.response(200, s.EventListSchema)
    def get(self, args):
        """List Events"""
        kind = args.pop("type", None)
        page = events.list_events(
            runtime(),
            window=args.pop("window"),
            types=internal_types(kind) if kind else None,
            hidden=NOT_NOTIFIED,
            run_id=args.pop("execution_id", None),
            **args,
        )
        return {
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
            "events": [rendered(render_event(e)) for e in page.items],
        }


@events_blp.route("/<int:event_id>")
class EventById(MethodView):
    @events_blp.response(200, s.EventSchema)
    @events_blp.error(404, "Event not found")
    def get(self, event_id):
        """Get Event"""
        return rendered(render_event(events.get_event(runtime(), event_id, hidden=NOT_NOTIFIED)))


@events_blp.route("/subscriptions")
class Subscriptions(MethodView):
    # Like /api/v1/webhooks: a subscription sends every matching event's data out of the server.
    @operation(Operation.ADMIN)
    @events_blp.arguments(s.SubscriptionBodySchema)
    @events_blp.response(201, s.SubscriptionSchema)
    @events_blp.error(400, "Invalid subscription")
    def post(self, body):
        """Subscribe to Events (delivered by POST to ``callback_url``)"""
        hook = {
            "url": body["callback_url"],
            "events": body["types"],
            "run_id": (body.get("filter") or {}).get("execution_id"),
            "expires_at": body.get("expiration"),
            "secret": body.get("secret"),
            "description": "seed 004 subscription",
        }
        return webhooks.create_webhook(runtime(), hook, profile=PROFILE)

    @events_blp.response(200, s.SubscriptionsSchema)
    def get(self):
        """List Subscriptions"""
        page = webhooks.list_webhooks(runtime(), window=ALL, profile=PROFILE)
        return {"subscriptions": page.items}


@events_blp.route("/subscriptions/<subscription_id>")
class SubscriptionById(MethodView):
    @operation(Operation.ADMIN)
    @events_blp.response(200, s.SuccessSchema)
    @events_blp.error(404, "Subscription not found")
    def delete(self, subscription_id):
        """Delete Subscription"""
        webhooks.delete_webhook(runtime(), subscription_id, profile=PROFILE)
        return {"success": True, "message": "Subscription deleted successfully"}
