"""Sending webhook deliveries: one endpoint at a time, in order, signed, retried, dead-lettered.

Two stages. The event's own transaction writes one outbox entry per event that webhooks match,
naming them (``app/services/webhooks.py``): one small row however many webhooks there are, so
the work path stays cheap. ``expand`` (one at a time across the fleet) turns entries into
deliveries, one per webhook, in entry order, and wakes their endpoints; ``drain`` sends them.

Ordering. An endpoint's deliveries are sent one at a time, lowest ``seq`` first, and a failed one
is retried (with backoff) before anything after it is sent: ordered retries, head-of-line.
Deliveries are made in outbox order, and an entry's ``seq`` is assigned in its event's
transaction, so causally ordered events (a task's start and end, a run's last task and its
completion) always arrive in order; events of tasks running at the same moment arrive in the
order their transactions committed.

Who sends. A Redis key per endpoint (``harmonia:notify:<webhook id>``, and one for the outbox)
says which task is responsible for it (a ``Baton``): ``scheduled`` (a message is on its way,
perhaps with a countdown for a retry) or the token of the task at work (renewed as it goes).
``wake`` sets the key only if absent, and sends a message only when it did, so a busy endpoint
costs one message per drain, not one per event. A task releases its key, then looks once more
for work, so what was committed while it worked is never stranded. If a notifier dies, its keys
expire: the message it held comes back (late acknowledgement) and takes over, and the recovery
sweep wakes whatever is still waiting.

At least once. A delivery whose request went out but whose outcome was never recorded (the
notifier was killed) is sent again; receivers deduplicate by ``X-Harmonia-Delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, delete, insert, select, text, update

from app.events import synthesis
from app.events.model import render_event
from app.events.vocabulary import TEST_EVENT, name_for
from app.metrics import record_deliveries
from app.models import Delivery, DeliveryStatus, Event, OutboxEntry, Webhook
from app.models.base import as_utc, new_id, utcnow
from app.services.errors import InvalidTransition, UnsafeUrl
from app.services.leases import worker_id
from app.services.webhooks import (
    check_url,
    fail_pending,
    get_delivery,
    get_webhook,
    status_of,
    unseal,
)

log = logging.getLogger(__name__)

TASK = "harmonia.notify"
EXPAND_TASK = "harmonia.notify_outbox"
SCHEDULED = "scheduled"
# How long a ``scheduled`` mark waits for its message to be picked up before an event or the
# sweep may wake the endpoint again (the message was lost; if it was only late, the second drain
# finds the endpoint taken and steps aside).
SCHEDULED_TTL = 60
USER_AGENT = "Harmonia-Webhooks/1"

# Take the key if nobody works on it (absent, or only scheduled).
_TAKE = """
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
# Still ours? Then set it to ARGV[2] (ourselves again, or ``scheduled``) for ARGV[3] seconds.
_KEEP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
EXPANDER_KEY = "harmonia:notify:outbox"


def flag_key(webhook_id: str) -> str:
    return f"harmonia:notify:{webhook_id}"


class _Lost(Exception):
    """Someone else holds the key now (ours expired): stop without doing more."""


class Baton:
    """Who is responsible for one key: ``scheduled`` (a message is on its way) or the token of
    the task working on it now. ``take`` succeeds only if nobody works on it; the holder renews
    it, hands it to a later message (``hand_over``) or releases it."""

    def __init__(self, rt, key: str, lease: int):
        self.rt, self.key, self.lease = rt, key, lease
        self.me = f"{worker_id()}:{uuid.uuid4().hex[:8]}"
        self.renewed = 0.0

    def take(self) -> bool:
        took = self._run(_TAKE, SCHEDULED, self.me, self.lease)
        self.renewed = time.monotonic()
        return bool(took)

    def renew(self, every: float = 0.0) -> None:
        if time.monotonic() - self.renewed >= every:
            self._keep(self.me, self.lease)
            self.renewed = time.monotonic()

    def hand_over(self, wait: float) -> None:
        """A message sent now with a countdown of ``wait`` seconds takes over."""
        self._keep(SCHEDULED, wait + SCHEDULED_TTL)

    def release(self) -> None:
        self._run(_RELEASE, self.me)

    def holder_ttl(self) -> int:
        return max(1, self.rt.redis.ttl(self.key))

    def _keep(self, value: str, seconds: float) -> None:
        if not self._run(_KEEP, self.me, value, max(1, int(seconds) + 1)):
            raise _Lost()

    def _run(self, script: str, *args):
        return self.rt.redis.register_script(script)(keys=[self.key], args=list(args))


def _send(rt, task: str, args: list, countdown: float | None = None) -> None:
    rt.celery.send_task(task, args=args, queue=rt.settings.notify_queue, countdown=countdown)


def _send_drain(rt, webhook_id: str, countdown: float | None = None) -> None:
    _send(rt, TASK, [webhook_id], countdown)


def _schedule_once(rt, keys: list[str], send) -> list[str]:
    """Mark each key ``scheduled`` where nobody holds it and send its message; the keys sent."""
    if not keys:
        return []
    pipe = rt.redis.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, SCHEDULED, nx=True, ex=SCHEDULED_TTL)
    sent = []
    for key, took in zip(keys, pipe.execute(), strict=True):
        if not took:
            continue  # scheduled or running already: that one will see what is new
        try:
            send(key)
        except Exception:
            rt.redis.delete(key)  # let the next event, or the sweep, try again
            raise
        sent.append(key)
    return sent


def wake(rt, webhook_ids) -> list[str]:
    """Make sure a drain will look at each endpoint (after its deliveries were committed); the
    endpoints a drain was sent for (the others had one scheduled or sending already)."""
    ids = {flag_key(w): w for w in sorted(set(webhook_ids))}
    sent = _schedule_once(rt, list(ids), lambda key: _send_drain(rt, ids[key]))
    return [ids[key] for key in sent]


def wake_expander(rt) -> bool:
    """Make sure the outbox will be turned into deliveries (after entries were committed)."""
    return bool(_schedule_once(rt, [EXPANDER_KEY], lambda _key: _send(rt, EXPAND_TASK, [])))


# ---------------------------------------------------------------------------------------------
# Payloads and signatures


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Harmonia-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def render_payload(
    profile: str, webhook_id: str, delivery_id: str, event_type: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The body a webhook receives: the event (as the streams render it) in an envelope named in
    the vocabulary of the API that registered the webhook."""
    name = name_for(event_type, profile)
    if profile == synthesis.PROFILE:  # as seed 004's /api/events shows the event
        event_id = data.get("event_id")
        return {
            "delivery_id": delivery_id,
            "subscription_id": webhook_id,
            "event_id": None if event_id is None else str(event_id),
            "type": name,
            "timestamp": data.get("timestamp"),
            "execution_id": data.get("execution_id"),
            "payload": synthesis.payload(data) if "type" in data else data,
        }
    return {
        "id": delivery_id,
        "event": name,
        "type": event_type,
        "created_at": data.get("timestamp"),
        "webhook_id": webhook_id,
        "data": data,
    }


@dataclass
class Outcome:
    ok: bool
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    body: str | None = None
    # No point trying again (a refused address, an unreadable secret).
    permanent: bool = False

    @property
    def message(self) -> str:
        if self.ok:
            return "Webhook delivered successfully"
        return self.error or f"Receiver answered HTTP {self.status_code}"


_clients = threading.local()
NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _client(timeout: float) -> httpx.Client:
    """One connection pool per thread (notifiers run a thread pool), redirects never followed."""
    client = getattr(_clients, "client", None)
    if client is None or getattr(_clients, "timeout", None) != timeout:
        # httpx writes a request's headers and body separately: without TCP_NODELAY, Nagle's
        # algorithm holds the body until the receiver's delayed ACK, up to 40 ms a request.
        transport = httpx.HTTPTransport(socket_options=[NO_DELAY])
        client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)
        _clients.client, _clients.timeout = client, timeout
    return client


def post(
    settings,
    url: str,
    *,
    event: str,
    delivery_id: str,
    payload: dict[str, Any],
    secret: str | None,
    attempt: int = 1,
) -> Outcome:
    """One signed POST; reads at most ``webhook_response_limit`` bytes of the answer."""
    try:
        check_url(url, allow_private=settings.webhook_allow_private)
    except UnsafeUrl as refused:
        return Outcome(ok=False, error=refused.detail, permanent=True)
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Harmonia-Event": event,
        "X-Harmonia-Delivery": delivery_id,
        "X-Harmonia-Attempt": str(attempt),
    }
    if secret:
        headers["X-Harmonia-Signature"] = sign(secret, int(time.time()), body)
    limit = settings.webhook_response_limit
    started = time.perf_counter()
    try:
        with _client(settings.webhook_timeout).stream(
            "POST", url, content=body, headers=headers
        ) as response:
            kept = bytearray()
            for chunk in response.iter_bytes():
                kept.extend(chunk[: limit - len(kept)])
                if len(kept) >= limit:
                    break
    except httpx.TimeoutException:
        return Outcome(
            ok=False,
            latency_ms=_since(started),
            error=f"Timed out after {settings.webhook_timeout:g}s",
        )
    except httpx.HTTPError as exc:
        return Outcome(
            ok=False, latency_ms=_since(started), error=f"{exc.__class__.__name__}: {exc}"[:500]
        )
    status = response.status_code
    ok = 200 <= status < 300
    error = None
    if 300 <= status < 400:
        error = f"Receiver answered HTTP {status} (redirects are not followed)"
    elif not ok:
        error = f"Receiver answered HTTP {status}"
    return Outcome(
        ok=ok,
        status_code=status,
        latency_ms=_since(started),
        error=error,
        body=kept.decode("utf-8", "replace"),
    )


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def backoff(settings, attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: base × 2^(attempt-1), jittered by ±25%."""
    return settings.webhook_backoff * (2 ** (attempt - 1)) * random.uniform(0.75, 1.25)


# ---------------------------------------------------------------------------------------------
# Draining one endpoint


def _relaxed(rt, session) -> None:
    """The notifier's writes commit without waiting for the disk (Postgres): a crash may lose the
    last moments of them, whole, which only means a delivery is made or sent again (receivers
    deduplicate), while the workflows' own commits no longer queue behind the notifier's."""
    if not rt.db.is_sqlite:
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _exclusive(baton: Baton, work, more, resend) -> dict[str, Any]:
    """Run ``work(baton)`` while holding the baton, again while ``more()`` finds something after
    releasing it (what was committed meanwhile, whose wake found the baton held); if another task
    holds it, ``resend(countdown)`` a message for when its lease runs out (a live holder renews
    it and does the work itself; a dead one's expires, and this message takes over)."""
    if not baton.take():
        resend(baton.holder_ttl() + 1)
        return {"busy": True}
    done = 0
    while True:
        try:
            state, count = work(baton)
        except _Lost:
            return {"done": done, "lost": True}
        done += count
        if state == "scheduled":
            return {"done": done, "scheduled": True}
        baton.release()
        if not more() or not baton.take():
            return {"done": done}


def drain(rt, webhook_id: str) -> dict[str, Any]:
    """Send the endpoint's due deliveries in order (the ``harmonia.notify`` task)."""
    # Renewed every few seconds and before a request: one request stays well inside it.
    lease = int(3 * rt.settings.webhook_timeout) + 10
    return {
        "webhook_id": webhook_id,
        **_exclusive(
            Baton(rt, flag_key(webhook_id), lease),
            lambda baton: _drain_owned(rt, webhook_id, baton),
            lambda: _due(rt, webhook_id),
            lambda countdown: _send_drain(rt, webhook_id, countdown),
        ),
    }


def expand(rt) -> dict[str, Any]:
    """Turn outbox entries into deliveries, one per webhook an entry names, in entry order, and
    wake those endpoints (the ``harmonia.notify_outbox`` task; one runs at a time)."""
    return _exclusive(
        Baton(rt, EXPANDER_KEY, lease=60),
        lambda baton: _expand_owned(rt, baton),
        lambda: _outbox_waiting(rt),
        lambda countdown: _send(rt, EXPAND_TASK, [], countdown),
    )


EXPAND_BATCH = 500


class _Raced(Exception):
    """Another expander took some of these entries (ours lost its baton): start over."""


def _expand_owned(rt, baton: Baton) -> tuple[str, int]:
    made = 0
    while True:
        baton.renew()
        try:
            with rt.db.transaction() as session:
                entries = (
                    session.execute(
                        select(OutboxEntry).order_by(OutboxEntry.seq).limit(EXPAND_BATCH)
                    )
                    .scalars()
                    .all()
                )
                if not entries:
                    return "idle", made
                # Taking the entries first makes two expanders that overlap (one lost its
                # baton) collide here instead of both making the deliveries.
                taken = session.execute(
                    delete(OutboxEntry).where(OutboxEntry.seq.in_([e.seq for e in entries]))
                ).rowcount
                if taken != len(entries):
                    raise _Raced()
                named = {w for e in entries for w in e.webhook_ids}
                alive = set(
                    session.execute(select(Webhook.id).where(Webhook.id.in_(named))).scalars()
                )
                rows = [
                    {
                        "id": new_id(),
                        "webhook_id": webhook_id,
                        "event_id": entry.event_id,
                        "event_type": entry.event_type,
                        "run_id": entry.run_id,
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "history": [],
                        "created_at": entry.created_at,
                    }
                    for entry in entries
                    for webhook_id in entry.webhook_ids
                    if webhook_id in alive  # deleted since: nothing to deliver
                ]
                if rows:
                    session.execute(insert(Delivery.__table__), rows)
        except _Raced:
            continue
        made += len(rows)
        wake(rt, {row["webhook_id"] for row in rows})


def _outbox_waiting(rt) -> bool:
    with rt.db.transaction() as session:
        return session.execute(select(OutboxEntry.seq).limit(1)).first() is not None


def _due(rt, webhook_id: str) -> bool:
    with rt.db.transaction() as session:
        return (
            session.execute(
                select(Delivery.seq)
                .where(Delivery.webhook_id == webhook_id, Delivery.status == "pending")
                .limit(1)
            ).first()
            is not None
        )


BATCH = 100
# A drain renews its lease when this much of it has gone by (and before the next request).
RENEW_AFTER = 5.0


def _batch(rt, webhook_id: str):
    """The endpoint and its next pending deliveries in order, each with its event."""
    with rt.db.transaction() as session:
        webhook = session.get(Webhook, webhook_id)
        if webhook is None:
            return None, []
        rows = session.execute(
            select(Delivery, Event)
            .outerjoin(Event, Event.id == Delivery.event_id)
            .where(Delivery.webhook_id == webhook_id, Delivery.status == DeliveryStatus.PENDING)
            .order_by(Delivery.seq)
            .limit(BATCH)
        ).all()
        session.expunge_all()
    return webhook, [(row[0], row[1]) for row in rows]


def _drain_owned(rt, webhook_id: str, baton: Baton) -> tuple[str, int]:
    sent = 0
    successes = _Successes(rt)
    while True:
        successes.flush()  # before reading: what was sent is no longer pending
        webhook, batch = _batch(rt, webhook_id)
        if not batch:
            return "idle", sent
        if not webhook.active:
            with rt.db.transaction() as session:
                fail_pending(session, webhook_id, f"webhook is {status_of(webhook)}")
            return "idle", sent
        for delivery, event in batch:
            due = as_utc(delivery.next_attempt_at)
            now = utcnow()
            if due is not None and due > now:
                successes.flush()
                return _schedule(rt, webhook_id, baton, (due - now).total_seconds()), sent
            baton.renew(every=RENEW_AFTER)
            successes.flush_if_due()
            outcome = _attempt(rt, webhook, delivery, event)
            sent += 1
            if outcome.ok:
                successes.add(webhook, delivery, outcome)
                continue
            successes.flush()
            recorded, retry_in = _record(rt, webhook, delivery, outcome)
            if retry_in is not None:
                return _schedule(rt, webhook_id, baton, retry_in), sent
            # Failed for good (the endpoint may be disabled now), or no longer pending (it was
            # switched off): look again before sending more.
            break


class _Successes:
    """Successful attempts, recorded together: one executemany UPDATE for up to ``EVERY`` of
    them or ``AFTER`` seconds' worth, so a fast receiver does not cost a transaction per request.
    Before a request that follows a slow one they are written at once, so a notifier killed
    mid-request sends again at most what a fast receiver took in those moments (receivers
    deduplicate)."""

    EVERY, AFTER, SLOW_MS = 20, 0.25, 50.0

    def __init__(self, rt):
        self.rt = rt
        self.items: list[tuple[Webhook, Delivery, Outcome, Any]] = []
        self.since = 0.0

    def add(self, webhook: Webhook, delivery: Delivery, outcome: Outcome) -> None:
        if not self.items:
            self.since = time.monotonic()
        self.items.append((webhook, delivery, outcome, utcnow()))

    def flush_if_due(self) -> None:
        if self.items and (
            len(self.items) >= self.EVERY
            or time.monotonic() - self.since >= self.AFTER
            or (self.items[-1][2].latency_ms or 0) >= self.SLOW_MS
        ):
            self.flush()

    def flush(self) -> None:
        if not self.items:
            return
        table = Delivery.__table__
        columns = ("attempts", "history", "response_status", "response_body", "latency_ms")
        statement = (
            update(table)
            .where(table.c.seq == bindparam("b_seq"), _still_pending(table.c.status))
            .values(
                status=DeliveryStatus.DELIVERED,
                delivered_at=bindparam("b_at"),
                error=None,
                next_attempt_at=None,
                **{column: bindparam(f"b_{column}") for column in columns},
            )
        )
        rows = [
            {
                "b_seq": delivery.seq,
                "b_at": at,
                **{f"b_{k}": v for k, v in _attempt_values(delivery, outcome, at).items()},
            }
            for _webhook, delivery, outcome, at in self.items
        ]
        webhook = self.items[0][0]
        with self.rt.db.transaction() as session:
            _relaxed(self.rt, session)
            session.connection().execute(statement, rows)
            if webhook.consecutive_failures:
                _set_failures(session, webhook.id, 0)
                webhook.consecutive_failures = 0
        record_deliveries("delivered", len(self.items))
        self.items = []


def _still_pending(status) -> Any:
    """The guard of an attempt's UPDATE by ``seq``, written so that no index can serve it: with
    ``status = 'pending'`` Postgres may take an index on the status instead of the primary key
    (its statistics lag behind a table this busy), and under load such an index holds thousands
    of entries of rows delivered moments ago: 10 ms an UPDATE instead of 0.1."""
    return status.is_not_distinct_from(DeliveryStatus.PENDING)


def _schedule(rt, webhook_id: str, baton: Baton, wait: float) -> str:
    """Hand the endpoint over to a drain that starts in ``wait`` seconds."""
    baton.hand_over(wait)
    _send_drain(rt, webhook_id, countdown=wait)
    return "scheduled"


def _attempt(rt, webhook: Webhook, delivery: Delivery, event: Event | None) -> Outcome:
    if delivery.event_id is not None and event is None:
        return Outcome(ok=False, error="the event no longer exists", permanent=True)
    data = render_event(event) if event is not None else (delivery.payload or {})
    try:
        secret = unseal(rt.settings, webhook.secret_ciphertext) if webhook.has_secret else None
    except ValueError as exc:
        return Outcome(ok=False, error=str(exc), permanent=True)
    return post(
        rt.settings,
        webhook.url,
        event=name_for(delivery.event_type, webhook.profile),
        delivery_id=delivery.id,
        payload=render_payload(webhook.profile, webhook.id, delivery.id, delivery.event_type, data),
        secret=secret,
        attempt=delivery.attempts + 1,
    )


def _record(
    rt, webhook: Webhook, delivery: Delivery, outcome: Outcome
) -> tuple[bool, float | None]:
    """Store a failed attempt with one guarded UPDATE (and, for a delivery that failed for good,
    the endpoint's failure count, and its disabling, in the same transaction; successes are
    recorded by ``_Successes``). Returns whether the delivery was still pending, and the seconds
    until its next attempt (None once it failed for good)."""
    from app.services.state import Work  # state writes deliveries: import it only here

    settings = rt.settings
    now = utcnow()
    values = _attempt_values(delivery, outcome, now)
    retry_in = None
    if outcome.permanent or values["attempts"] >= settings.webhook_max_attempts:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.PENDING
        retry_in = backoff(settings, values["attempts"])
    with Work(rt) as work:
        _relaxed(rt, work.session)
        recorded = work.session.execute(
            update(Delivery)
            .where(Delivery.seq == delivery.seq, _still_pending(Delivery.status))
            .values(
                **values,
                status=status,
                error=outcome.error,
                next_attempt_at=now + timedelta(seconds=retry_in) if retry_in else None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if recorded and status == DeliveryStatus.FAILED:
            _count_failure(work, webhook, settings.webhook_disable_after)
    if recorded:
        record_deliveries("failed" if status == DeliveryStatus.FAILED else "retrying")
    if recorded and status == DeliveryStatus.FAILED:
        log.warning(
            "webhook %s: delivery %s failed for good after %d attempt(s): %s",
            webhook.id,
            delivery.id,
            values["attempts"],
            outcome.message,
        )
    return bool(recorded), retry_in


def _attempt_values(delivery: Delivery, outcome: Outcome, at) -> dict[str, Any]:
    """The columns one more attempt sets, whatever its outcome."""
    return {
        "attempts": delivery.attempts + 1,
        "history": [
            *(delivery.history or []),
            _history_entry(len(delivery.history or []) + 1, at, outcome),
        ],
        "response_status": outcome.status_code,
        "response_body": outcome.body,
        "latency_ms": outcome.latency_ms,
    }


def _history_entry(number: int, at, outcome: Outcome) -> dict[str, Any]:
    return {
        "attempt": number,
        "at": at.isoformat().replace("+00:00", "Z"),
        "status_code": outcome.status_code,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
    }


def _set_failures(session, webhook_id: str, count: int) -> None:
    session.execute(
        update(Webhook).where(Webhook.id == webhook_id).values(consecutive_failures=count)
    )


def _count_failure(work, webhook: Webhook, disable_after: int) -> None:
    row = work.session.get(Webhook, webhook.id, with_for_update=True)
    if row is None:
        return
    row.consecutive_failures += 1
    if row.active and disable_after and row.consecutive_failures >= disable_after:
        row.active = False
        row.disabled_reason = (
            f"disabled after {row.consecutive_failures} deliveries in a row failed"
        )
        fail_pending(work.session, row.id, "webhook disabled after repeated failures")
        work.emit(
            None,
            "webhook_disabled",
            data={
                "webhook_id": row.id,
                "url": row.url,
                "consecutive_failures": row.consecutive_failures,
                "reason": row.disabled_reason,
            },
            message=f"Webhook {row.id} disabled: {row.disabled_reason}",
        )


# ---------------------------------------------------------------------------------------------
# What the API calls


def redeliver(rt, webhook_id: str, delivery_id: str) -> Delivery:
    """Send a delivery again (same id, so a receiver that did get it can tell): it goes back in
    its place in the endpoint's order, with a fresh set of attempts."""
    with rt.db.transaction() as session:
        webhook = get_webhook(session, webhook_id)
        if status_of(webhook) != "active":
            raise InvalidTransition(
                f"Webhook '{webhook_id}' is {status_of(webhook)}: activate it before redelivering"
            )
        delivery = get_delivery(session, webhook_id, delivery_id)
        if delivery.status == DeliveryStatus.PENDING:
            raise InvalidTransition(f"Delivery '{delivery_id}' is already pending")
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = None
        delivery.error = None
    wake(rt, [webhook_id])
    return delivery


def test_webhook(rt, webhook_id: str) -> dict[str, Any]:
    """Send a ``webhook.test`` delivery now and answer with its outcome. It is kept in the history
    (and can be redelivered), but never retried and never counted as one of the endpoint's
    failures."""
    webhook = get_webhook(rt, webhook_id)
    now = utcnow()
    delivery = Delivery(
        id=str(uuid.uuid4()),
        webhook_id=webhook.id,
        event_type=TEST_EVENT.internal,
        payload={
            "message": "Test delivery from Harmonia",
            "webhook_id": webhook.id,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
        },
        attempts=0,
        history=[],
        created_at=now,
    )
    outcome = _attempt(rt, webhook, delivery, None)
    done = utcnow()
    for column, value in _attempt_values(delivery, outcome, done).items():
        setattr(delivery, column, value)
    delivery.status = DeliveryStatus.DELIVERED if outcome.ok else DeliveryStatus.FAILED
    delivery.error = outcome.error
    delivery.delivered_at = done if outcome.ok else None
    with rt.db.transaction() as session:
        session.add(delivery)
    return outcome_body(outcome, delivery_id=delivery.id)


def test_url(rt, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/v1/webhooks/test``: one signed request to any URL (nothing is stored)."""
    check_url(body["url"], allow_private=rt.settings.webhook_allow_private)
    delivery_id = str(uuid.uuid4())
    event = body.get("event") or TEST_EVENT.dotted
    payload = {
        "id": delivery_id,
        "event": event,
        "created_at": utcnow().isoformat().replace("+00:00", "Z"),
        "data": body.get("payload") or {"message": "Test delivery from Harmonia"},
    }
    outcome = post(
        rt.settings,
        body["url"],
        event=event,
        delivery_id=delivery_id,
        payload=payload,
        secret=body.get("secret"),
    )
    return outcome_body(outcome, delivery_id=delivery_id)


def outcome_body(outcome: Outcome, *, delivery_id: str) -> dict[str, Any]:
    return {
        "success": outcome.ok,
        "status_code": outcome.status_code,
        "message": outcome.message,
        "delivery_id": delivery_id,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
    }
