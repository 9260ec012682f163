"""A run's events for a live client: past ones in order, then live ones; no gap, no duplicate.

The subscription to live events starts *before* the past events are read, so an event
committed meanwhile arrives through one path or the other, and the ids already sent filter the
overlap. Events are published only after they are committed, so anything published before the
subscription began is already readable from the table.

A run's stream ends after its final event (``execution_completed``/``failed``/``cancelled``) once
the run is finished, an invocation's after ``invocation_completed``/``failed``; the all-runs stream
never ends.

Redis is a fan-out, not the record: an event published while the hub had lost Redis never
reaches it. When the hub reconnects (its ``epoch`` changes) each stream reads the table again, so
a Redis restart costs a client no event. A run's or an invocation's stream reads it again from
where the stream began, not from the last event it sent: events of tasks running at once commit
and publish in any order, so an event whose publish was lost may have a lower id than one that
reached the client first (it then arrives after it). The all-runs stream reads on from the last
event it sent.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Container, Iterator
from typing import Any, NamedTuple

from sqlalchemy import select

from app.events.model import render_event
from app.models import Event, Run
from app.models.status import RUN_TERMINAL

# The last event of a finished run (a completed run ends with workflow_completed, which
# follows execution_completed for seed 000's clients).
FINAL = {"workflow_completed", "execution_failed", "execution_cancelled"}
INVOCATION_FINAL = {"invocation_completed", "invocation_failed"}
REPLAY_PAGE = 500
# The longest a stream waits on its queue before it looks at the hub's epoch again.
EPOCH_CHECK = 1.0
# Event ids are 64-bit: a client's larger "after" id means "after everything" (not a DB error).
MAX_EVENT_ID = 2**63 - 1
GLOBAL_REPLAY_LIMIT = 10_000
# The all-runs stream never ends: it remembers the ids of only this many of its latest events
# (a duplicate it could meet is a recent one), where a run's stream remembers the run's.
GLOBAL_SENT_KEPT = 10_000


# A profile's message shape for an event; ``None`` leaves the event out of its streams.
Shape = Callable[[dict[str, Any]], dict[str, Any] | None]


class Delivery(NamedTuple):
    event: dict[str, Any]
    text: str  # the event as JSON, ready to send

    def shaped(self, shape: Shape | None) -> str | None:
        """The event as JSON in ``shape`` (the union shape without one); ``None`` to skip it."""
        if shape is None:
            return self.text
        message = shape(self.event)
        return None if message is None else json.dumps(message, default=str)


class Overflow(Exception):
    """The client fell further behind than its buffer allows."""


def _run_finished(rt, run_id: str) -> bool:
    with rt.db.transaction() as session:
        status = session.execute(select(Run.status).where(Run.id == run_id)).scalar_one_or_none()
    return status in {s.value for s in RUN_TERMINAL}


class Scope(NamedTuple):
    """Whose events a stream carries: a run's, an invocation's, or (both None) everyone's."""

    run_id: str | None = None
    invocation_id: str | None = None

    @property
    def key(self) -> str | None:
        return self.run_id or self.invocation_id


def _past(rt, scope: Scope, after: int, skip: Container[int] = ()) -> Iterator[Delivery]:
    """The stored events after ``after``, in order, but those in ``skip`` (sent already: a run
    read again after a reconnect renders only what its client has not had)."""
    after = min(after, MAX_EVENT_ID)
    sent = 0
    while True:
        query = select(Event).where(Event.id > after).order_by(Event.id).limit(REPLAY_PAGE)
        if scope.run_id is not None:
            query = query.where(Event.run_id == scope.run_id)
        elif scope.invocation_id is not None:
            query = query.where(Event.invocation_id == scope.invocation_id)
        with rt.db.transaction() as session:
            page = session.execute(query).scalars().all()
        for event in page:
            after = event.id
            if event.id in skip:
                continue
            rendered = render_event(event)
            yield Delivery(rendered, json.dumps(rendered, default=str))
            sent += 1
        if len(page) < REPLAY_PAGE or (scope.key is None and sent >= GLOBAL_REPLAY_LIMIT):
            return


class EventStream:
    """Iterate to receive events; ``None`` means "nothing for a while" (send a keep-alive)."""

    def __init__(
        self,
        rt,
        hub,
        run_id: str | None,
        after: int | None,
        idle: float = 15.0,
        *,
        invocation_id: str | None = None,
        wake=None,
    ):
        self.rt = rt
        self.hub = hub
        self.scope = Scope(run_id, invocation_id)
        self.idle = idle
        self.subscription = hub.subscribe(self.scope.key, wake)
        self.epoch = hub.epoch
        self.sent: set[int] = set()
        self.last_id = after or 0
        self.origin = after or 0  # where the stream began: a reconnect replays a run from here
        self._pending = self._replay(after)

    def restart(self, after: int) -> None:
        """Client asked to resume after ``after`` (WebSocket ``subscribe``)."""
        self.sent = {i for i in self.sent if i <= after}
        self.origin = after
        self._pending = self._replay(after)

    def _replay(self, after: int | None) -> Iterator[Delivery]:
        if self.scope.key is None and after is None:
            return iter(())  # the all-runs stream starts live unless asked to resume
        return _past(self.rt, self.scope, after or 0, self.sent)

    @property
    def _replays_after_reconnect(self) -> bool:
        """A run's or invocation's stream, or one that has sent something, reads what it
        missed from the table after a reconnect (an all-runs stream that has not, starts live)."""
        return self.scope.key is not None or bool(self.last_id)

    def _catch_up_after_reconnect(self) -> None:
        if self.hub.epoch == self.epoch:
            return
        self.epoch = self.hub.epoch
        if self._replays_after_reconnect:
            since = self.origin if self.scope.key is not None else self.last_id
            self._pending = itertools.chain(self._pending, self._replay(since))

    def close(self) -> None:
        self.subscription.close()

    def next(self, timeout: float | None = None) -> Delivery | None:
        """The next event to send, or None after ``timeout`` (default: the idle interval)."""
        deadline = time.monotonic() + (self.idle if timeout is None else timeout)
        while True:
            self._catch_up_after_reconnect()
            for delivery in self._pending:
                if delivery.event["event_id"] not in self.sent:
                    return self._deliver(delivery)
            self._pending = iter(())
            if self.subscription.overflowed:
                raise Overflow()
            left = deadline - time.monotonic()
            item = self.subscription.get(max(0.0, min(left, EPOCH_CHECK)))
            if item is not None and self.hub.epoch != self.epoch and self._replays_after_reconnect:
                # The hub reconnected while this stream waited: what it missed meanwhile comes
                # first, from the table, and this event with it (it is committed, so stored).
                continue
            if item is not None and item[0].get("event_id") not in self.sent:
                return self._deliver(Delivery(*item))
            if item is None and time.monotonic() >= deadline:
                return None

    def _deliver(self, delivery: Delivery) -> Delivery:
        event_id = delivery.event["event_id"]
        self.sent.add(event_id)
        self.last_id = max(self.last_id, event_id)
        if self.scope.key is None and len(self.sent) > 2 * GLOBAL_SENT_KEPT:
            self.sent = set(sorted(self.sent)[-GLOBAL_SENT_KEPT:])
        return delivery

    def finished(self, event: dict[str, Any]) -> bool:
        if self.scope.invocation_id is not None:
            return event.get("type") in INVOCATION_FINAL  # sent once, when it has ended
        return (
            self.scope.run_id is not None
            and event.get("type") in FINAL
            and _run_finished(self.rt, self.scope.run_id)
        )
