"""Workflow use-cases: create, update (a new structure is a new version), delete, list, plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.engine.compiler import build_plan, describe
from app.engine.dialects import STRUCTURE_KEYS
from app.models import Run, Workflow
from app.models.base import new_id, utcnow
from app.models.status import RUN_TERMINAL, RunStatus
from app.services.definitions import DEFINITION_KEYS, validate_definition
from app.services.errors import InvalidRequest, NameTaken, WorkflowInUse, WorkflowNotFound
from app.services.pagination import Page, Window, list_contains, paginate, within
from app.services.transactions import transactional

SORTABLE = {"name", "created_at", "updated_at", "version"}
FIRST_LABEL = "1.0.0"


def next_label(label: str | None, part: str = "minor") -> str:
    """The label of the version after ``label``: its minor number bumped (1.0.0 → 1.1.0), or
    its patch number with ``part="patch"`` (1.0.0 → 1.0.1, seed 003's way); a label that is not
    ``major.minor[.patch]`` gets ``.1`` appended."""
    if not label:
        return FIRST_LABEL
    parts = label.split("-", 1)[0].split("+", 1)[0].split(".")
    if len(parts) in (2, 3) and all(part.isdigit() for part in parts):
        if part == "patch":
            patch = int(parts[2]) + 1 if len(parts) == 3 else 1
            return f"{parts[0]}.{parts[1]}.{patch}"
        return f"{parts[0]}.{int(parts[1]) + 1}.0"
    return f"{label[:60]}.1"


# ``field:operator:value`` filters (seed 000's ``filter=name:contains:x``).
MATCHABLE = {"name", "description", "status"}
OPERATORS = ("eq", "ne", "contains", "startswith", "endswith")


@dataclass(frozen=True)
class Match:
    field: str
    operator: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Match:
        """``name:contains:x`` → ``Match``; ``InvalidRequest`` naming the problem otherwise."""
        field_name, _, rest = text.partition(":")
        operator, _, value = rest.partition(":")
        if not rest:  # ``name:x`` would be ambiguous with a value holding colons; say so
            operator, value = "", ""
        if field_name not in MATCHABLE or operator not in OPERATORS:
            raise InvalidRequest(
                f"Invalid filter '{text[:100]}': use field:operator:value with field one of "
                f"{', '.join(sorted(MATCHABLE))} and operator one of {', '.join(OPERATORS)}",
                [{"field": "filter", "message": "expected field:operator:value", "type": "format"}],
            )
        return cls(field_name, operator, value)

    def clause(self):
        column = getattr(Workflow, self.field)
        pattern = self.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return {
            "eq": lambda: column == self.value,
            "ne": lambda: column != self.value,
            "contains": lambda: column.ilike(f"%{pattern}%", escape="\\"),
            "startswith": lambda: column.ilike(f"{pattern}%", escape="\\"),
            "endswith": lambda: column.ilike(f"%{pattern}", escape="\\"),
        }[self.operator]()


def _definition(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in DEFINITION_KEYS if key in body and body[key] is not None}


def _name_taken(session: Session, name: str, lineage_id: str | None = None) -> bool:
    query = select(Workflow.id).where(
        Workflow.name == name,
        Workflow.is_latest.is_(True),
        Workflow.status != "deleted",
        Workflow.inline.is_(False),
    )
    if lineage_id:
        query = query.where(Workflow.lineage_id != lineage_id)
    return session.execute(query.limit(1)).first() is not None


def create_workflow(
    rt,
    body: dict[str, Any],
    *,
    template_id: str | None = None,
    template_parameters: dict[str, Any] | None = None,
    origin: str = "v1",
    inline: bool = False,
) -> Workflow:
    """``origin`` names the API that created it; an ``inline`` workflow is made for one run
    (seed 004's ``plan`` body): it is never listed and its name is not reserved."""
    definition = _definition(body)
    with rt.db.transaction() as session:
        dag = validate_definition(session, rt.settings, definition)
        if not inline and _name_taken(session, body["name"]):
            raise NameTaken("workflow", "Workflow", body["name"])
        workflow_id = new_id()
        workflow = Workflow(
            id=workflow_id,
            lineage_id=workflow_id,
            name=body["name"],
            description=body.get("description"),
            version=1,
            version_label=body.get("version_label") or FIRST_LABEL,
            definition=definition,
            dialect=dag.dialect,
            status=body.get("status") or "active",
            is_latest=True,
            template_id=template_id,
            template_parameters=template_parameters,
            origin=origin,
            inline=inline,
            **labels(definition.get("metadata")),
        )
        session.add(workflow)
    workflow.first_created_at = workflow.created_at
    return workflow


def first_created(session: Session, rows: list[Workflow]) -> list[Workflow]:
    """Each version with ``first_created_at``, when its workflow's first version was created:
    what clients that know no versions call the workflow's creation time. One query."""
    later = {w.lineage_id for w in rows if w.version > 1}
    firsts = dict(
        session.execute(
            select(Workflow.id, Workflow.created_at).where(Workflow.id.in_(later))
        ).all()
        if later
        else []
    )
    for workflow in rows:
        workflow.first_created_at = firsts.get(workflow.lineage_id, workflow.created_at)
    return rows


@transactional
def versions_by_id(session: Session, version_ids: list[str]) -> dict[str, Workflow]:
    """Many workflow versions in one query (two when some are later versions: their first
    versions' creation times), each with ``first_created_at``."""
    if not version_ids:
        return {}
    rows = session.execute(select(Workflow).where(Workflow.id.in_(version_ids))).scalars().all()
    return {workflow.id: workflow for workflow in first_created(session, list(rows))}


def labels(metadata: Any) -> dict[str, Any]:
    """``tags`` and ``created_by`` from seed 004's ``metadata``, as stored for filtering."""
    metadata = metadata if isinstance(metadata, dict) else {}
    tags = metadata.get("tags")
    creator = metadata.get("created_by")
    return {
        "tags": [str(t) for t in tags] if isinstance(tags, list) else None,
        "created_by": str(creator)[:255] if creator is not None else None,
    }


@transactional
def get_workflow(session: Session, workflow_id: str) -> Workflow:
    workflow = session.get(Workflow, workflow_id)
    if workflow is None:
        raise WorkflowNotFound(workflow_id)
    return workflow


@transactional
def get_current_workflow(session: Session, workflow_id: str) -> Workflow:
    """The latest version of the workflow that ``workflow_id`` (any of its versions' ids) names,
    unless it was deleted: what clients that know no versions mean by a workflow id."""
    workflow = _latest(session, get_workflow(session, workflow_id))
    if workflow.status == "deleted":
        raise WorkflowNotFound(workflow_id)
    return first_created(session, [workflow])[0]


def _latest(session: Session, workflow: Workflow) -> Workflow:
    if workflow.is_latest:
        return workflow
    return session.execute(
        select(Workflow).where(
            Workflow.lineage_id == workflow.lineage_id, Workflow.is_latest.is_(True)
        )
    ).scalar_one()


def update_workflow(rt, workflow_id: str, body: dict[str, Any], *, bump: str = "minor") -> Workflow:
    """Partial update. Any change to the definition makes a new version, so a version never
    changes once a run may have used it; name, description and status change in place. ``bump``
    says which part of the version label a new version raises (``minor`` or ``patch``)."""
    with rt.db.transaction() as session:
        current = _latest(session, get_workflow(session, workflow_id))
        if current.status == "deleted":
            raise WorkflowNotFound(workflow_id)
        name = body.get("name", current.name)
        if name != current.name and _name_taken(session, name, current.lineage_id):
            raise NameTaken("workflow", "Workflow", name)
        definition = dict(current.definition)
        changes = _definition(body)
        structural = any(
            key in changes and changes[key] != current.definition.get(key) for key in STRUCTURE_KEYS
        )
        if structural:
            # A new structure replaces the old one wholesale (switching dialects drops old keys).
            for key in STRUCTURE_KEYS:
                definition.pop(key, None)
        definition.update(changes)
        if definition != current.definition:
            dag = validate_definition(session, rt.settings, definition)
            current.is_latest = False
            if current.status == "active":
                current.status = "inactive"
            new = Workflow(
                id=new_id(),
                lineage_id=current.lineage_id,
                name=name,
                description=body.get("description", current.description),
                version=current.version + 1,
                version_label=body.get("version_label") or next_label(current.version_label, bump),
                definition=definition,
                dialect=dag.dialect,
                status=body.get("status") or "active",
                is_latest=True,
                template_id=current.template_id,
                template_parameters=current.template_parameters,
                origin=current.origin,
                inline=current.inline,
                **labels(definition.get("metadata")),
            )
            session.add(new)
            new.first_created_at = first_created(session, [current])[0].first_created_at
            return new
        first_created(session, [current])
        current.name = name
        if body.get("version_label"):
            current.version_label = body["version_label"]
        if "description" in body:
            current.description = body["description"]
        if "status" in body and body["status"]:
            current.status = body["status"]
        current.updated_at = utcnow()
        return current


def delete_workflow(rt, workflow_id: str, *, unless_active: bool = False) -> None:
    """Soft delete: every version of the workflow is marked deleted; runs keep their history.
    ``unless_active`` refuses (``WorkflowInUse``) while a run of it has not finished; a run
    being cancelled counts as finished (it cannot go on, and seed 000 already calls it
    ``canceled``)."""
    with rt.db.transaction() as session:
        workflow = get_workflow(session, workflow_id)
        if workflow.status == "deleted":
            raise WorkflowNotFound(workflow_id)
        if unless_active:
            active = session.execute(
                select(func.count())
                .select_from(Run)
                .where(
                    Run.workflow_id == workflow.lineage_id,
                    Run.status.not_in([s.value for s in (*RUN_TERMINAL, RunStatus.CANCELLING)]),
                )
            ).scalar_one()
            if active:
                raise WorkflowInUse(
                    f"Workflow '{workflow_id}' has {active} active execution(s): cancel them "
                    "or let them finish before deleting it"
                )
        for row in session.execute(
            select(Workflow).where(Workflow.lineage_id == workflow.lineage_id)
        ).scalars():
            row.status = "deleted"
            row.updated_at = utcnow()


@transactional
def list_workflows(
    session: Session,
    *,
    window: Window,
    status: str | None = None,
    name: str | None = None,
    matches: tuple[Match, ...] = (),
    origin: str | None = None,
    tag: str | None = None,
    created_by: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort_by: str = "created_at",
    sort_order: str = "desc",
) -> Page:
    query = select(Workflow).where(Workflow.is_latest.is_(True), Workflow.inline.is_(False))
    if origin:
        query = query.where(Workflow.origin == origin)
    if tag:
        query = query.where(list_contains(session, Workflow.tags, tag))
    if created_by:
        query = query.where(Workflow.created_by == created_by)
    query = within(query, Workflow.created_at, created_after, created_before)
    for match in matches:
        query = query.where(match.clause())
    if status:
        query = query.where(Workflow.status == status)
    else:
        query = query.where(Workflow.status != "deleted")
    if name:
        query = query.where(Workflow.name == name)
    column = getattr(Workflow, sort_by if sort_by in SORTABLE else "created_at")
    query = query.order_by(column.asc() if sort_order == "asc" else column.desc(), Workflow.id)
    page = paginate(session, query, window)
    first_created(session, page.items)
    return page


@transactional
def list_versions(session: Session, workflow_id: str, *, window: Window):
    workflow = get_workflow(session, workflow_id)
    query = (
        select(Workflow)
        .where(Workflow.lineage_id == workflow.lineage_id)
        .order_by(Workflow.version.desc())
    )
    return paginate(session, query, window)


def plan_workflow(rt, workflow_id: str) -> dict[str, Any]:
    with rt.db.transaction() as session:
        workflow = get_workflow(session, workflow_id)
        dag = validate_definition(session, rt.settings, workflow.definition)
    plan = build_plan(dag)
    return {
        "workflow_id": workflow.lineage_id,
        "workflow_definition_id": workflow.id,
        "version": workflow.version,
        "segment_size": rt.settings.segment_size,
        **describe(plan, dag),
    }
