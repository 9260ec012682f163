"""The dashboard's pages. Each reads through the services the REST API uses and renders the same
schemas' output, so a page shows what ``GET /api/v1/...`` answers; the live parts and every
action are the page scripts' (``app/static/ui/``), over the REST API and the WebSocket."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from app.api import sessions
from app.api.errors import CANONICAL
from app.api.operations import Operation, operation
from app.engine.dag import Dag
from app.engine.errors import DomainError, ErrorKind
from app.extensions import runtime
from app.models import Role, RunStatus
from app.schemas.events import EventListArgs, EventPageSchema
from app.schemas.runs import RunListArgs, RunPageSchema, RunSchema, StepSchema
from app.schemas.workflows import WorkflowListArgs, WorkflowPageSchema, WorkflowSchema
from app.services import events as events_service
from app.services import identity as identities
from app.services import runs as runs_service
from app.services import workflows as workflows_service
from app.services.definitions import dag_for
from app.services.errors import Unauthorized
from app.services.pagination import Window

bp = Blueprint("ui", __name__)

LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?")
RUN_STATUSES = [status.value for status in RunStatus]
HEADERS = {  # the dashboard's pages post their own forms and open their own WebSocket
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


@bp.after_request
def page_headers(response):
    for name, value in HEADERS.items():
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")  # pages show live, private data
    return response


@bp.app_context_processor
def page_context() -> dict[str, Any]:
    """What every page's frame shows: who is signed in, and the token its scripts send."""
    identity = getattr(g, "identity", None)
    return {
        "identity": identity,
        "csrf_token": sessions.csrf_token if request.blueprint == "ui" else None,
        "may": (lambda role: identity is not None and identity.may(Role(role))),
    }


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    return _error_page(CANONICAL[exc.kind][0], exc.detail)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    if exc.code == 429:  # the login form's limit
        return _error_page(429, f"Too many attempts ({exc.description}): wait, then try again")
    return _error_page(exc.code or 500, exc.description or exc.name)


def _error_page(status: int, detail: str):
    return render_template("ui/error.html", status=status, detail=detail), status


def _args(schema, **defaults) -> dict[str, Any]:
    """The query string through the API's own argument schema (a 400 page names what is wrong)."""
    raw = {k: v for k, v in request.args.items() if v != ""}
    for name, value in raw.items():  # a form's datetime-local has no zone: the page says UTC
        if name.endswith(("_after", "_before", "_date")) and LOCAL_TIME.fullmatch(value):
            raw[name] = f"{value}+00:00"
    try:
        return schema.load({**defaults, **raw})
    except ValidationError as exc:
        problems = "; ".join(
            f"{field}: {' '.join(map(str, m))}" for field, m in exc.messages.items()
        )
        raise InvalidFilter(problems) from None


class InvalidFilter(DomainError):
    kind = ErrorKind.VALIDATION


# -- signing in ---------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("ui.runs")


@bp.route("/ui/login", methods=["GET", "POST"])
@operation(Operation.OPEN)
def login():
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if sessions.signed_in():
            return redirect(target)
        return render_template("ui/login.html", next=target, error=None)
    method = request.form.get("method", "password")
    if sessions.forgery():  # login CSRF: the form must come from our own login page
        return _login_failed(target, method, "The form expired; please sign in again", 400)
    rt = runtime()
    try:
        if method == "key":
            key = request.form.get("api_key", "").strip()
            if not key:
                return _login_failed(target, method, "Enter an API key", 400)
            identities.authenticate(rt, key)
            sessions.sign_in_with_key(key)
        else:
            username = request.form.get("username", "")
            password = request.form.get("password", "")
            if not username or not password:
                return _login_failed(target, method, "Enter your username and password", 400)
            issued = identities.login(rt, username, password, ttl=rt.settings.session_ttl)
            sessions.sign_in_with_token(issued["token"])
    except Unauthorized as exc:
        return _login_failed(target, method, exc.detail, 401)
    return redirect(target)


def _login_failed(target: str, method: str, error: str, status: int):
    return render_template("ui/login.html", next=target, error=error, method=method), status


@bp.post("/ui/logout")
@operation(Operation.SELF)
def logout():
    sessions.sign_out()
    return redirect(url_for("ui.login"))


# -- runs ---------------------------------------------------------------------------------------


@bp.get("/")
def home():
    return redirect(url_for("ui.runs"))


@bp.get("/ui/")
def runs():
    args = _args(RunListArgs(), page_size="25")
    rt = runtime()
    page = RunPageSchema().dump(runs_service.list_runs(rt, **args))
    workflows = workflows_service.list_workflows(rt, window=Window(0, 100), sort_by="name")
    return render_template(
        "ui/runs.html",
        page=page,
        filters=request.args,
        statuses=RUN_STATUSES,
        workflows=workflows.items,
        latest_event_id=events_service.latest_event_id(rt),
    )


@bp.get("/ui/runs/<run_id>")
def run(run_id: str):
    rt = runtime()
    # Read before the run: the page's stream resumes after it, so an event committed while the
    # page renders is applied again (harmless) rather than missed.
    after = events_service.latest_event_id(rt)
    with rt.db.transaction() as session:
        detail = runs_service.describe_run(session, run_id)
        dag = dag_for(session, rt.settings, detail.run.workflow_definition_id)
    steps = StepSchema(many=True).dump(detail.steps)
    return render_template(
        "ui/run.html",
        run=RunSchema().dump(detail.run),
        steps=steps,
        graph=graph_of(dag, {step["step_id"]: step["status"] for step in steps}),
        after=after,
    )


def graph_of(dag: Dag, statuses: dict[str, str] | None = None) -> dict[str, Any]:
    """A DAG as the page's graph draws it: nodes with their status, and edges."""
    statuses = statuses or {}
    return {
        "nodes": [
            {
                "id": task.id,
                "label": task.name or task.id,
                "status": statuses.get(task.id, "PENDING"),
                "detail": task.action,
            }
            for task in dag.tasks.values()
        ],
        "edges": [
            [dep, task.id]
            for task in dag.tasks.values()
            for dep in task.depends_on
            if dep in dag.tasks
        ],
    }


# -- workflows ----------------------------------------------------------------------------------


@bp.get("/ui/workflows")
def workflows():
    args = _args(WorkflowListArgs(), page_size="25", sort_by="name", sort_order="asc")
    page = WorkflowPageSchema().dump(workflows_service.list_workflows(runtime(), **args))
    return render_template("ui/workflows.html", page=page, filters=request.args)


@bp.get("/ui/workflows/<workflow_id>")
def workflow(workflow_id: str):
    rt = runtime()
    with rt.db.transaction() as session:
        latest = workflows_service.get_current_workflow(session, workflow_id)
        versions = workflows_service.list_versions(session, latest.id, window=Window(0, 100))
        wanted = request.args.get("version", type=int)
        shown = next((v for v in versions.items if v.version == wanted), latest)
        dag = dag_for(session, rt.settings, shown.id)
    recent = runs_service.list_runs(rt, window=Window(0, 10), workflow_id=latest.lineage_id)
    return render_template(
        "ui/workflow.html",
        workflow=WorkflowSchema().dump(shown),
        latest=WorkflowSchema().dump(latest),
        versions=WorkflowSchema(many=True).dump(versions.items),
        graph=graph_of(dag),
        fields=form_fields(dag.input_schema),
        input_schema=dag.input_schema,
        runs=RunSchema(many=True).dump(recent.items),
    )


def form_fields(schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The run form's fields from a workflow's input schema: one per top-level property, typed
    as the schema says (objects and arrays as JSON)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    required = set(schema.get("required") or [])
    fields = []
    for name, prop in schema["properties"].items():
        prop = prop if isinstance(prop, dict) else {}
        kind = prop.get("type") if isinstance(prop.get("type"), str) else "string"
        fields.append(
            {
                "name": name,
                "type": kind if kind in ("string", "integer", "number", "boolean") else "json",
                "required": name in required,
                "default": prop.get("default"),
                "enum": prop.get("enum") if isinstance(prop.get("enum"), list) else None,
                "description": prop.get("description") or prop.get("title") or "",
            }
        )
    return fields


# -- the fleet and the event log ----------------------------------------------------------------


@bp.get("/ui/workers")
@operation(Operation.OPERATE)
def workers():
    return render_template("ui/workers.html")


@bp.get("/ui/queues")
@operation(Operation.OPERATE)
def queues():
    return render_template("ui/queues.html")


@bp.get("/ui/events")
def events():
    args = _args(EventListArgs(), page_size="50", sort_order="desc")
    rt = runtime()
    page = EventPageSchema().dump(events_service.list_events(rt, **args))
    return render_template(
        "ui/events.html",
        page=page,
        filters=request.args,
        latest_event_id=events_service.latest_event_id(rt),
    )
