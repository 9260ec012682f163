"""Seed 003's REST paths, at ``/api/v2/...``: workflow definitions, executions, task executions,
progress reports and webhooks; and its ``POST /api/auth/login``.

``/api/...`` and ``/api/v1/...`` requests that ask for the document's media type
(``application/vnd.workflow-orchestration.v1+json``) are sent here by
``app/profiles/routing.py``. Each view parses, calls one service, renders.
"""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.auth import Login
from app.api.operations import Operation, operation
from app.extensions import runtime
from app.profiles.base import ProfileBlueprint
from app.profiles.seed003 import schemas as s
from app.profiles.seed003.errors import ERRORS
from app.profiles.seed003.vocabulary import PROFILE
from app.services import control, delivery, progress, runs, webhooks, workflows
from app.services.pagination import Window

TITLE = "Workflow Orchestration API (seed 003)"
PREFIX = "/api/v2"

login_blp = Blueprint("003 login", __name__, description=f"{TITLE}: log in for a token")


@login_blp.route("/api/auth/login")
class SeedLogin(Login):
    """Seed 003's path for the same login."""


def _blueprint(name: str, path: str, what: str) -> ProfileBlueprint:
    return ProfileBlueprint(
        f"003 {name}", __name__, PREFIX + path, f"{TITLE}: {what}", errors=ERRORS
    )


workflows_blp = _blueprint("workflows", "/workflows", "workflow definitions")
executions_blp = _blueprint("executions", "/executions", "workflow executions and progress")
tasks_blp = _blueprint("tasks", "/tasks", "task executions")
webhooks_blp = _blueprint("webhooks", "/webhooks", "webhook registrations")
BLUEPRINTS = (workflows_blp, executions_blp, tasks_blp, webhooks_blp)
ALL = Window(offset=0, limit=10_000)


# -- workflow definitions -------------------------------------------------------------------------


@workflows_blp.route("")
class Workflows(MethodView):
    @workflows_blp.arguments(s.LimitOffsetArgs, location="query")
    @workflows_blp.response(200, s.WorkflowSchema(many=True))
    def get(self, args):
        """Get all workflow definitions (those created through this API)"""
        return workflows.list_workflows(runtime(), origin=PROFILE, **args).items

    @operation(Operation.RUN)
    @workflows_blp.arguments(s.WorkflowBodySchema)
    @workflows_blp.response(201, s.WorkflowSchema)
    @workflows_blp.error(409, "A workflow with the same name already exists")
    def post(self, body):
        """Create a workflow definition"""
        return workflows.create_workflow(runtime(), body, origin=PROFILE)


@workflows_blp.route("/<workflow_id>")
class WorkflowById(MethodView):
    @workflows_blp.response(200, s.WorkflowSchema)
    @workflows_blp.error(404, "Workflow not found")
    def get(self, workflow_id):
        """Get a workflow definition by ID"""
        return workflows.get_current_workflow(runtime(), workflow_id)

    @operation(Operation.RUN)
    @workflows_blp.arguments(s.WorkflowBodySchema)
    @workflows_blp.response(200, s.WorkflowSchema)
    @workflows_blp.error(404, "Workflow not found")
    def put(self, body, workflow_id):
        """Update a workflow definition (new tasks make a new version: 1.0.0 → 1.0.1)"""
        return workflows.update_workflow(runtime(), workflow_id, body, bump="patch")

    @operation(Operation.CONTROL)
    @workflows_blp.response(204)
    @workflows_blp.error(404, "Workflow not found")
    def delete(self, workflow_id):
        """Delete a workflow definition"""
        workflows.delete_workflow(runtime(), workflow_id)


# -- executions -----------------------------------------------------------------------------------


@executions_blp.route("")
class Executions(MethodView):
    @operation(Operation.RUN)
    @executions_blp.arguments(s.ExecutionBodySchema)
    @executions_blp.response(201, s.ExecutionSchema)
    @executions_blp.error(404, "Workflow not found")
    def post(self, body):
        """Start a workflow execution"""
        run = runs.start_run(
            runtime(),
            body["workflowDefinitionId"],
            body["initialContext"],
            triggered_by=g.identity.name,
            profile=PROFILE,
            latest=True,
        )
        # The document's answer to a start lists no task executions: none has begun yet.
        return runs.describe_execution(runtime(), run.id, unbegun=False)


@executions_blp.route("/<execution_id>")
class ExecutionById(MethodView):
    @executions_blp.response(200, s.ExecutionSchema)
    @executions_blp.error(404, "Execution not found")
    def get(self, execution_id):
        """Get a workflow execution by ID"""
        return runs.describe_execution(runtime(), execution_id)


@executions_blp.route("/<execution_id>/cancel")
class ExecutionCancel(MethodView):
    @operation(Operation.CONTROL)
    @executions_blp.response(200, s.ExecutionSchema)
    @executions_blp.error(404, "Execution not found")
    @executions_blp.error(409, "The execution has already finished")
    def post(self, execution_id):
        """Cancel a workflow execution"""
        control.cancel_run(runtime(), execution_id, cancelled_by=g.identity.name)
        return runs.describe_execution(runtime(), execution_id)


@executions_blp.route("/<execution_id>/tasks")
class ExecutionTasks(MethodView):
    @executions_blp.arguments(s.TaskListArgs, location="query")
    @executions_blp.response(200, s.TaskExecutionSchema(many=True))
    @executions_blp.error(404, "Execution not found")
    def get(self, args, execution_id):
        """Get task executions for a workflow execution"""
        return runs.list_task_executions(runtime(), execution_id, **args).items


@executions_blp.route("/<execution_id>/progress")
class ExecutionProgress(MethodView):
    @executions_blp.response(200, s.ProgressSchema)
    @executions_blp.error(404, "Execution not found")
    def get(self, execution_id):
        """Get the progress report of a workflow execution: tasks done, an estimated completion,
        blockers and milestones"""
        return progress.progress_report(runtime(), execution_id)


# -- task executions ------------------------------------------------------------------------------


@tasks_blp.route("/<task_execution_id>/retry")
class TaskRetry(MethodView):
    @operation(Operation.CONTROL)
    @tasks_blp.response(200, s.TaskExecutionSchema)
    @tasks_blp.error(404, "Task execution not found")
    @tasks_blp.error(409, "The task did not fail, or its execution is still running")
    def post(self, task_execution_id):
        """Retry a failed task execution (and what depends on it)"""
        return control.retry_task_execution(runtime(), task_execution_id)


# -- webhooks -------------------------------------------------------------------------------------


@webhooks_blp.route("")
@operation(Operation.ADMIN)
class Webhooks(MethodView):
    @webhooks_blp.response(200, s.WebhookSchema(many=True))
    def get(self):
        """Get all webhook registrations (those made through this API, with their secrets)"""
        page = webhooks.list_webhooks(runtime(), window=ALL, profile=PROFILE)
        return webhooks.revealed(runtime(), page.items)

    @webhooks_blp.arguments(s.WebhookBodySchema)
    @webhooks_blp.response(201, s.WebhookSchema)
    @webhooks_blp.error(422, "A URL the SSRF guard refuses")
    def post(self, body):
        """Register a webhook"""
        body.setdefault("secret", None)
        return webhooks.create_webhook(runtime(), body, created_by=g.identity.name, profile=PROFILE)


@webhooks_blp.route("/<webhook_id>")
@operation(Operation.ADMIN)
class WebhookById(MethodView):
    @webhooks_blp.arguments(s.WebhookUpdateSchema)
    @webhooks_blp.response(200, s.WebhookSchema)
    @webhooks_blp.error(404, "Webhook not found")
    def put(self, body, webhook_id):
        """Update a webhook registration"""
        hook = webhooks.update_webhook(runtime(), webhook_id, body, profile=PROFILE)
        return webhooks.revealed(runtime(), [hook])[0]

    @webhooks_blp.response(204)
    @webhooks_blp.error(404, "Webhook not found")
    def delete(self, webhook_id):
        """Delete a webhook registration"""
        webhooks.delete_webhook(runtime(), webhook_id, profile=PROFILE)


@webhooks_blp.route("/test")
@operation(Operation.ADMIN)
class WebhookTest(MethodView):
    @webhooks_blp.arguments(s.WebhookTestSchema)
    @webhooks_blp.response(200, s.TestResultSchema)
    @webhooks_blp.error(422, "A URL the SSRF guard refuses")
    def post(self, body):
        """Test a webhook: one signed request to a URL (nothing is stored)"""
        return delivery.test_url(runtime(), body)
