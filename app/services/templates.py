"""Template use-cases (seeds 000/001 "Templates"): create, read, update, delete, instantiate.

A template is a workflow definition with ``${params.x}`` placeholders plus typed parameter
declarations. Its definition is copied from an existing workflow version (``workflow_id``; seed
000 calls it ``workflow_definition_id``) or given inline (``definition``). Every placeholder must
name a declared parameter, and the definition must be a valid workflow definition, placeholders
and all. Instantiating binds values (defaults applied, every bad value named at once),
substitutes them and creates an ordinary workflow that records the template and the values; a
value whose name is also an input property becomes that property's default.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.engine import parameters
from app.engine.dialects import Problem
from app.engine.validation import InvalidDefinition
from app.models import Template, Workflow
from app.models.base import utcnow
from app.services.definitions import DEFINITION_KEYS, validate_definition
from app.services.errors import AlreadyExists, InvalidRequest, TemplateNotFound, WorkflowNotFound
from app.services.pagination import Page, Window, paginate
from app.services.transactions import transactional
from app.services.workflows import create_workflow, get_current_workflow, get_workflow

SORTABLE = {"name", "created_at", "updated_at"}


def create_template(rt, body: dict[str, Any], *, latest: bool = False) -> Template:
    """``latest`` copies the latest version of the workflow ``workflow_id`` names, whichever
    version that is (clients that know no versions)."""
    with rt.db.transaction() as session:
        if _name_taken(session, body["name"]):
            raise _taken(body["name"])
        source, definition = _source(session, body, latest=latest)
        declared = body.get("parameters") or {}
        _check(session, rt.settings, definition, declared, inline=source is None)
        template = Template(
            name=body["name"],
            description=body.get("description"),
            workflow_id=source.lineage_id if source else None,
            workflow_definition_id=source.id if source else None,
            definition=definition,
            parameters=declared,
            meta=body.get("metadata") or {},
        )
        session.add(template)
        _flush_or_conflict(session, body["name"])
    return template


@transactional
def get_template(session: Session, template_id: str) -> Template:
    template = session.get(Template, template_id)
    if template is None:
        raise TemplateNotFound(template_id)
    return template


@transactional
def list_templates(
    session: Session,
    *,
    window: Window,
    name: str | None = None,
    sort_by: str = "created_at",
    sort_order: str = "desc",
) -> Page:
    query = select(Template)
    if name:
        query = query.where(Template.name == name)
    column = getattr(Template, sort_by if sort_by in SORTABLE else "created_at")
    query = query.order_by(column.asc() if sort_order == "asc" else column.desc(), Template.id)
    return paginate(session, query, window)


def update_template(rt, template_id: str, body: dict[str, Any]) -> Template:
    """Partial update; the result is checked as a whole, like a new template."""
    with rt.db.transaction() as session:
        template = get_template(session, template_id)
        name = body.get("name", template.name)
        if name != template.name and _name_taken(session, name):
            raise _taken(name)
        definition = template.definition
        if _gives_source(body):
            source, definition = _source(session, body)
            template.workflow_id = source.lineage_id if source else None
            template.workflow_definition_id = source.id if source else None
        declared = body.get("parameters", template.parameters) or {}
        inline = "definition" in body or template.workflow_definition_id is None
        _check(session, rt.settings, definition, declared, inline=inline)
        template.name = name
        template.definition = definition
        template.parameters = declared
        if "description" in body:
            template.description = body["description"]
        if "metadata" in body:
            template.meta = body["metadata"] or {}
        template.updated_at = utcnow()
        _flush_or_conflict(session, name)
    return template


def delete_template(rt, template_id: str) -> None:
    """Workflows instantiated from it stay as they are."""
    with rt.db.transaction() as session:
        session.delete(get_template(session, template_id))


def instantiate_template(rt, template_id: str, body: dict[str, Any]) -> Workflow:
    with rt.db.transaction() as session:
        template = get_template(session, template_id)
        declared, definition = template.parameters or {}, template.definition
        name, description = template.name, template.description
    try:
        values = parameters.bind(declared, body.get("parameter_values") or {})
    except parameters.InvalidParameters as exc:
        raise InvalidRequest(
            "Invalid parameter values: " + str(exc), [p.to_dict() for p in exc.problems]
        ) from None
    workflow_body = {
        **parameters.input_defaults(parameters.substitute(definition, values), values),
        "name": body.get("name") or f"{name[:246]}-{uuid.uuid4().hex[:8]}",
        "description": body.get("description", description),
    }
    return create_workflow(rt, workflow_body, template_id=template_id, template_parameters=values)


# -- checks ---------------------------------------------------------------------------------------


def _gives_source(body: dict[str, Any]) -> bool:
    return any(body.get(key) is not None for key in ("workflow_id", "definition"))


def _source(
    session: Session, body: dict[str, Any], *, latest: bool = False
) -> tuple[Workflow | None, dict[str, Any]]:
    """``(workflow version, definition)`` from ``workflow_id``, or ``(None, definition)``."""
    workflow_id, inline = body.get("workflow_id"), body.get("definition")
    if workflow_id is not None and inline is not None:
        raise InvalidRequest(
            "Give either workflow_id (copy an existing workflow) or definition, not both",
            [{"field": "definition", "message": "not allowed with workflow_id", "type": "invalid"}],
        )
    if workflow_id is None and inline is None:
        raise InvalidRequest(
            "A template needs workflow_id (copy an existing workflow) or an inline definition",
            [
                {
                    "field": "workflow_id",
                    "message": "workflow_id or definition is required",
                    "type": "missing",
                }
            ],
        )
    if inline is not None:
        unknown = sorted(set(inline) - set(DEFINITION_KEYS) - {"name", "description"})
        if unknown:
            raise InvalidRequest(
                f"Unknown definition fields: {', '.join(unknown)}",
                [
                    {"field": f"definition.{key}", "message": "unknown field", "type": "unknown"}
                    for key in unknown
                ],
            )
        return None, {key: inline[key] for key in DEFINITION_KEYS if key in inline}
    workflow = (get_current_workflow if latest else get_workflow)(session, workflow_id)
    if workflow.status == "deleted":
        raise WorkflowNotFound(workflow_id)
    return workflow, dict(workflow.definition)


def _check(session: Session, settings, definition, declared, *, inline: bool) -> None:
    """Every problem of a template at once: declarations, placeholders, the definition."""
    where = "definition" if inline else ""
    problems = parameters.check_declarations(declared)
    if not problems:
        problems.extend(parameters.check_placeholders(definition, declared, where))
    try:
        validate_definition(session, settings, definition)
    except InvalidDefinition as exc:
        prefix = "definition." if inline else ""
        problems.extend(Problem(f"{prefix}{p.field}", p.message, p.type) for p in exc.problems)
    if problems:
        shown = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InvalidRequest(f"Invalid template: {shown}{more}", [p.to_dict() for p in problems])


def _name_taken(session: Session, name: str) -> bool:
    return session.execute(select(Template.id).where(Template.name == name)).first() is not None


def _taken(name: str) -> AlreadyExists:
    return AlreadyExists("template", "Template", name)


def _flush_or_conflict(session: Session, name: str) -> None:
    """Two creators racing past the name check meet the unique index: the loser gets a 409."""
    try:
        session.flush()
    except IntegrityError:
        raise _taken(name) from None
