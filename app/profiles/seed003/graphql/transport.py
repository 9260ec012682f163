"""GraphQL over WebSocket at ``/graphql``: the ``graphql-transport-ws`` protocol (the one the
``graphql-ws`` library, Apollo Client, urql and Python's ``gql`` speak), on flask-sock.

- The client offers the subprotocol ``graphql-transport-ws`` (else: close 4406), sends
  ``connection_init`` within ``INIT_TIMEOUT`` (else: 4408) with its credential in the payload:
  ``{"Authorization": "Bearer <API key or token>"}`` (``authorization``, ``X-API-Key``,
  ``apiKey`` and ``authToken`` are read too), or on the upgrade request as the REST sockets take
  it. No identity, or one that may not read: 4403. Then ``connection_ack``.
- ``subscribe`` ``{id, payload: {query, variables, operationName}}``: a subscription sends
  ``next`` for each update and ``complete`` once its run has finished; a query or mutation one
  ``next`` and ``complete``. A refused operation gets ``error`` with GraphQL errors. ``complete``
  from the client stops one; ``ping`` gets ``pong``.
- A duplicate id closes the socket (4409), a message before the ack 4401, an unreadable one
  4400, as the protocol says.

One thread serves the socket (as for a REST socket) and every operation on it: it waits on one
``threading.Event`` that any of its subscriptions' events set, then pumps them all. An update is
rendered once per process for every socket with the same operation (``SharedRenders``), from
the rows as they are after the events that caused it, and one identical to the last one sent
for the same thing is not sent again. A subscription whose client falls further
behind than the hub's buffer is ended with an ``OVERFLOW`` error, as REST streams end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any

from flask import current_app
from graphql import GraphQLError
from simple_websocket import ConnectionClosed

from app.api.operations import Operation, operation
from app.api.security import request_credential, required_role
from app.events.stream import Overflow
from app.events.websocket import close
from app.extensions import runtime, sock
from app.profiles.seed003.graphql import executor
from app.profiles.seed003.graphql.context import Context
from app.profiles.seed003.graphql.errors import error, format_error
from app.profiles.seed003.graphql.subscriptions import SharedRenders, Update, Watch
from app.services import identity as identities
from app.services.errors import Unauthorized

log = logging.getLogger(__name__)

PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 10.0
POLL = 0.25  # the longest a socket waits before it reads its client's messages again
MAX_OPERATIONS = 100  # live subscriptions on one socket
RENDERS = SharedRenders()
CREDENTIAL_KEYS = (
    "Authorization",
    "authorization",
    "X-API-Key",
    "x-api-key",
    "apiKey",
    "authToken",
    "token",
)


class Close(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Subscribed:
    """One live subscription: its operation, its watch, and what it last sent."""

    def __init__(self, operation: executor.Operation, watch: Watch):
        self.operation = operation
        self.watch = watch
        self.last: dict[Any, str] = {}
        data = operation.data
        variables = json.dumps(data.get("variables") or {}, sort_keys=True, default=str)
        self.operation_key = (data["query"], data.get("operationName"), variables)

    def key(self, update: Update) -> tuple | None:
        """What identifies this update's text among every socket's (``None``: its own)."""
        return None if update.after is None else (*self.operation_key, *update)


def _encoded(result: dict[str, Any]) -> str:
    return json.dumps(result, default=str, separators=(",", ":"))


def _credential(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for key in CREDENTIAL_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            scheme, _, rest = value.strip().partition(" ")
            return rest.strip() if scheme.lower() == "bearer" and rest else value.strip()
    headers = payload.get("headers")  # some clients nest them
    return _credential(headers) if isinstance(headers, dict) else None


class Connection:
    def __init__(self, ws, rt, hub, upgrade_credential: str | None):
        self.ws = ws
        self.rt = rt
        self.hub = hub
        self.upgrade_credential = upgrade_credential
        self.identity = None
        self.acked = False
        self.initialised = False
        self.live: dict[str, Subscribed] = {}
        self.wake = threading.Event()

    # -- sending --

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message, default=str))

    def context(self) -> Context:
        return Context(self.rt, self.identity)

    # -- the loop --

    def serve(self) -> None:
        deadline = time.monotonic() + INIT_TIMEOUT
        try:
            while True:
                raw = self.ws.receive(timeout=0 if self.live else POLL)
                while raw is not None:
                    self.handle(raw)
                    raw = self.ws.receive(timeout=0)
                if not self.acked and time.monotonic() > deadline:
                    raise Close(4408, "Connection initialisation timeout")
                if self.live:
                    self.wake.clear()
                    if not self.pump():
                        self.wake.wait(POLL)
        except Close as closing:
            close(self.ws, closing.code, closing.reason)
        except ConnectionClosed:
            raise
        except Exception:  # e.g. the database gone while reading events: say so, then close
            log.exception("GraphQL socket failed")
            close(self.ws, 1011, "Internal error; reconnect and subscribe again")
        finally:
            for subscribed in self.live.values():
                subscribed.watch.close()

    def handle(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            raise Close(4400, "Invalid message received: not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise Close(4400, "Invalid message received: no type")
        kind = message["type"]
        if kind == "connection_init":
            self.init(message.get("payload"))
        elif kind == "ping":
            self.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            self.subscribe(message)
        elif kind == "complete":
            subscribed = self.live.pop(str(message.get("id")), None)
            if subscribed is not None:
                subscribed.watch.close()
        else:
            raise Close(4400, f"Invalid message received: unknown type '{kind[:40]}'")

    def init(self, payload: Any) -> None:
        if self.initialised:
            raise Close(4429, "Too many initialisation requests")
        self.initialised = True
        credential = _credential(payload) or self.upgrade_credential
        if credential is None:
            raise Close(4403, "Forbidden: send {'Authorization': 'Bearer <API key>'}")
        try:
            self.identity = identities.authenticate(self.rt, credential)
        except Unauthorized:
            raise Close(4403, "Forbidden: the credential identifies no one") from None
        needed = required_role(Operation.READ, self.rt.settings)
        if needed is not None and not self.identity.may(needed):
            raise Close(4403, f"Forbidden: role '{self.identity.role.value}' may not read")
        self.acked = True
        self.send({"type": "connection_ack"})

    def subscribe(self, message: dict[str, Any]) -> None:
        if not self.acked:
            raise Close(4401, "Unauthorized")
        op_id, payload = message.get("id"), message.get("payload")
        if not isinstance(op_id, str) or not op_id or not isinstance(payload, dict):
            raise Close(4400, "Invalid message received: subscribe needs an id and a payload")
        if op_id in self.live:
            raise Close(4409, f"Subscriber for {op_id} already exists")
        prepared = executor.prepare(payload)
        if isinstance(prepared, list):
            self.send({"id": op_id, "type": "error", "payload": prepared})
            return
        if not prepared.is_subscription:
            result = executor.run(self.context(), prepared)
            self.send({"id": op_id, "type": "next", "payload": result})
            self.send({"id": op_id, "type": "complete"})
            return
        if len(self.live) >= MAX_OPERATIONS:
            problem = error(f"At most {MAX_OPERATIONS} subscriptions per socket", "BAD_REQUEST")
            self.send({"id": op_id, "type": "error", "payload": [problem]})
            return
        try:
            source = executor.source(prepared, self.context())
            watch = Watch(self.rt, self.hub, source, self.wake)
        except Exception as exc:  # bad variables, an unknown run; anything else is logged
            self.send({"id": op_id, "type": "error", "payload": [_formatted(exc)]})
            return
        self.live[op_id] = Subscribed(prepared, watch)

    def pump(self) -> bool:
        """Send what every live subscription has; True if anything was sent."""
        sent = False
        for op_id, subscribed in list(self.live.items()):
            try:
                updates = subscribed.watch.pump()
            except Overflow:
                problem = error(
                    "Client too slow: updates were dropped; subscribe again", "OVERFLOW"
                )
                self.send({"id": op_id, "type": "error", "payload": [problem]})
                self.live.pop(op_id).watch.close()
                continue
            for update in updates:
                text = RENDERS.text(
                    subscribed.key(update),
                    lambda u=update, o=subscribed.operation: _encoded(
                        executor.render(o, self.context(), u.payload)
                    ),
                )
                if subscribed.last.get(update.payload) == text:
                    continue  # nothing the client can see has changed
                subscribed.last[update.payload] = text
                self.ws.send(f'{{"id":{json.dumps(op_id)},"type":"next","payload":{text}}}')
                sent = True
            if subscribed.watch.done:
                self.send({"id": op_id, "type": "complete"})
                self.live.pop(op_id).watch.close()
                sent = True
        return sent


def _formatted(exc: Exception) -> dict[str, Any]:
    wrapped = exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
    return format_error(wrapped)


def _upgrade_credential() -> str | None:
    """A credential on the upgrade request, as the REST sockets take it."""
    try:
        return request_credential()
    except Unauthorized:
        return None


@sock.route("/graphql")
@operation(Operation.OPEN)  # the credential comes in connection_init
def graphql_socket(ws) -> None:
    if ws.subprotocol != PROTOCOL:
        close(ws, 4406, f"Subprotocol not acceptable: use '{PROTOCOL}'")
        return
    hub = current_app.extensions["harmonia_hub"]
    with contextlib.suppress(ConnectionClosed):
        Connection(ws, runtime(), hub, _upgrade_credential()).serve()
