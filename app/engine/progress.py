"""How far a run has got, from what is already recorded (seed 003's progress reports).

Pure functions of a run's DAG, its task rows and its event log; ``app/services/progress.py``
loads those and assembles the report.

- ``remaining_seconds``: the remaining critical path. A task still to run is expected to take
  what comparable tasks took (``Durations``), a running one what is left of that, a finished or
  stopped one nothing; the longest chain of dependencies is what is left of the run.
- ``blockers``: what held the run up, replayed from its events, so each keeps the instant it
  appeared and the instant it cleared. ``waiting_on_agents`` adds tasks whose agent is not active
  now (current state: such a blocker goes away when the agent is back).
- ``milestones``: the run started, each synchronization point reached, the run completed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import Any, Protocol

from app.engine.catalogue import INTEGRATIONS
from app.engine.dag import Dag, Task
from app.models.status import TaskStatus

T = TaskStatus
DONE = frozenset({T.COMPLETED.value, T.SKIPPED.value})
# Will not run again in this generation, and neither will anything downstream of them.
STOPPED = frozenset({T.FAILED.value, T.UPSTREAM_FAILED.value, T.CANCELLED.value})
WAITING = frozenset({T.PENDING.value, T.RUNNING.value, T.RETRYING.value})
INITIALIZATION, COMPLETION = "initialization", "completion"
# The event types ``blockers`` reads; a caller may load only these.
BLOCKER_EVENTS = frozenset(
    {
        "task_failed",
        "task_retrying",
        "task_completed",
        "task_skipped",
        "task_cancelled",
        "execution_paused",
        "execution_resumed",
        "execution_cancelled",
        "execution_completed",
    }
)


@dataclass(frozen=True)
class TaskFact:
    """What progress needs of one task row (times in UTC, with their zone)."""

    task_id: str
    status: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    execution_id: str | None = None  # the row's own id (seed 003's task execution id)

    @property
    def seconds(self) -> float | None:
        """How long its last attempt took, if it completed."""
        if self.status != T.COMPLETED.value or not (self.started_at and self.completed_at):
            return None
        return max(0.0, (self.completed_at - self.started_at).total_seconds())


class Durations:
    """The seconds a task is expected to take: what that task took in recent runs of its
    workflow; else the mean of the tasks completed in this run; else the mean of everything in
    those recent runs; else ``floor`` (nothing has finished anywhere yet: a task takes at least
    as long as the longest running one has been running); else unknown."""

    def __init__(
        self,
        this_run: Iterable[float],
        history: Mapping[str, list[float]] | None = None,
        floor: float | None = None,
    ):
        history = history or {}
        self.by_task = {tid: fmean(samples) for tid, samples in history.items() if samples}
        done = list(this_run)
        pooled = [s for samples in history.values() for s in samples]
        self.default = fmean(done) if done else fmean(pooled) if pooled else floor

    def expected(self, task_id: str) -> float | None:
        return self.by_task.get(task_id, self.default)


def remaining_seconds(
    dag: Dag, tasks: Mapping[str, TaskFact], durations: Durations, now: datetime
) -> float | None:
    """Seconds until the last task finishes: the longest chain of work still to do, each task
    starting when its dependencies finish (workers are assumed free). ``None`` while some task
    still to run has no expected duration."""
    finish: dict[str, float] = {}
    stopped: set[str] = set()
    for tid in dag.topological_order():
        task = dag.tasks[tid]
        fact = tasks.get(tid)
        status = fact.status if fact else T.PENDING.value
        start = max((finish[d] for d in task.depends_on if d in finish), default=0.0)
        finish[tid] = start
        if status in STOPPED or any(d in stopped for d in task.depends_on):
            stopped.add(tid)  # its dependants are skipped as soon as they are reached
            continue
        if status in DONE or tid in dag.synchronization_points:
            continue
        expected = durations.expected(tid)
        if expected is None:
            return None
        if status == T.RUNNING.value and fact is not None and fact.started_at is not None:
            expected = max(0.0, expected - (now - fact.started_at).total_seconds())
        finish[tid] = start + expected
    return max(finish.values(), default=0.0)


class Happening(Protocol):
    """What ``blockers`` reads of a stored event."""

    id: int
    type: str
    task_id: str | None
    created_at: datetime
    data: dict[str, Any] | None


@dataclass
class Blocker:
    id: str  # the id of the event that raised it
    kind: str  # task_failed, task_retrying, run_paused, agent_unavailable
    description: str
    created_at: datetime
    resolved_at: datetime | None = None
    task_id: str | None = None
    task_execution_id: str | None = None


def blockers(
    events: Iterable[Happening],
    tasks: Mapping[str, TaskFact],
    names: Mapping[str, str] | None = None,
) -> list[Blocker]:
    """Blockers raised and cleared by a run's events (in event order), oldest first.

    - a failed task, until it completes or is skipped in a later generation (retry, rerun);
    - a task waiting to be retried after a failed attempt, until it completes, fails for good
      (then it is a failed task) or is cancelled;
    - a paused run, until it resumes or is cancelled.
    """
    names = names or {}
    found: list[Blocker] = []
    current: dict[tuple[str, str | None], Blocker] = {}

    def clear(kind: str, task_id: str | None, at: datetime) -> None:
        blocker = current.pop((kind, task_id), None)
        if blocker is not None:
            blocker.resolved_at = at

    def raise_(kind: str, event: Happening, description: str) -> None:
        key = (kind, event.task_id)
        if key in current:  # the same blocker again (another failed attempt): keep its start
            current[key].description = description
            return
        fact = tasks.get(event.task_id) if event.task_id else None
        blocker = Blocker(
            id=str(event.id),
            kind=kind,
            description=description,
            created_at=event.created_at,
            task_id=event.task_id,
            task_execution_id=fact.execution_id if fact else None,
        )
        current[key] = blocker
        found.append(blocker)

    for event in events:
        kind, task_id, at = event.type, event.task_id, event.created_at
        data = event.data or {}
        name = names.get(task_id or "", task_id)
        if kind == "task_retrying":
            raise_(
                "task_retrying",
                event,
                f"Task '{name}' failed attempt {data.get('attempt')} and waits to be retried: "
                f"{data.get('error')}",
            )
        elif kind == "task_failed":
            clear("task_retrying", task_id, at)
            raise_("task_failed", event, f"Task '{name}' failed: {data.get('error')}")
        elif kind in ("task_completed", "task_skipped"):
            clear("task_retrying", task_id, at)
            clear("task_failed", task_id, at)
        elif kind == "task_cancelled":
            clear("task_retrying", task_id, at)
        elif kind == "execution_paused":
            reason = data.get("reason")
            raise_("run_paused", event, f"Run paused: {reason}" if reason else "Run paused")
        elif kind == "execution_resumed":
            clear("run_paused", None, at)
        elif kind in ("execution_cancelled", "execution_completed"):
            # Nothing waits any more; a failed task stays failed in a cancelled run.
            for blocker_kind, blocked in list(current):
                if kind == "execution_completed" or blocker_kind != "task_failed":
                    clear(blocker_kind, blocked, at)
    return found


def agent_of(task: Task) -> str | None:
    """The registered agent a task calls: ``agent_name``, or a component that names no
    built-in integration (validation made sure it is an agent)."""
    if task.action == "agent.call":
        return task.agent
    return task.integration if task.integration not in INTEGRATIONS else None


def waiting_on_agents(
    dag: Dag,
    tasks: Mapping[str, TaskFact],
    agents: Mapping[str, tuple[str, datetime]],
    since: datetime,
) -> list[Blocker]:
    """Tasks still to run whose agent is not active (inactive, deleted or gone): dated from the
    agent's last change (``agents``: name → status, updated_at), or ``since`` when it is gone."""
    found = []
    for tid, fact in tasks.items():
        task = dag.tasks.get(tid)
        agent = agent_of(task) if task is not None and fact.status in WAITING else None
        if agent is None:
            continue
        status, changed = agents.get(agent, ("not registered", since))
        if status == "active":
            continue
        found.append(
            Blocker(
                id=f"agent:{fact.execution_id or tid}",
                kind="agent_unavailable",
                description=f"Task '{task.name}' waits on agent '{agent}', which is {status}",
                created_at=changed,
                task_id=tid,
                task_execution_id=fact.execution_id,
            )
        )
    return found


@dataclass(frozen=True)
class Milestone:
    id: str
    name: str
    description: str
    achieved: bool
    achieved_at: datetime | None = None
    task_id: str | None = field(default=None)  # a synchronization point's task


def milestones(
    dag: Dag,
    tasks: Mapping[str, TaskFact],
    *,
    started_at: datetime | None,
    completed_at: datetime | None,
    completed: bool,
    descriptions: Mapping[str, str] | None = None,
) -> list[Milestone]:
    """Initialization (the run started), each synchronization point in definition order
    (reached when its no-op task completed, i.e. every required task had), and Completion."""
    descriptions = descriptions or {}
    found = [
        Milestone(
            INITIALIZATION,
            "Initialization",
            "Workflow initialization",
            started_at is not None,
            started_at,
        )
    ]
    for tid, task in dag.tasks.items():
        if tid not in dag.synchronization_points:
            continue
        fact = tasks.get(tid)
        reached = fact is not None and fact.status == T.COMPLETED.value
        required = ", ".join(task.depends_on)
        found.append(
            Milestone(
                # Its own id, unless that is one of the two above.
                tid if tid not in (INITIALIZATION, COMPLETION) else f"sync:{tid}",
                task.name,
                descriptions.get(tid)
                or (f"Tasks {required} completed" if required else "No task required"),
                reached,
                fact.completed_at if reached and fact is not None else None,
                tid,
            )
        )
    found.append(
        Milestone(
            COMPLETION,
            "Completion",
            "Every task finished and the run completed",
            completed,
            completed_at if completed else None,
        )
    )
    return found
