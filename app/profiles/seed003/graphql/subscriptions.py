"""What each subscription watches, and when it has something new to send.

A subscription's source resolver returns a ``Source`` (which run, which kind of update). The
socket (``transport.py``) opens a ``Watch`` on it: the run's event stream from the process's
event hub (``app/events/stream.py``: its past events, then live ones, no gap, no repeat, one
Redis connection per process whatever the number of subscribers). Each time the socket pumps
it, the watch reads every event that has arrived and turns the batch into updates, one per
thing that changed; the field's resolver then renders each from the rows as they are after
the batch. A burst of events (a fan-out finishing) is one update of the execution, not one per
event, and an update is rendered once per process however many sockets send it
(``SharedRenders``).

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
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from app.events.stream import EventStream
from app.services import runs

EXECUTION, TASKS, PROGRESS = "execution", "tasks", "progress"
CHANGES_PROGRESS = {"progress_updated", "execution_completed", "execution_failed"}


@dataclass(frozen=True)
class Source:
    run_id: str
    kind: str


class Update(NamedTuple):
    """Something to render: a run or task row id (what the field's resolver reads), and the
    event after which it changed (``None``: as it is now)."""

    payload: str
    after: int | None


class SharedRenders:
    """Each update rendered once per process, whatever the number of sockets watching it.

    Subscribers to the same operation (query and variables) with an update of the same payload
    after the same event would each render it from rows committed after that event: the first
    renders (one transaction, one execution, one JSON encoding) and the others wait for its
    text. A task's update is keyed by that task's last event, so subscribers share it whatever
    else their batches held. The resolvers of subscription fields check no role, so the text
    does not depend on who asks. Bounded (LRU); an update "as it is now" is never shared.
    """

    def __init__(self, size: int = 4096):
        self._items: OrderedDict[tuple, _Rendering] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def text(self, key: tuple | None, render: Callable[[], str]) -> str:
        if key is None:
            return render()
        with self._lock:
            entry = self._items.get(key)
            owner = entry is None
            if owner:
                entry = self._items[key] = _Rendering()
                if len(self._items) > self._size:
                    self._items.popitem(last=False)
        if owner:
            try:
                entry.value = render()
            finally:
                entry.ready.set()
        else:
            entry.ready.wait()
        if entry.value is None:  # the first renderer failed: try on our own
            return render()
        return entry.value


class _Rendering:
    def __init__(self):
        self.ready = threading.Event()
        self.value: str | None = None


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

    def pump(self) -> list[Update]:
        """Updates for what changed since the last pump (none: nothing did)."""
        batch = []
        while (delivery := self.stream.next(timeout=0)) is not None:
            batch.append(delivery.event)
            if self.stream.finished(delivery.event):
                self.done = True
                break
        first, self.first = self.first, False
        if not batch and not first:
            return []
        # An update renders the state after the batch's last event; the first one, the state
        # now, which no one else shares (two subscribers' "now" may differ without an event).
        after = None if first else batch[-1]["event_id"]
        if self.source.kind == EXECUTION:
            return [Update(self.source.run_id, after)]
        if self.source.kind == PROGRESS:
            changed = self.done or any(e["type"] in CHANGES_PROGRESS for e in batch)
            return [Update(self.source.run_id, after)] if first or changed else []
        return self._tasks(batch, first)

    def _tasks(self, batch: list[dict], first: bool) -> list[Update]:
        last: dict[str, int] = {}  # task id → its last event in the batch, in order of change
        for event in batch:
            task_id = event.get("task_id")
            if task_id and task_id not in self.milestones:
                last.pop(task_id, None)
                last[task_id] = event["event_id"]
        if any(task_id not in self.rows for task_id in last):  # rows made since: read again
            steps = runs.describe_execution(self.rt, self.source.run_id).steps
            self.rows = {step.task_id: step.id for step in steps}
        return [
            Update(self.rows[task_id], None if first else after)
            for task_id, after in last.items()
            if task_id in self.rows
        ]

    def close(self) -> None:
        self.stream.close()
