"""Resolvers: each reads its arguments, calls one service, and renders what it returns with seed
003's REST schemas (``app/profiles/seed003/schemas.py``), so GraphQL and REST show one thing the
same way. Batched reads go through the operation's ``Context`` (``context.py``); each resolver
that changes or reveals something declares its operation, checked against the caller's role as
REST checks it (``needs``).

A workflow execution is resolved from its ``Run`` row: its fields read the run's task rows and
workflow version through the context's batches, so a page of executions costs one query per
kind of row, not one per execution.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from ariadne import MutationType, ObjectType, QueryType, ScalarType, SubscriptionType
from graphql import GraphQLResolveInfo, value_from_ast_untyped
from marshmallow import Schema, ValidationError, fields

from app.api.errors import field_errors
from app.api.operations import Operation
from app.events.vocabulary import name_for
from app.models.base import as_utc
from app.profiles.seed003 import schemas as s
from app.profiles.seed003.graphql import subscriptions
from app.profiles.seed003.graphql.context import Context
from app.profiles.seed003.graphql.limits import window_limit
from app.profiles.seed003.vocabulary import PROFILE, WORDS
from app.services import control, events, progress, runs, webhooks, workflows
from app.services.errors import InvalidRequest
from app.services.pagination import Window

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()
definition = ObjectType("WorkflowDefinition")
execution = ObjectType("WorkflowExecution")
date_time = ScalarType("DateTime")
json_value = ScalarType("JSON")
ALL = Window(offset=0, limit=10_000)


@date_time.serializer
def serialize_date_time(value: Any) -> str:
    return as_utc(value).isoformat() if isinstance(value, datetime) else str(value)


@json_value.serializer
def serialize_json(value: Any) -> Any:
    return value


@json_value.literal_parser
def parse_json_literal(node, variables=None) -> Any:
    return value_from_ast_untyped(node, variables)


def context(info: GraphQLResolveInfo) -> Context:
    return info.context


def needs(kind: Operation) -> Callable:
    """The operation a resolver does; refused (``FORBIDDEN``) to a role that may not do it."""

    def mark(resolver: Callable) -> Callable:
        @wraps(resolver)
        def checked(obj, info: GraphQLResolveInfo, **kwargs):
            context(info).require(kind, info.field_name)
            return resolver(obj, info, **kwargs)

        return checked

    return mark


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """Input checked by the REST schema for the same body: a ``BAD_USER_INPUT`` naming the
    fields it refuses."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        problems = field_errors(exc.messages, "input")
        raise InvalidRequest(
            "Invalid input: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5]),
            problems,
        ) from None


def window(limit: int, offset: int) -> Window:
    if offset < 0:
        raise InvalidRequest(f"offset must not be negative, not {offset}")
    return Window(offset=offset, limit=window_limit(limit))


def page(found, render: Callable[[list], list]) -> dict[str, Any]:
    return {
        "items": render(found.items),
        "total": found.total,
        "limit": found.limit,
        "offset": found.offset,
    }


# -- rendering ------------------------------------------------------------------------------------


class TaskExecutionShape(s.TaskExecutionSchema):
    workflowExecutionId = fields.String(attribute="run_id")  # noqa: N815
    output = fields.Raw(attribute="output_data", allow_none=True)


WORKFLOW = s.WorkflowSchema()
TASKS = TaskExecutionShape(many=True)
TASK = TaskExecutionShape()
PROGRESS = s.ProgressSchema()
WEBHOOK = s.WebhookSchema()


def render_workflows(rows: list) -> list[dict[str, Any]]:
    return WORKFLOW.dump(rows, many=True)


def render_runs(ctx: Context, rows: list) -> list:
    """Runs of one page: their task rows and workflow versions will be read together."""
    ctx.steps.expect(run.id for run in rows)
    ctx.versions.expect(run.workflow_definition_id for run in rows)
    for run in rows:
        ctx.runs.put(run.id, run)
    return rows


def an_execution(ctx: Context, run_id: str):
    """One execution, its run and task rows read in one statement (so they agree)."""
    found = runs.describe_execution(ctx.rt, run_id)
    ctx.steps.put(run_id, found.steps)
    ctx.versions.put(found.workflow.id, found.workflow)
    ctx.runs.put(run_id, found.run)
    return found.run


# -- queries --------------------------------------------------------------------------------------


@query.field("workflowDefinition")
def resolve_workflow_definition(_obj, info, id: str):  # noqa: A002 - the schema's name
    return WORKFLOW.dump(workflows.get_current_workflow(context(info).rt, id))


@query.field("workflowDefinitions")
def resolve_workflow_definitions(_obj, info, limit: int, offset: int):
    found = workflows.list_workflows(context(info).rt, origin=PROFILE, window=window(limit, offset))
    return page(found, render_workflows)


@query.field("workflowExecution")
def resolve_workflow_execution(_obj, info, id: str):  # noqa: A002
    return an_execution(context(info), id)


def _executions(info, limit: int, offset: int, status: str | None, **filters) -> dict[str, Any]:
    ctx = context(info)
    if status is not None:
        filters["status"] = WORDS.run_statuses_for(status)
    found = runs.list_runs(ctx.rt, window=window(limit, offset), **filters)
    return page(found, lambda rows: render_runs(ctx, rows))


@query.field("workflowExecutions")
def resolve_workflow_executions(
    _obj,
    info,
    limit: int,
    offset: int,
    status=None,
    workflowDefinitionId=None,  # noqa: N803
):
    filters = {}
    if workflowDefinitionId is not None:
        lineage = workflows.get_current_workflow(context(info).rt, workflowDefinitionId)
        filters["workflow_id"] = lineage.lineage_id
    return _executions(info, limit, offset, status, **filters)


@query.field("taskExecution")
def resolve_task_execution(_obj, info, id: str):  # noqa: A002
    return TASK.dump(runs.get_task_execution(context(info).rt, id))


@query.field("progressReport")
def resolve_progress_report(_obj, info, workflowExecutionId: str):  # noqa: N803
    return PROGRESS.dump(progress.progress_report(context(info).rt, workflowExecutionId))


@query.field("webhooks")
@needs(Operation.ADMIN)
def resolve_webhooks(_obj, info):
    rt = context(info).rt
    found = webhooks.list_webhooks(rt, window=ALL, profile=PROFILE)
    return WEBHOOK.dump(webhooks.revealed(rt, found.items), many=True)


# -- a workflow definition ------------------------------------------------------------------------


@definition.field("executions")
def resolve_definition_executions(workflow, info, limit: int, offset: int, status=None):
    return _executions(info, limit, offset, status, workflow_id=workflow["id"])


# -- a workflow execution -------------------------------------------------------------------------


def _version(run, info):
    return context(info).versions.load(run.workflow_definition_id)


@execution.field("workflowDefinitionId")
def resolve_execution_definition_id(run, info):
    return _version(run, info).lineage_id


@execution.field("workflowDefinition")
def resolve_execution_definition(run, info):
    """The version the execution runs."""
    return WORKFLOW.dump(_version(run, info))


@execution.field("status")
def resolve_execution_status(run, _info):
    return WORDS.run_status(run.status)


@execution.field("startTime")
def resolve_execution_start(run, _info):
    return s.start_time(run)


@execution.field("endTime")
def resolve_execution_end(run, _info):
    return run.completed_at


def _tasks(run, info) -> list:
    ctx = context(info)
    hidden = ctx.sync_points(run.workflow_definition_id)
    return [step for step in ctx.steps.load(run.id) or [] if step.task_id not in hidden]


@execution.field("taskExecutions")
def resolve_execution_tasks(run, info, status: str | None = None):
    rows = _tasks(run, info)
    if status is not None:
        wanted = set(WORDS.task_statuses_for(status))
        rows = [row for row in rows if row.status in wanted]
    return TASKS.dump(rows)


@execution.field("context")
def resolve_execution_context(run, info):
    ctx = context(info)
    version = _version(run, info)
    found = runs.Execution(run, version, ctx.steps.load(run.id) or [], ctx.sync_points(version.id))
    return s.context_of(found)


@execution.field("progressReport")
def resolve_execution_progress(run, info):
    return PROGRESS.dump(progress.progress_report(context(info).rt, run.id))


@execution.field("events")
def resolve_execution_events(run, info, limit: int, after: str | None = None):
    try:
        after_id = int(after) if after is not None else None
    except ValueError:
        raise InvalidRequest(f"after must be an event id, not '{after}'") from None
    found = events.list_run_events(
        context(info).rt, run.id, window=window(limit, 0), after_event_id=after_id
    )
    return [
        {
            "id": event.id,
            "type": event.type,
            "name": _named(event.type),
            "timestamp": event.created_at,
            "taskDefinitionId": event.task_id,
            "data": event.data,
        }
        for event in found.items
    ]


def _named(internal: str) -> str | None:
    """The event's webhook name in this API (``task.execution.completed``), if it has one."""
    named = name_for(internal, PROFILE)
    return None if named == internal else named


# -- mutations ------------------------------------------------------------------------------------


@mutation.field("createWorkflowDefinition")
@needs(Operation.RUN)
def resolve_create_workflow_definition(_obj, info, input: dict):  # noqa: A002
    body = load(s.WorkflowBodySchema(), input)
    return WORKFLOW.dump(workflows.create_workflow(context(info).rt, body, origin=PROFILE))


@mutation.field("updateWorkflowDefinition")
@needs(Operation.RUN)
def resolve_update_workflow_definition(_obj, info, id: str, input: dict):  # noqa: A002
    body = load(s.WorkflowBodySchema(), input)
    return WORKFLOW.dump(workflows.update_workflow(context(info).rt, id, body, bump="patch"))


@mutation.field("deleteWorkflowDefinition")
@needs(Operation.CONTROL)
def resolve_delete_workflow_definition(_obj, info, id: str):  # noqa: A002
    workflows.delete_workflow(context(info).rt, id)
    return True


@mutation.field("startWorkflowExecution")
@needs(Operation.RUN)
def resolve_start_workflow_execution(_obj, info, input: dict):  # noqa: A002
    ctx = context(info)
    body = load(s.ExecutionBodySchema(), {k: v for k, v in input.items() if v is not None})
    run = runs.start_run(
        ctx.rt,
        body["workflowDefinitionId"],
        body["initialContext"],
        triggered_by=ctx.identity.name,
        profile=PROFILE,
        latest=True,
    )
    return an_execution(ctx, run.id)


@mutation.field("cancelWorkflowExecution")
@needs(Operation.CONTROL)
def resolve_cancel_workflow_execution(_obj, info, id: str):  # noqa: A002
    ctx = context(info)
    control.cancel_run(ctx.rt, id, cancelled_by=ctx.identity.name)
    return an_execution(ctx, id)


@mutation.field("pauseWorkflowExecution")
@needs(Operation.CONTROL)
def resolve_pause_workflow_execution(_obj, info, id: str):  # noqa: A002
    control.pause_run(context(info).rt, id)
    return an_execution(context(info), id)


@mutation.field("resumeWorkflowExecution")
@needs(Operation.CONTROL)
def resolve_resume_workflow_execution(_obj, info, id: str):  # noqa: A002
    control.resume_run(context(info).rt, id)
    return an_execution(context(info), id)


@mutation.field("retryTaskExecution")
@needs(Operation.CONTROL)
def resolve_retry_task_execution(_obj, info, id: str):  # noqa: A002
    return TASK.dump(control.retry_task_execution(context(info).rt, id))


@mutation.field("registerWebhook")
@needs(Operation.ADMIN)
def resolve_register_webhook(_obj, info, input: dict):  # noqa: A002
    ctx = context(info)
    body = load(s.WebhookBodySchema(), {k: v for k, v in input.items() if v is not None})
    body.setdefault("secret", None)
    hook = webhooks.create_webhook(ctx.rt, body, created_by=ctx.identity.name, profile=PROFILE)
    return WEBHOOK.dump(hook)


@mutation.field("updateWebhook")
@needs(Operation.ADMIN)
def resolve_update_webhook(_obj, info, id: str, input: dict):  # noqa: A002
    rt = context(info).rt
    body = load(s.WebhookUpdateSchema(), {k: v for k, v in input.items() if v is not None})
    hook = webhooks.update_webhook(rt, id, body, profile=PROFILE)
    return WEBHOOK.dump(webhooks.revealed(rt, [hook])[0])


@mutation.field("deleteWebhook")
@needs(Operation.ADMIN)
def resolve_delete_webhook(_obj, info, id: str):  # noqa: A002
    webhooks.delete_webhook(context(info).rt, id, profile=PROFILE)
    return True


# -- subscriptions --------------------------------------------------------------------------------
# Each ``source`` names what to watch (``subscriptions.Source``); the transport drives it from
# the event hub and runs the field's resolver once per update, with a fresh context, on what the
# source yields (a run id or a task row id).


@subscription.source("workflowExecutionUpdated")
def watch_execution(_obj, info, id: str):  # noqa: A002
    return subscriptions.Source(id, subscriptions.EXECUTION)


@subscription.field("workflowExecutionUpdated")
def resolve_execution_updated(run_id: str, info, **_args):
    return an_execution(context(info), run_id)


@subscription.source("taskExecutionUpdated")
def watch_tasks(_obj, info, workflowExecutionId: str):  # noqa: N803
    return subscriptions.Source(workflowExecutionId, subscriptions.TASKS)


@subscription.field("taskExecutionUpdated")
def resolve_task_updated(task_execution_id: str, info, **_args):
    return TASK.dump(runs.get_task_execution(context(info).rt, task_execution_id))


@subscription.source("progressReportUpdated")
def watch_progress(_obj, info, workflowExecutionId: str):  # noqa: N803
    return subscriptions.Source(workflowExecutionId, subscriptions.PROGRESS)


@subscription.field("progressReportUpdated")
def resolve_progress_updated(run_id: str, info, **_args):
    return PROGRESS.dump(progress.progress_report(context(info).rt, run_id))


BINDABLES = [query, mutation, subscription, definition, execution, date_time, json_value]
