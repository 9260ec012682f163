"""The fleet monitor (``harmonia monitor``): Celery's own worker events, followed the way Flower
follows them, turned into ``worker_online`` / ``worker_offline`` events and the per-worker facts
the ops API shows (app/services/fleet.py records both).

Workers send ``worker-online`` when they start, ``worker-heartbeat`` every ``--heartbeat-interval``
seconds (2 by default; they send events because ``worker_send_task_events`` is on) and
``worker-offline`` when they stop cleanly. A worker killed without a goodbye is found by its
heartbeats stopping: every second the monitor looks for workers silent for
``worker_offline_after`` seconds and at least two of their heartbeat intervals (Celery's own
``Worker.alive`` rule). A worker that announces itself online while it is known online was
restarted without a goodbye: it goes offline (``restarted``) and online again. Celery's
``task-failed`` events are counted per worker too; the other task events are ignored.

What the monitor knows lives in Redis, so a restarted monitor carries on where the last one
stopped: a worker Redis knows online is not announced again, and one that died while no monitor
listened gets ``worker_offline_after`` seconds from the (re)connection to show a heartbeat
before it is declared offline. A lost broker connection is retried with backoff (1 s, doubling
to 30 s); nothing expires while the monitor cannot hear.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from celery.events import EventReceiver
from celery.events.state import State
from redis.exceptions import RedisError

from app.runtime import Runtime
from app.services import fleet
from config.settings import Settings
from worker.runtime import DATABASE_DOWN

log = logging.getLogger(__name__)

LOOK_EVERY = 1.0  # seconds between looks for silent workers
PRUNE_EVERY = 60.0  # seconds between prunings of the index
BACKOFF_FIRST, BACKOFF_CAP = 1.0, 30.0
DEFAULT_INTERVAL = 2.0  # Celery's heartbeat interval, for a worker whose own is not known


class Receiver(EventReceiver):
    """Celery's event receiver, on every event: workers batch their task events into one
    ``task.multi`` message, so no narrower binding would still carry ``task-failed``."""

    # The monitor's loop does the retrying, with its backoff, and can be stopped meanwhile.
    connect_max_retries = 1

    def __init__(self, connection, monitor: Monitor) -> None:
        super().__init__(connection, handlers={"*": monitor.on_event}, app=monitor.rt.celery)
        self.monitor = monitor

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        self.monitor.connected()
        # Celery's receiver then asks every worker for a heartbeat now (``wakeup``).
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def on_iteration(self) -> None:  # after each event, and each second while none comes
        self.monitor.look()


class Monitor:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.offline_after = rt.settings.worker_offline_after
        # Celery's picture of the live workers (their fields and heartbeats); a worker leaves
        # it when it goes offline.
        self.state = State()
        # The workers this monitor recorded online (or found Redis knew online).
        self.online: set[str] = set()
        self.stopping = False
        self.receiver: Receiver | None = None
        self.delay = BACKOFF_FIRST
        # Goodbyes whose event could not be stored yet (the database was away): tried again.
        self.goodbyes: dict[str, fleet.Heartbeat] = {}
        self.looked = 0.0
        self.pruned = 0.0

    def run(self) -> None:
        while not self.stopping:
            expected: tuple[type[BaseException], ...] = (*DATABASE_DOWN, RedisError, OSError)
            try:
                with self.rt.celery.connection_for_read() as connection:
                    expected += connection.connection_errors + connection.channel_errors
                    self.receiver = Receiver(connection, self)
                    self.receiver.capture(limit=None, timeout=None, wakeup=True)
            except Exception as exc:
                if self.stopping:
                    break
                log.warning(
                    "fleet monitor: %s; reconnecting in %.0fs",
                    f"{exc.__class__.__name__}: {exc}"[:300],
                    self.delay,
                    exc_info=not isinstance(exc, expected),  # a bug's traceback, not an outage's
                )
                self._pause(self.delay)
                self.delay = min(self.delay * 2, BACKOFF_CAP)
            finally:
                self.receiver = None

    def stop(self, *_signal_args: object) -> None:
        """Leave the loop within a second; safe to call from a signal handler."""
        self.stopping = True
        if self.receiver is not None:
            self.receiver.should_stop = True

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)

    # -- what is heard ---------------------------------------------------------------------------

    def connected(self) -> None:
        """(Re)connected. Nothing could be heard while disconnected, so every worker known
        online (here, or in Redis from an earlier monitor) is given from now to show a
        heartbeat before it is declared offline. What Redis forgot meanwhile (it restarted
        empty) is put back."""
        self.delay = BACKOFF_FIRST
        now = time.time()
        known = fleet.known_online(self.rt)
        for hostname in self.online - known.keys():
            worker = self.state.workers.get(hostname)
            last = worker.heartbeats[-1] if worker and worker.heartbeats else now
            if fleet.remind(self.rt, hostname, last_heartbeat=last):
                log.info("worker %s put back online in Redis, which had forgotten it", hostname)
        for hostname, facts in known.items():
            worker, _created = self.state.get_or_create_worker(hostname)
            worker.freq = facts["interval"] or worker.freq or DEFAULT_INTERVAL
            self.online.add(hostname)
        for _hostname, worker in self.state.workers.items():
            worker.heartbeats[:] = [now]  # in place: Celery's event handler holds the list
        log.info("fleet monitor listening (%d workers known online)", len(self.state.workers))

    def on_event(self, event: dict[str, Any]) -> None:
        kind, hostname = event.get("type", ""), event.get("hostname")
        if not hostname:
            return
        if kind == "task-failed":
            fleet.count_failure(self.rt, hostname)
            return
        if not kind.startswith("worker-"):
            return
        self.state.event(event)
        beat = _heartbeat(event)
        if kind != "worker-offline":  # a sign of life after a goodbye not yet recorded: moot
            self.goodbyes.pop(hostname, None)
        try:
            if kind == "worker-offline":
                self._offline(hostname, fleet.CLEAN, beat.received, goodbye=beat)
                return
            if kind == "worker-online":  # a new process: was an old one under this name lost?
                self._offline(hostname, fleet.RESTARTED, beat.received, only_from_online=True)
            if fleet.heard(self.rt, beat):
                log.info("worker %s is online", hostname)
            self.online.add(hostname)
        except DATABASE_DOWN as exc:
            log.warning("could not record %s of %s (%s): tried again", kind, hostname, exc)
            if kind == "worker-offline":
                self.goodbyes[hostname] = beat

    def look(self) -> None:
        """Every second: goodbyes to record again, workers whose heartbeats stopped, and now and
        then the index's stale entries."""
        now = time.time()
        if now - self.looked < LOOK_EVERY:
            return
        self.looked = now
        for hostname, beat in list(self.goodbyes.items()):
            if self._try(self._offline, hostname, fleet.CLEAN, beat.received, goodbye=beat):
                del self.goodbyes[hostname]
        for hostname, worker in list(self.state.workers.items()):
            if self._silent(worker, now) and self._try(
                self._offline, hostname, fleet.EXPIRED, now, only_from_online=True
            ):
                self.state.workers.pop(hostname, None)
        if now - self.pruned >= PRUNE_EVERY:
            fleet.forget_stale(self.rt)
            self.pruned = now

    def _silent(self, worker, now: float) -> bool:
        if not worker.heartbeats:
            return False
        last = worker.heartbeats[-1]
        return now > max(last + self.offline_after, worker.heartbeat_expires)

    def _offline(self, hostname: str, reason: str, at: float, **options) -> None:
        if fleet.went_offline(self.rt, hostname, reason, at=at, **options):
            log.info("worker %s is offline (%s)", hostname, reason)
        self.online.discard(hostname)

    @staticmethod
    def _try(step, *args, **kwargs) -> bool:
        try:
            step(*args, **kwargs)
        except DATABASE_DOWN as exc:
            log.warning("could not record a worker going offline (%s): tried again", exc)
            return False
        return True


def _heartbeat(event: dict[str, Any]) -> fleet.Heartbeat:
    loadavg = event.get("loadavg")
    return fleet.Heartbeat(
        hostname=event["hostname"],
        received=event.get("local_received") or time.time(),
        pid=event.get("pid"),
        interval=event.get("freq"),
        loadavg=list(loadavg) if isinstance(loadavg, (list, tuple)) else None,
        processed=event.get("processed"),
        active=event.get("active"),
        celery_version=event.get("sw_ver"),
        system=event.get("sw_sys"),
    )


def run(settings: Settings) -> None:
    """Follow the workers until SIGTERM or SIGINT."""
    rt = Runtime.build(settings)
    monitor = Monitor(rt)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, monitor.stop)
    try:
        monitor.run()
    finally:
        rt.close()
