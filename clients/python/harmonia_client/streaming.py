"""A run's events over ``ws(s)://HOST/ws/executions/{run_id}``, surviving dropped connections.

The server sends the run's past events in order, then live ones, one JSON object each with an
``event_id``, and closes the socket after the run's final event. A connection that drops before
then is opened again (with a backoff) with ``?after_event_id=<the last id yielded>``, so the
server replays exactly what the client has not seen; ids already yielded are skipped anyway, so
nothing is repeated. The stream ends once the final event has been yielded and the socket closes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect as connect_sync

from harmonia_client.errors import HarmoniaError, NotFound, error_for
from harmonia_client.retrying import backoff

# A finished run's last event (a completed run's workflow_completed follows execution_completed).
FINAL_EVENTS = frozenset({"workflow_completed", "execution_failed", "execution_cancelled"})
MAX_MESSAGE_BYTES = 16 * 2**20
# Failures to (re)connect in a row before giving up: with the backoff, about a minute.
RECONNECT_ATTEMPTS = 10
# What a dropped or refused connection looks like, from either websockets implementation.
DROPPED = (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError)


def socket_url(base_url: str, run_id: str, api_key: str | None, after: int | None) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = f"{parts.path.rstrip('/')}/ws/executions/{quote(run_id, safe='')}"
    query = {"api_key": api_key, "after_event_id": after}
    present = urlencode({k: v for k, v in query.items() if v is not None})
    return urlunsplit((scheme, parts.netloc, path, present, ""))


def event_id(message: dict[str, Any]) -> int | None:
    """The message's event id: top level in the union shape, under ``data`` in seed 004's."""
    found = message.get("event_id")
    if found is None and isinstance(message.get("data"), dict):
        found = message["data"].get("event_id")
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def event_type(message: dict[str, Any]) -> str | None:
    return message.get("event_type") or message.get("type")


def refused_status(error: Exception) -> int | None:
    """The HTTP status of a refused WebSocket handshake (both websockets APIs), else None."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) or getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


@dataclass
class Resume:
    """What the stream has yielded so far: where to resume, and whether it is over."""

    after: int | None = None
    seen: set[int] = field(default_factory=set)
    finished: bool = False
    failures: int = 0  # connections in a row that brought no new event

    def accept(self, raw: str | bytes) -> dict[str, Any] | None:
        """The event to yield from one message, or None (a repeat, a pong); raises for the
        server's error messages that reconnecting cannot fix."""
        message = json.loads(raw)
        if not isinstance(message, dict):
            return None
        if message.get("type") == "error":
            return self._server_error(message)
        found = event_id(message)
        if found is None or found in self.seen:
            return None
        self.seen.add(found)
        self.failures = 0
        self.after = found if self.after is None else max(self.after, found)
        self.finished = event_type(message) in FINAL_EVENTS
        return message

    def _server_error(self, message: dict[str, Any]) -> None:
        if message.get("code") == "not_found":
            raise NotFound(404, message, str(message.get("message") or "run not found"))
        if message.get("code") == "overflow":
            return None  # the server closes next; the reconnect resumes after self.after
        raise HarmoniaError(0, message, str(message.get("message") or message))

    def retry_delay(self, error: Exception | None) -> float:
        """How long to wait before reconnecting; raises once retrying is pointless."""
        status = refused_status(error) if error is not None else None
        if status is not None and status not in (429, 500, 502, 503, 504):
            raise error_for(status, None, f"WebSocket handshake refused with {status}") from error
        self.failures += 1
        if self.failures > RECONNECT_ATTEMPTS:
            if error is not None:
                raise error
            raise HarmoniaError(0, None, "the event stream kept closing before the final event")
        return backoff(self.failures - 1)


def stream_sync(
    base_url: str, api_key: str | None, run_id: str, after: int | None, open_timeout: float
) -> Iterator[dict[str, Any]]:
    state = Resume(after=after)
    while True:
        error: Exception | None = None
        url = socket_url(base_url, run_id, api_key, state.after)
        try:
            with connect_sync(url, open_timeout=open_timeout, max_size=MAX_MESSAGE_BYTES) as ws:
                for raw in ws:
                    if (message := state.accept(raw)) is not None:
                        yield message
        except DROPPED as exc:
            error = exc
        if state.finished:
            return
        time.sleep(state.retry_delay(error))


async def stream_async(
    base_url: str, api_key: str | None, run_id: str, after: int | None, open_timeout: float
) -> AsyncIterator[dict[str, Any]]:
    state = Resume(after=after)
    while True:
        error: Exception | None = None
        url = socket_url(base_url, run_id, api_key, state.after)
        try:
            async with websockets.connect(
                url, open_timeout=open_timeout, max_size=MAX_MESSAGE_BYTES
            ) as ws:
                async for raw in ws:
                    if (message := state.accept(raw)) is not None:
                        yield message
        except DROPPED as exc:
            error = exc
        if state.finished:
            return
        await asyncio.sleep(state.retry_delay(error))
