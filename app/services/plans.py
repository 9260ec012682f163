"""Seed 004's plans: workflows written as a list of typed steps, created through that API.

A plan is a workflow (``origin="seed004"``) in the plan dialect; its id is the workflow's
lineage id, so it keeps its id across versions (an update with new steps is a new version). An
execution created with an inline ``plan`` gets a workflow of its own (``inline``: never listed,
its name not reserved) and is left CREATED until it is started.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Run, TaskExecution, Workflow
from app.services import runs, workflows
from app.services.errors import PlanNotFound, WorkflowNotFound
from app.services.pagination import Page, Window
from app.services.transactions import transactional

ORIGIN = "seed004"
PLAN_KEYS = ("name", "description", "steps", "metadata", "variables")


class Plan(NamedTuple):
    """The plan's current version, and when its first version was created."""

    workflow: Workflow
    created_at: datetime

    @property
    def updated_at(self) -> datetime | None:
        return self.workflow.created_at if self.workflow.version > 1 else None


class StepView(NamedTuple):
    """A task row and the parameters its plan step gave it."""

    step: TaskExecution
    parameters: Any


def _body(plan: dict[str, Any]) -> dict[str, Any]:
    return {key: plan[key] for key in PLAN_KEYS if plan.get(key) is not None}


def _current(session: Session, plan_id: str) -> Workflow:
    try:
        workflow = workflows.get_current_workflow(session, plan_id)
    except WorkflowNotFound:
        raise PlanNotFound(plan_id) from None
    if workflow.origin != ORIGIN or workflow.inline:
        raise PlanNotFound(plan_id)
    return workflow


def create_plan(rt, plan: dict[str, Any]) -> Plan:
    workflow = workflows.create_workflow(rt, _body(plan), origin=ORIGIN)
    return Plan(workflow, workflow.first_created_at)


@transactional
def get_plan(session: Session, plan_id: str) -> Plan:
    workflow = _current(session, plan_id)
    return Plan(workflow, workflow.first_created_at)


@transactional
def list_plans(
    session: Session,
    *,
    window: Window,
    tag: str | None = None,
    created_by: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Page:
    page = workflows.list_workflows(
        session,
        window=window,
        origin=ORIGIN,
        tag=tag,
        created_by=created_by,
        created_after=created_after,
        created_before=created_before,
    )
    return replace(page, items=[Plan(w, w.first_created_at) for w in page.items])


def update_plan(rt, plan_id: str, plan: dict[str, Any]) -> Plan:
    """``PUT``: the plan as sent replaces the plan (new steps make a new version)."""
    with rt.db.transaction() as session:
        current = _current(session, plan_id)
    body = _body(plan)
    body.setdefault("description", None)
    workflow = workflows.update_workflow(rt, current.id, body)
    return Plan(workflow, workflow.first_created_at)


def delete_plan(rt, plan_id: str) -> None:
    with rt.db.transaction() as session:
        current = _current(session, plan_id)
    workflows.delete_workflow(rt, current.id)


def execute_plan(
    rt, plan_id: str, *, variables: dict[str, Any], metadata: dict[str, Any], triggered_by: str
) -> runs.Execution:
    with rt.db.transaction() as session:
        current = _current(session, plan_id)
    return _execution(rt, current.id, variables, metadata, triggered_by, start=True)


def create_execution(
    rt,
    plan: dict[str, Any],
    *,
    variables: dict[str, Any],
    metadata: dict[str, Any],
    triggered_by: str,
) -> Run:
    """An execution of a plan given inline: written and left CREATED (``…/start`` sends it)."""
    workflow = workflows.create_workflow(rt, _body(plan), origin=ORIGIN, inline=True)
    return _execution(rt, workflow.id, variables, metadata, triggered_by, start=False)


def _execution(rt, workflow_id: str, variables, metadata, triggered_by: str, *, start: bool):
    run = runs.start_run(
        rt,
        workflow_id,
        {},
        variables=variables,
        triggered_by=triggered_by,
        profile=ORIGIN,
        options={"metadata": metadata} if metadata else None,
        start=start,
    )
    return runs.describe_execution(rt, run.id)


@transactional
def get_execution_step(session: Session, run_id: str, step_id: str) -> StepView:
    step = runs.get_step(session, run_id, step_id)
    run = runs.get_run(session, run_id)
    definition = session.execute(
        select(Workflow.definition).where(Workflow.id == run.workflow_definition_id)
    ).scalar_one()
    written = definition.get("steps") if isinstance(definition, dict) else None
    parameters = next(
        (
            s.get("parameters", s.get("input"))
            for s in (written if isinstance(written, list) else [])
            if isinstance(s, dict) and str(s.get("id")) == step_id
        ),
        step.input_data,
    )
    return StepView(step, parameters)


@transactional
def execution_variables(session: Session, run_id: str, render=None) -> dict[str, Any]:
    """The run's variables and ``<step>_output`` of each completed step; ``render`` turns an
    output into what the client reads (seed 004 shows a command's stdout)."""
    found = runs.run_variables(session, run_id, render=render)
    return {"execution_id": found["execution_id"], "variables": found["variables"]}
