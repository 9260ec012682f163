"""One Redis subscriber per API process, fanning events out to that process's live streams.

The hub listens on the global channel (every event passes through it) and hands each event to
the local subscriptions of its run and to the "all runs" subscriptions. Each subscription has a
bounded queue filled without blocking: a slow client cannot slow the hub, the other clients or
the workers. When a client falls too far behind, its subscription is marked overflowed and its
stream tells the client and closes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import metrics
from app.events.bus import global_channel

log = logging.getLogger(__name__)

ALL = "*"
DEFAULT_BUFFER = 1000
CLIENT_NAME = "harmonia-event-hub"  # as CLIENT LIST shows the hub's connection
# After this many seconds without a word from Redis the hub sends a PING, and it takes a
# connection that has not answered within as many seconds more for dead: a connection a load
# balancer or a NAT dropped without a word would otherwise leave every stream silent for good.
PING_EVERY = 10.0
CONNECT_TIMEOUT = 5.0


class Subscription:
    def __init__(self, hub: Hub, key: str, buffer: int, wake: threading.Event | None = None):
        self.hub = hub
        self.key = key
        # Set on each event: one thread can wait for any of several subscriptions (a GraphQL
        # socket carries many operations).
        self.wake = wake
        # (event, its JSON text): the text is encoded once per process, not once per client.
        self.events: queue.Queue[tuple[dict[str, Any], str]] = queue.Queue(maxsize=buffer)
        self.overflowed = False

    def offer(self, item: tuple[dict[str, Any], str]) -> None:
        try:
            self.events.put_nowait(item)
        except queue.Full:
            self.overflowed = True
        if self.wake is not None:
            self.wake.set()

    def get(self, timeout: float) -> tuple[dict[str, Any], str] | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.hub.unsubscribe(self)


class Hub:
    def __init__(
        self, redis_url: str, buffer: int = DEFAULT_BUFFER, ping_every: float = PING_EVERY
    ):
        self.redis_url = redis_url
        self.buffer = buffer
        self.ping_every = ping_every
        self._stopping = threading.Event()
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.ready = threading.Event()
        # Counts connections to Redis. Events published while the hub was disconnected never
        # reach it, so a stream that sees the count change reads what it missed from the table.
        self.epoch = 0

    def subscribe(self, key: str | None, wake: threading.Event | None = None) -> Subscription:
        """Events of one run or one invocation (by its id), or of everything (``None``);
        ``wake`` is set whenever one arrives."""
        self._ensure_listening()
        subscription = Subscription(self, key or ALL, self.buffer, wake)
        with self._lock:
            self._subscriptions.setdefault(subscription.key, set()).add(subscription)
        metrics.stream_opened()  # one subscription per WebSocket or SSE client
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            members = self._subscriptions.get(subscription.key)
            if members is None or subscription not in members:
                return  # closed already
            members.discard(subscription)
            if not members:
                del self._subscriptions[subscription.key]
        metrics.stream_closed()

    @property
    def connections(self) -> int:
        with self._lock:
            return sum(len(members) for members in self._subscriptions.values())

    def _ensure_listening(self) -> None:
        # A forked process (gunicorn worker) gets its own listener thread.
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self.ready.clear()
            self._thread = threading.Thread(
                target=self._listen, name="harmonia-event-hub", daemon=True
            )
            self._thread.start()
        self.ready.wait(timeout=5)

    def stop(self) -> None:
        """End the listener thread (within ``ping_every`` seconds); for tests and tools."""
        self._stopping.set()

    def _listen(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            # No retries (the streams must learn of every lost connection: events went by while
            # the hub was away), and a name, so operators can tell the hub in CLIENT LIST.
            client = redis.Redis.from_url(
                self.redis_url,
                decode_responses=True,
                retry=Retry(NoBackoff(), 0),
                client_name=CLIENT_NAME,
                socket_connect_timeout=CONNECT_TIMEOUT,
            )
            pubsub = client.pubsub()
            try:
                pubsub.subscribe(global_channel(client))
                heard, pinged = time.monotonic(), None
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=self.ping_every)
                    now = time.monotonic()
                    if message is not None:
                        heard = now
                        kind = message.get("type")
                        if kind == "message":
                            self._dispatch(message["data"])
                        elif kind == "pong":
                            pinged = None
                        elif kind == "subscribe":
                            # Confirmed: whatever is published from now on reaches the hub, and
                            # what was published before is in the table for streams to read.
                            self.epoch += 1
                            self.ready.set()
                            delay = 0.5
                    if pinged is not None and now - pinged > self.ping_every:
                        raise redis.ConnectionError(
                            f"Redis did not answer a PING within {self.ping_every:g}s"
                        )
                    if pinged is None and now - heard >= self.ping_every:
                        pubsub.ping()
                        pinged = now
            except Exception:
                log.warning("event hub lost Redis; reconnecting in %.1fs", delay, exc_info=True)
            finally:
                # redis-py reconnects (and resubscribes) a failed connection before it raises,
                # retries or not: closed here, it is not left subscribed with no reader.
                with contextlib.suppress(Exception):
                    pubsub.close()
                    client.close()
            self._stopping.wait(delay)
            delay = min(delay * 2, 10)

    def _dispatch(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        with self._lock:
            targets = list(self._subscriptions.get(ALL, ()))
            for key in (event.get("run_id"), event.get("invocation_id")):
                if key:
                    targets.extend(self._subscriptions.get(key, ()))
        item = (event, payload)
        for subscription in targets:
            subscription.offer(item)
