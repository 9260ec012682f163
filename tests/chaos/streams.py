"""Live-event clients that behave as the README tells a client to (README "Watching runs live").

Each watcher follows one run in a thread and records the event ids it receives. When its
connection drops before the run's final event, it reconnects from the last id it saw:
``?after_event_id=<id>`` on a WebSocket, the ``Last-Event-ID`` header on SSE. At the end,
``verdict`` compares what it saw with the run's events in the ``events`` table: the same ids, in
order, with no gap and no duplicate.

A watcher never reconnects just because the stream went quiet: a stream that silently misses
events while its connection stays up is exactly what the comparison must catch.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.chaos.system import ADMIN_KEY

FINAL = {"workflow_completed", "execution_failed", "execution_cancelled"}
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


class Watcher(threading.Thread):
    kind = "?"

    def __init__(self, base: str, run_id: str):
        super().__init__(daemon=True, name=f"{self.kind}-{run_id[:8]}")
        self.base = base
        self.run_id = run_id
        self.ids: list[int] = []
        self.reconnects = 0
        self.problems: list[str] = []  # error messages and why connections ended
        self.final = threading.Event()
        self.halt = threading.Event()
        self.drops = 0
        self._connection: Any = None  # the open WebSocket or HTTP response, for ``drop``

    @property
    def last_id(self) -> int | None:
        return self.ids[-1] if self.ids else None

    def run(self) -> None:
        while not (self.final.is_set() or self.halt.is_set()):
            try:
                self.session()
            except Exception as exc:  # a dropped connection: reconnect from the last id
                self.problems.append(f"{exc.__class__.__name__}: {exc}"[:200])
            if self.final.is_set() or self.halt.is_set():
                return
            self.reconnects += 1
            time.sleep(0.5)

    def session(self) -> None:
        raise NotImplementedError

    def receive(self, event: dict[str, Any]) -> None:
        if "event_id" not in event:
            self.problems.append(f"non-event message: {json.dumps(event)[:200]}")
            return
        self.ids.append(int(event["event_id"]))
        if event.get("type") in FINAL:
            self.final.set()

    def drop(self) -> None:
        """Cut the client's connection, as a network blip would: it must resume by itself."""
        connection = self._connection
        if connection is not None:
            self.drops += 1
            with contextlib.suppress(Exception):
                connection.close()

    def stop(self, timeout: float = 5.0) -> None:
        self.halt.set()
        self.join(timeout)

    def verdict(self, stored: list[int]) -> str | None:
        """None when the watcher saw exactly ``stored``; else what differs."""
        if self.ids == stored:
            return None
        seen = set(self.ids)
        missing = [i for i in stored if i not in seen]
        duplicates = len(self.ids) - len(seen)
        unordered = any(a >= b for a, b in zip(self.ids, self.ids[1:], strict=False))
        return (
            f"{self.kind} on {self.run_id}: saw {len(self.ids)} of {len(stored)} events, "
            f"missing {missing[:10]}{'…' if len(missing) > 10 else ''}, duplicates {duplicates}, "
            f"out of order {unordered}, drops {self.drops}, reconnects {self.reconnects}, "
            f"final seen {self.final.is_set()}, problems {self.problems[-3:]}"
        )


class WebSocketWatcher(Watcher):
    kind = "ws"

    def session(self) -> None:
        url = self.base.replace("http://", "ws://") + f"/ws/executions/{self.run_id}"
        if self.last_id is not None:
            url += f"?after_event_id={self.last_id}"
        with connect(url, additional_headers=AUTH, open_timeout=10) as ws:
            self._connection = ws
            while not (self.final.is_set() or self.halt.is_set()):
                try:
                    raw = ws.recv(timeout=1.0)
                except TimeoutError:
                    continue
                except ConnectionClosed as closed:
                    self.problems.append(f"closed: {closed}"[:200])
                    return
                self.receive(json.loads(raw))


class SseWatcher(Watcher):
    kind = "sse"

    def session(self) -> None:
        headers = dict(AUTH)
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        # Reads wait past the server's 15 s keep-alive: quiet is not a reason to reconnect.
        timeout = httpx.Timeout(10.0, read=40.0)
        with (
            httpx.Client(base_url=self.base, timeout=timeout) as client,
            client.stream("GET", f"/events/executions/{self.run_id}", headers=headers) as reply,
        ):
            self._connection = reply
            if reply.status_code != 200:
                self.problems.append(f"HTTP {reply.status_code}")
                return
            fields: dict[str, str] = {}
            for line in reply.iter_lines():
                if self.halt.is_set():
                    return
                if line == "":
                    self._dispatch(fields)
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                if self.final.is_set():
                    return
            self.problems.append("stream ended before the final event")

    def _dispatch(self, fields: dict[str, str]) -> None:
        if "data" not in fields:
            return  # "retry:" and the like
        if fields.get("event") == "error":
            self.problems.append(f"error event: {fields['data'][:200]}")
            return
        self.receive(json.loads(fields["data"]))


def watch(base: str, run_ids: list[str]) -> list[Watcher]:
    """A WebSocket and an SSE watcher on each run, started."""
    watchers = [kind(base, run_id) for run_id in run_ids for kind in (WebSocketWatcher, SseWatcher)]
    for watcher in watchers:
        watcher.start()
    return watchers


def finish(watchers: list[Watcher], timeout: float) -> None:
    """Give every watcher up to ``timeout`` in all to reach its run's final event, then stop it."""
    deadline = time.monotonic() + timeout
    for watcher in watchers:
        watcher.final.wait(timeout=max(0.0, deadline - time.monotonic()))
    for watcher in watchers:
        watcher.stop()
