"""Definitions as the services see them: validated against the live catalogue, cached as DAGs."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.engine import parameters
from app.engine.dag import Dag
from app.engine.dialects import STRUCTURE_KEYS, normalise
from app.engine.validation import Catalogue, InvalidDefinition, Limits, load_definition, validate
from app.models import Agent, Workflow
from app.services.errors import InvalidRequest

# Keys of a workflow body that belong to the definition (served back as ``workflow_data``).
DEFINITION_KEYS = (
    *STRUCTURE_KEYS,
    "input",
    "input_schema",
    "output",
    "output_mapping",
    "variables",
    "checkpoint",
    "metadata",
)


def catalogue_for(session: Session, aliases) -> Catalogue:
    cache: dict[str, str | None] = {}

    def agent_status(name: str) -> str | None:
        if name not in cache:
            cache[name] = session.execute(
                select(Agent.status).where(Agent.name == name)
            ).scalar_one_or_none()
        return cache[name]

    return Catalogue(agent_status=agent_status, aliases=aliases)


def _limits(settings) -> Limits:
    return Limits(
        max_tasks=settings.max_tasks,
        enable_shell=settings.enable_shell,
        max_expression_length=settings.max_expression_length,
    )


def validate_definition(session: Session, settings, definition: dict[str, Any]) -> Dag:
    return load_definition(
        definition, catalogue_for(session, settings.component_aliases), _limits(settings)
    )


def runnable_dag(session: Session, settings, workflow: Workflow) -> Dag:
    """A stored version's DAG, if it may run now: checked again against what may have changed
    since it was saved (the agents it calls, the server's limits), and refused if it holds
    unbound template parameters. The definition is normalised once per version (cached). A
    version that passed without calling an agent is not checked again: nothing those checks read
    can change for it (versions are immutable, limits are the process's settings), so executing
    it costs the same whatever its size."""
    dag = dag_of(settings, workflow)
    if dag is None:  # it no longer normalises (the aliases changed): the problems are named
        return validate_definition(session, settings, workflow.definition)
    if dag_cache.runnable(workflow.id):
        return dag
    _refuse_unbound_parameters(workflow)
    asked: list[str] = []
    catalogue = catalogue_for(session, settings.component_aliases)

    def agent_status(name: str) -> str | None:
        asked.append(name)
        return catalogue.agent_status(name)

    problems = validate(
        dag, Catalogue(agent_status=agent_status, aliases=catalogue.aliases), _limits(settings)
    )
    if problems:
        raise InvalidDefinition(problems)
    if not asked:
        dag_cache.mark_runnable(workflow.id)
    return dag


def _refuse_unbound_parameters(workflow: Workflow) -> None:
    """A workflow with ``${params.x}`` placeholders is a template's body: running it would leave
    them half-resolved, so it is refused with every placeholder named."""
    found = parameters.placeholders(workflow.definition)
    if not found:
        return
    names = ", ".join(sorted({name for _, name in found}))
    raise InvalidRequest(
        f"Workflow '{workflow.name}' has unbound template parameters: {names}. Create a template "
        "from it and instantiate that with parameter_values to bind them",
        [
            {"field": path, "message": f"unbound template parameter '{name}'", "type": "unbound"}
            for path, name in found
        ],
    )


class DagCache:
    """Normalised DAGs by workflow version id. Versions are immutable, so entries never go stale."""

    def __init__(self, size: int = 256):
        self._items: OrderedDict[str, Dag] = OrderedDict()
        self._runnable: set[str] = set()  # versions ``runnable_dag`` need not check again
        self._loading: dict[str, Lock] = {}
        self._size = size
        self._lock = Lock()

    def runnable(self, workflow_id: str) -> bool:
        return workflow_id in self._runnable

    def mark_runnable(self, workflow_id: str) -> None:
        with self._lock:
            if workflow_id in self._items:
                self._runnable.add(workflow_id)

    def get(self, workflow_id: str, load_definition, aliases) -> Dag:
        dag = self._cached(workflow_id)
        if dag is not None:
            return dag
        # One thread normalises a version; others asking for it meanwhile wait for its result
        # (a burst of executions of a large workflow on a fresh process would each do it).
        with self._lock:
            loading = self._loading.setdefault(workflow_id, Lock())
        with loading:
            dag = self._cached(workflow_id)
            if dag is None:
                dag, _problems = normalise(load_definition(), aliases)
                with self._lock:
                    self._items[workflow_id] = dag
                    if len(self._items) > self._size:
                        evicted, _dag = self._items.popitem(last=False)
                        self._runnable.discard(evicted)
            with self._lock:
                self._loading.pop(workflow_id, None)
        return dag

    def _cached(self, workflow_id: str) -> Dag | None:
        with self._lock:
            dag = self._items.get(workflow_id)
            if dag is not None:
                self._items.move_to_end(workflow_id)
            return dag


dag_cache = DagCache()


def dag_for(session: Session, settings, workflow_id: str) -> Dag:
    """The DAG of a workflow version; the definition is read only when it is not cached."""
    return dag_cache.get(
        workflow_id, lambda: _stored_definition(session, workflow_id), settings.component_aliases
    )


def dag_in(session: Session, workflow_id: str) -> Dag:
    """``dag_for`` in a read that holds only a session (it carries the aliases)."""
    return dag_cache.get(
        workflow_id,
        lambda: _stored_definition(session, workflow_id),
        session.info.get("component_aliases", {}),
    )


def dag_of_version(db, settings, workflow_id: str) -> Dag:
    """``dag_for`` outside a unit of work: a session is opened only when the DAG is not cached."""

    def load() -> dict[str, Any]:
        with db.transaction() as session:
            return _stored_definition(session, workflow_id)

    return dag_cache.get(workflow_id, load, settings.component_aliases)


def _stored_definition(session: Session, workflow_id: str) -> dict[str, Any]:
    return session.execute(
        select(Workflow.definition).where(Workflow.id == workflow_id)
    ).scalar_one()


def dag_of(settings, workflow: Workflow) -> Dag:
    """The DAG of a workflow version already read (cached as ``dag_for`` caches it)."""
    return dag_cache.get(workflow.id, lambda: workflow.definition, settings.component_aliases)
