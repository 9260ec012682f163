"""The canonical DAG every definition dialect is normalised into (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from app.engine import expressions

# Where seed 003 declares its barriers; a task compiled from one has a path under it.
SYNC_POINTS = "synchronizationPoints"


@dataclass(frozen=True)
class RetryPolicy:
    """``count`` retries after the first attempt; delay = min(max_delay, delay * multiplier**n)."""

    count: int = 0
    delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 300.0

    def countdown(self, retries_done: int) -> float:
        return min(self.max_delay, self.delay * (self.multiplier**retries_done))

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "delay": self.delay,
            "multiplier": self.multiplier,
            "max_delay": self.max_delay,
        }


@dataclass(frozen=True)
class CheckpointPolicy:
    """Automatic checkpoints (the workflow's ``checkpoint`` option): one each time the run's
    completed tasks reach a multiple of ``every_n_tasks``, and one whenever the run pauses."""

    every_n_tasks: int | None = None
    on_pause: bool = False


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    # ``integration.capability`` (``cli.execute_command``) or ``agent`` with ``agent`` set.
    action: str
    input: Any = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    condition: str | None = None
    timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()
    queue: str | None = None
    agent: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Where this task came from in the user's document, for error paths ("steps.extract").
    path: str = ""

    @cached_property
    def expression_bodies(self) -> tuple[str, ...]:
        """Every ``${...}`` body of the input, then the condition's. Computed once per task: a
        worker keeps each DAG cached, and every execution of the task asks."""
        bodies = list(expressions.expressions_in(self.input))
        if self.condition:
            bodies.append(expressions.condition_body(self.condition))
        return tuple(bodies)

    @property
    def integration(self) -> str:
        return self.action.split(".", 1)[0]

    @property
    def capability(self) -> str:
        return self.action.split(".", 1)[1] if "." in self.action else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "action": self.action,
            "agent": self.agent,
            "input": self.input,
            "depends_on": list(self.depends_on),
            "condition": self.condition,
            "timeout": self.timeout,
            "retry": self.retry.to_dict(),
            "queue": self.queue,
            "metadata": self.metadata,
        }


@dataclass
class Dag:
    tasks: dict[str, Task]
    dialect: str
    input_schema: dict[str, Any] | None = None
    output_mapping: Any = None
    variables: dict[str, Any] = field(default_factory=dict)
    checkpoint: CheckpointPolicy = CheckpointPolicy()

    def dependants(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {tid: [] for tid in self.tasks}
        for task in self.tasks.values():
            for dep in task.depends_on:
                if dep in out:
                    out[dep].append(task.id)
        return out

    def topological_order(self) -> list[str]:
        """Kahn's order, stable by declaration order. Assumes the DAG was validated acyclic."""
        indegree = {tid: 0 for tid in self.tasks}
        for task in self.tasks.values():
            for dep in task.depends_on:
                if dep in indegree:
                    indegree[task.id] += 1
        dependants = self.dependants()
        ready = [tid for tid in self.tasks if indegree[tid] == 0]
        order: list[str] = []
        i = 0
        while i < len(ready):
            tid = ready[i]
            i += 1
            order.append(tid)
            for child in dependants[tid]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        return order

    def sinks(self) -> list[str]:
        dependants = self.dependants()
        return [tid for tid, children in dependants.items() if not children]

    @cached_property
    def synchronization_points(self) -> frozenset[str]:
        """Ids of seed 003's synchronization points. Each runs as a no-op task after its
        ``requiredTasks`` (the dialect names it by its place in the document), and is a
        milestone to the clients that wrote it, not one of their tasks. Computed once per DAG:
        progress is counted against it after every task."""
        return frozenset(
            tid for tid, task in self.tasks.items() if task.path.startswith(SYNC_POINTS + "[")
        )
