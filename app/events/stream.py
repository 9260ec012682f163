"""A run's events for a live client: past ones in order, then live ones; no gap, no duplicate.

The subscription to live events starts *before* the past events are read, so an event
committed meanwhile arrives through one path or the other, and the ids already sent filter the
overlap. Events are published only after they are committed, so anything published before the
subscription began is already readable from the table.

A run's stream ends after its final event (``execution_completed``/``failed``/``cancelled``) once
the run is finished; the all-runs stream never ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from sqlalchemy import select

from app.events.model import render_event
from app.models import Event, Run
from app.models.status import RUN_TERMINAL

# The last event of a finished run (a completed run ends with workflow_completed, which
# follows execution_completed for seed 000's clients).
FINAL = {"workflow_completed", "execution_failed", "execution_cancelled"}
REPLAY_PAGE = 500
# Event ids are 64-bit: a client's larger "after" id means "after everything" (not a DB error).
MAX_EVENT_ID = 2**63 - 1
GLOBAL_REPLAY_LIMIT = 10_000


class Delivery(NamedTuple):
    event: dict[str, Any]
    text: str  # the event as JSON, ready to send


class Overflow(Exception):
    """The client fell further behind than its buffer allows."""


def _run_finished(rt, run_id: str) -> bool:
    with rt.db.transaction() as session:
        status = session.execute(select(Run.status).where(Run.id == run_id)).scalar_one_or_none()
    return status in {s.value for s in RUN_TERMINAL}


def _past(rt, run_id: str | None, after: int) -> Iterator[Delivery]:
    after = min(after, MAX_EVENT_ID)
    sent = 0
    while True:
        query = select(Event).where(Event.id > after).order_by(Event.id).limit(REPLAY_PAGE)
        if run_id is not None:
            query = query.where(Event.run_id == run_id)
        with rt.db.transaction() as session:
            page = session.execute(query).scalars().all()
        for event in page:
            rendered = render_event(event)
            yield Delivery(rendered, json.dumps(rendered, default=str))
            after = event.id
            sent += 1
        if len(page) < REPLAY_PAGE or (run_id is None and sent >= GLOBAL_REPLAY_LIMIT):
            return


class EventStream:
    """Iterate to receive events; ``None`` means "nothing for a while" (send a keep-alive)."""

    def __init__(self, rt, hub, run_id: str | None, after: int | None, idle: float = 15.0):
        self.rt = rt
        self.run_id = run_id
        self.idle = idle
        self.subscription = hub.subscribe(run_id)
        self.sent: set[int] = set()
        self.last_id = after or 0
        self._pending = self._replay(after)

    def restart(self, after: int) -> None:
        """Client asked to resume after ``after`` (WebSocket ``subscribe``)."""
        self.sent = {i for i in self.sent if i <= after}
        self._pending = self._replay(after)

    def _replay(self, after: int | None) -> Iterator[Delivery]:
        if self.run_id is None and after is None:
            return iter(())  # the all-runs stream starts live unless asked to resume
        return _past(self.rt, self.run_id, after or 0)

    def close(self) -> None:
        self.subscription.close()

    def next(self, timeout: float | None = None) -> Delivery | None:
        """The next event to send, or None after ``timeout`` (default: the idle interval)."""
        for delivery in self._pending:
            if delivery.event["event_id"] not in self.sent:
                return self._deliver(delivery)
        self._pending = iter(())
        while True:
            if self.subscription.overflowed:
                raise Overflow()
            item = self.subscription.get(self.idle if timeout is None else timeout)
            if item is None:
                return None
            if item[0].get("event_id") not in self.sent:
                return self._deliver(Delivery(*item))

    def _deliver(self, delivery: Delivery) -> Delivery:
        event_id = delivery.event["event_id"]
        self.sent.add(event_id)
        self.last_id = max(self.last_id, event_id)
        return delivery

    def finished(self, event: dict[str, Any]) -> bool:
        return (
            self.run_id is not None
            and event.get("type") in FINAL
            and _run_finished(self.rt, self.run_id)
        )
