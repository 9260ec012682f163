"""The worker fleet as the monitor hears it (``harmonia monitor``, worker/monitor.py).

Each Celery worker's last heartbeat and what it carried (load average, tasks processed, Celery
version), the Celery task failures counted on it, and whether it is online or offline: one Redis
hash per worker (``harmonia:fleet:worker:<hostname>``), indexed by when it was last heard from
(the sorted set ``harmonia:fleet:workers``). The ops API shows them (``app/services/ops.py``):
Celery's remote control answers only from live workers and carries none of this.

A change of state is claimed in Redis first, by a script that changes ``state`` only if it
differs, and only the caller whose claim changed it records the event (``worker_online`` /
``worker_offline``, about no run, through the unit of work every event goes through: stored,
published on the global stream, offered to webhooks). So neither a repeated Celery event, nor a
restarted monitor, nor a second one records a transition twice in a row. A claim whose event
could not be stored is handed back, and the next observation tries again. A worker's hash
expires ``worker_offline_retention`` seconds after it was last written (each heartbeat writes
it), and the listing leaves out whatever was last heard from longer ago than that.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app.models import Event
from app.services.state import Work

WORKER_PREFIX = "harmonia:fleet:worker:"
INDEX = "harmonia:fleet:workers"
ONLINE, OFFLINE = "online", "offline"
ANY, NONE = "*", ""  # what a claim may change from: whatever Redis holds, or nothing
# Why a worker went offline.
CLEAN = "clean"  # it said goodbye (Celery's worker-offline): a warm or cold shutdown
EXPIRED = "heartbeat_expired"  # its heartbeats stopped: killed, frozen, or cut off the broker
RESTARTED = "restarted"  # a new process announced itself under its name without a goodbye

# KEYS: the worker's hash, the index. ARGV: hostname, the state claimed, now, how long the hash
# lives on unless heard from again, facts kept whatever the outcome (JSON), facts set only on a
# change (JSON), the state it must be in for the claim to apply ('*' for any, '' for none).
# Returns {1 if it changed, the state before}.
_CLAIM = """
local previous = redis.call('HGET', KEYS[1], 'state') or ''
if ARGV[7] ~= '*' and previous ~= ARGV[7] then
  return {0, previous}
end
for field, value in pairs(cjson.decode(ARGV[5])) do
  redis.call('HSET', KEYS[1], field, value)
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(ARGV[4]))))
if previous == ARGV[2] then
  return {0, previous}
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'since', ARGV[3])
for field, value in pairs(cjson.decode(ARGV[6])) do
  redis.call('HSET', KEYS[1], field, value)
end
return {1, previous}
"""
# KEYS: the worker's hash. ARGV: the state claimed, the state before it ('' for none).
_RELEASE = """
if redis.call('HGET', KEYS[1], 'state') == ARGV[1] then
  if ARGV[2] == '' then
    redis.call('HDEL', KEYS[1], 'state')
  else
    redis.call('HSET', KEYS[1], 'state', ARGV[2])
  end
end
"""


def worker_key(hostname: str) -> str:
    return f"{WORKER_PREFIX}{hostname}"


@dataclass(frozen=True)
class Heartbeat:
    """A sign of life, as Celery's ``worker-online`` / ``-heartbeat`` / ``-offline`` carries it."""

    hostname: str
    received: float  # when the monitor received it: epoch seconds, on the monitor's clock
    pid: int | None = None
    interval: float | None = None  # seconds between its heartbeats (Celery's ``freq``)
    loadavg: list[float] | None = None
    processed: int | None = None  # tasks received since it started
    active: int | None = None
    celery_version: str | None = None
    system: str | None = None

    def facts(self) -> dict[str, str]:
        values = {
            "last_heartbeat": self.received,
            "pid": self.pid,
            "interval": self.interval,
            "loadavg": json.dumps(self.loadavg) if self.loadavg is not None else None,
            "processed": self.processed,
            "active": self.active,
            "celery_version": self.celery_version,
            "system": self.system,
        }
        return {key: str(value) for key, value in values.items() if value is not None}


# -- transitions ---------------------------------------------------------------------------------


def heard(rt, beat: Heartbeat) -> Event | None:
    """Keep what a heartbeat says; the worker comes online (``worker_online``) unless Redis
    already knows it online. The event, or None when nothing changed."""
    changed, previous = _claim(
        rt, beat.hostname, ONLINE, beat.received, beat.facts(), {"failed": "0", "reason": ""}
    )
    if not changed:
        return None
    data = {
        "hostname": beat.hostname,
        "pid": beat.pid,
        "versions": {"celery": beat.celery_version} if beat.celery_version else {},
        "system": beat.system,
        "heartbeat_interval": beat.interval,
    }
    message = f"Worker {beat.hostname} is online"
    return _record(rt, beat.hostname, "worker_online", data, message, ONLINE, previous)


def went_offline(
    rt,
    hostname: str,
    reason: str,
    *,
    at: float,
    goodbye: Heartbeat | None = None,
    only_from_online: bool = False,
) -> Event | None:
    """The worker is offline (``worker_offline``), for ``reason``, unless Redis already knows
    it so (or, ``only_from_online``, does not know it online). ``goodbye`` is its last message
    (Celery's ``worker-offline``), whose facts are kept. The event, or None."""
    changed, previous = _claim(
        rt,
        hostname,
        OFFLINE,
        at,
        goodbye.facts() if goodbye else {},
        {"reason": reason},
        only_from=ONLINE if only_from_online else ANY,
    )
    if not changed:
        return None
    facts = _parse(rt.redis.hgetall(worker_key(hostname)))
    data = {
        "hostname": hostname,
        "reason": reason,
        "last_heartbeat": _iso(facts.get("last_heartbeat")),
        "pid": facts.get("pid"),
    }
    message = f"Worker {hostname} is offline ({reason.replace('_', ' ')})"
    return _record(rt, hostname, "worker_offline", data, message, OFFLINE, previous)


def remind(rt, hostname: str, *, last_heartbeat: float) -> bool:
    """Put back, without an event, a worker this monitor recorded online and Redis has since
    forgotten (a Redis restarted without persistence, as ``harmonia dev``'s is): announcing it
    again would record the same transition twice. Whether it had been forgotten."""
    facts = {"last_heartbeat": repr(last_heartbeat)}
    changed, _ = _claim(rt, hostname, ONLINE, last_heartbeat, facts, {}, only_from=NONE)
    return changed


def count_failure(rt, hostname: str) -> None:
    """One more task Celery saw fail on this worker (a task that raised, a time limit); a
    Harmonia task that fails is data, not a Celery failure, and is not counted here."""
    key = worker_key(hostname)
    if rt.redis.exists(key):
        rt.redis.hincrby(key, "failed", 1)


def _claim(
    rt,
    hostname: str,
    state: str,
    now: float,
    facts: dict[str, str],
    on_change: dict[str, str],
    *,
    only_from: str = ANY,
) -> tuple[bool, str]:
    keys = [worker_key(hostname), INDEX]
    # Online or offline, a worker not heard from for the retention is forgotten.
    ttl = repr(rt.settings.worker_offline_retention)
    arguments = [hostname, state, repr(now), ttl, json.dumps(facts), json.dumps(on_change)]
    changed, previous = rt.redis.eval(_CLAIM, len(keys), *keys, *arguments, only_from)
    return bool(changed), previous


def _record(rt, hostname, type_, data, message, claimed: str, previous: str) -> Event:
    """Store and publish the event of a claimed change; if it cannot be stored, hand the claim
    back (the next observation claims it again) and raise."""
    try:
        with Work(rt) as work:
            return work.emit(None, type_, data=data, message=message)
    except Exception:
        rt.redis.eval(_RELEASE, 1, worker_key(hostname), claimed, previous)
        raise


# -- reading -------------------------------------------------------------------------------------


def known_online(rt) -> dict[str, dict[str, Any]]:
    """The workers Redis knows online, with their facts: a (re)starting monitor watches them."""
    return {name: facts for name, facts in remembered(rt).items() if facts["state"] == ONLINE}


def remembered(rt) -> dict[str, dict[str, Any]]:
    """Every worker heard from within the retention, by hostname, with its facts (``state``,
    ``reason``, ``last_heartbeat`` in epoch seconds, ``loadavg``, ``processed``, ``failed``…)."""
    since = time.time() - rt.settings.worker_offline_retention
    hostnames = rt.redis.zrangebyscore(INDEX, since, "+inf")
    if not hostnames:
        return {}
    pipe = rt.redis.pipeline(transaction=False)
    for hostname in hostnames:
        pipe.hgetall(worker_key(hostname))
    found = {}
    for hostname, raw in zip(hostnames, pipe.execute(), strict=True):
        facts = _parse(raw)
        if facts.get("state") in (ONLINE, OFFLINE):
            found[hostname] = facts
    return found


def forget_stale(rt) -> int:
    """Drop from the index the workers last heard from before the retention (their hashes,
    offline, have expired by then); how many."""
    since = time.time() - rt.settings.worker_offline_retention
    return rt.redis.zremrangebyscore(INDEX, "-inf", f"({since!r}")


def _parse(raw: dict[str, str]) -> dict[str, Any]:
    def number(name: str, kind=int):
        try:
            return kind(raw[name])
        except (KeyError, ValueError):
            return None

    loadavg = None
    if raw.get("loadavg"):
        try:
            loadavg = [float(value) for value in json.loads(raw["loadavg"])]
        except (ValueError, TypeError):
            loadavg = None
    return {
        "state": raw.get("state"),
        "since": number("since", float),
        "reason": raw.get("reason") or None,
        "last_heartbeat": number("last_heartbeat", float),
        "pid": number("pid"),
        "interval": number("interval", float),
        "loadavg": loadavg,
        "processed": number("processed"),
        "active": number("active"),
        "failed": number("failed"),
        "celery_version": raw.get("celery_version"),
        "system": raw.get("system"),
    }


def as_datetime(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, timezone.utc) if epoch is not None else None


def _iso(epoch: float | None) -> str | None:
    moment = as_datetime(epoch)
    return moment.isoformat().replace("+00:00", "Z") if moment else None
