"""A claim's events, published with the attempt's outcome when the action is quick.

The claim commits ``task_started``; most actions end within milliseconds, and their outcome's
events are published moments later. Held here, the started event goes out with those in one
Redis round trip: one fewer per task, and a chain's next step is not sent behind it. An action
still running ``HOLD`` seconds after its claim has its events published then, by the process's
publisher thread, so a watcher sees a long task start promptly. Whatever else the task publishes
meanwhile (progress, output, a recording step by step) releases them first (``flush``): events
reach subscribers in the order they were committed.

Redis is the fan-out, not the record: the events are in Postgres from the claim's commit on, so a
process that dies while holding them loses only their live delivery, as a failed publish would.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from app.events.model import Committed
from app.services.state import announce

log = logging.getLogger(__name__)

HOLD = 0.05  # seconds: well above a quick action, well below what a watcher notices


class Held:
    """Events a claim committed and has not published yet."""

    __slots__ = ("rt", "events", "notify", "due")

    def __init__(self, rt, events: list[Committed], notify: bool, due: float) -> None:
        self.rt, self.events, self.notify, self.due = rt, events, notify, due


class _Publisher:
    """One daemon thread per process publishes what is held past its due time; a quick task
    never wakes it (it sleeps until the oldest entry is due, and is woken only when idle)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._publishing = threading.Lock()  # held while the thread publishes what it took
        self._wake = threading.Event()
        self._held: list[Held] = []  # in due order: every entry waits the same HOLD
        self._armed = False  # the thread sleeps until an entry is due (not indefinitely)
        self._pid: int | None = None

    def hold(self, rt, events: list[Committed], notify: bool) -> Held:
        entry = Held(rt, events, notify, time.monotonic() + HOLD)
        with self._lock:
            if self._pid != os.getpid():  # first in this (forked) process
                self._pid, self._held, self._armed = os.getpid(), [], False
                threading.Thread(target=self._run, name="event-publisher", daemon=True).start()
            self._held.append(entry)
            if not self._armed:
                self._wake.set()
        return entry

    def take(self, entry: Held | None) -> tuple[list[Committed], bool]:
        """``entry``'s events and whether they wrote outbox entries, now the caller's to publish
        ahead of its own; nothing when the thread published them (it has finished by now)."""
        if entry is None:
            return [], False
        with self._lock:
            if entry in self._held:
                self._held.remove(entry)
                return entry.events, entry.notify
        with self._publishing:  # taken by the thread before it let go of the lock
            return [], False

    def flush(self, entry: Held | None) -> None:
        """Publish ``entry``'s events now, if nobody has."""
        events, notify = self.take(entry)
        if events:
            announce(entry.rt, events, notify=notify)

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                count = 0
                while count < len(self._held) and self._held[count].due <= now:
                    count += 1
                due, self._held[:count] = self._held[:count], []
                soonest = self._held[0].due if self._held else None
                self._armed = soonest is not None
                self._wake.clear()
                if due:
                    self._publishing.acquire()
            if due:
                try:
                    for entry in due:
                        announce(entry.rt, entry.events, notify=entry.notify)
                except Exception:  # the thread must outlive any failure
                    log.exception("could not publish held events")
                finally:
                    self._publishing.release()
            self._wake.wait(None if soonest is None else max(soonest - time.monotonic(), 0))


_publisher = _Publisher()
hold = _publisher.hold
take = _publisher.take
flush = _publisher.flush


def with_held(
    entry: Held | None, events: list[Committed], notify: bool
) -> tuple[list[Committed], bool]:
    """The events to publish for an outcome: the held ones first."""
    earlier, earlier_notify = take(entry)
    return [*earlier, *events], earlier_notify or notify
