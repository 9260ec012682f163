"""What each subscription watches, and when it has something new to send.

A subscription's source resolver returns a ``Source`` (which run, which kind of update). The
socket (``transport.py``) opens a ``Watch`` on it: the run's event stream from the process's
event hub (``app/events/stream.py``: its past events, then live ones, no gap, no repeat, one
Redis connection per process whatever the number of subscribers). Each time the socket pumps
it, the watch reads every event that has arrived and turns the batch into payloads, one per
thing that changed; the field's resolver then renders each payload as it is *now*. A burst of
events (a fan-out finishing) is one update of the execution, not one per event.

- ``workflowExecutionUpdated``: the run's id, once per batch (the first batch, its history,
  says how the execution is now);
- ``taskExecutionUpdated``: each task row named by the batch's task events, once (the first
  batch: every task that has changed so far); synchronization points are milestones, not tasks;
- ``progressReportUpdated``: the run's id, first, then for each batch that changed the report
  (``progress_updated``) or ended the run.

The watch ends after the batch holding the run's final event, once the run has finished.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from app.events.stream import EventStream
from app.services import runs

EXECUTION, TASKS, PROGRESS = "execution", "tasks", "progress"
CHANGES_PROGRESS = {"progress_updated", "execution_completed", "execution_failed"}


@dataclass(frozen=True)
class Source:
    run_id: str
    kind: str


class Watch:
    def __init__(self, rt, hub, source: Source, wake: threading.Event):
        execution = runs.describe_execution(rt, source.run_id)  # RunNotFound: refused here
        self.source = source
        self.rt = rt
        self.milestones = execution.sync_points
        self.rows = {step.task_id: step.id for step in execution.steps}
        self.stream = EventStream(rt, hub, source.run_id, None, wake=wake)
        self.first = True
        self.done = False

    def pump(self) -> list[str]:
        """Payloads for what changed since the last pump (none: nothing did)."""
        batch = []
        while (delivery := self.stream.next(timeout=0)) is not None:
            batch.append(delivery.event)
            if self.stream.finished(delivery.event):
                self.done = True
                break
        first, self.first = self.first, False
        if not batch and not first:
            return []
        if self.source.kind == EXECUTION:
            return [self.source.run_id]
        if self.source.kind == PROGRESS:
            changed = self.done or any(e["type"] in CHANGES_PROGRESS for e in batch)
            return [self.source.run_id] if first or changed else []
        return self._tasks(batch)

    def _tasks(self, batch: list[dict]) -> list[str]:
        named = []
        for event in batch:
            task_id = event.get("task_id")
            if task_id and task_id not in self.milestones and task_id not in named:
                named.append(task_id)
        if any(task_id not in self.rows for task_id in named):  # rows made since: read again
            steps = runs.describe_execution(self.rt, self.source.run_id).steps
            self.rows = {step.task_id: step.id for step in steps}
        return [self.rows[task_id] for task_id in named if task_id in self.rows]

    def close(self) -> None:
        self.stream.close()
