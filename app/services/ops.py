"""Ops: the Celery worker fleet and its queues, as Celery and the broker report them.

A live worker is whatever answers Celery's remote control (``control.inspect`` / ``control.*``,
broadcast over the broker) within ``INSPECT_TIMEOUT``, and a queue's depth is what the broker
holds for it. What only Celery's event stream carries — heartbeats and their load average, the
tasks Celery saw fail, and the workers that stopped answering — comes from the fleet monitor
(``harmonia monitor``, app/services/fleet.py): a worker it heard from recently that does not
answer is listed too, ``offline`` once the monitor recorded it so, ``unresponsive`` before. Without
a monitor those fields are null and a silent worker is simply absent.

Every control operation is recorded, whoever sent it and whatever the workers answered, as an
``ops_<action>`` event with no run (the events table's audit trail).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from app.events.vocabulary import OPS_EVENTS
from app.models.base import utcnow
from app.services import fleet
from app.services.errors import WorkerNotFound
from app.services.metrics import bound_queues, queue_lengths
from app.services.state import Work

INSPECT_TIMEOUT = 1.0
# Where Harmonia's tasks carry the run and the step they work for (worker/tasks.py).
RUN_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "harmonia.run_task": ("run_id", "task_id"),
    "harmonia.advance": ("run_id",),
    "harmonia.finalize_run": ("run_id",),
}
SOFTWARE = re.compile(r"software\s*->(.*?)(?:\n\S|\Z)", re.S)


# -- reading -------------------------------------------------------------------------------------


def list_workers(rt) -> list[dict[str, Any]]:
    """Every worker that answers a ping within the timeout, described, and those the monitor
    heard from within the retention that do not (offline or unresponsive), by hostname."""
    pongs = rt.celery.control.inspect(timeout=INSPECT_TIMEOUT).ping() or {}
    live = _describe(rt, sorted(pongs))
    remembered = fleet.remembered(rt)
    workers = [_monitored(worker, remembered.pop(worker["hostname"], None)) for worker in live]
    workers += [_silent(name, facts) for name, facts in remembered.items()]
    return sorted(workers, key=lambda worker: worker["hostname"])


def get_worker(rt, hostname: str) -> dict[str, Any]:
    """One worker, live or remembered by the monitor; ``WorkerNotFound`` if neither."""
    found = _describe(rt, [hostname]) if _answers(rt, hostname) else []
    facts = fleet.remembered(rt).get(hostname)
    if found:
        return _monitored(found[0], facts)
    if facts is None:
        raise WorkerNotFound(hostname, INSPECT_TIMEOUT)
    return _silent(hostname, facts)


def require_worker(rt, hostname: str) -> None:
    """``WorkerNotFound`` unless ``hostname`` answers a ping."""
    if not _answers(rt, hostname):
        raise WorkerNotFound(hostname, INSPECT_TIMEOUT)


def _answers(rt, hostname: str) -> bool:
    pongs = rt.celery.control.ping(destination=[hostname], limit=1, timeout=INSPECT_TIMEOUT)
    return any(hostname in pong for pong in pongs or [])


def _describe(rt, hostnames: list[str]) -> list[dict[str, Any]]:
    if not hostnames:
        return []
    # Addressed and limited to the workers that just answered: each call returns as soon as they
    # all have, instead of waiting out the timeout.
    inspector = rt.celery.control.inspect(
        destination=hostnames, limit=len(hostnames), timeout=INSPECT_TIMEOUT
    )
    stats = inspector.stats() or {}
    heard = utcnow()
    queues = inspector.active_queues() or {}
    active = inspector.active() or {}
    reserved = inspector.reserved() or {}
    scheduled = inspector.scheduled() or {}
    reports = inspector.report() or {}
    return [
        _worker(
            name,
            stats.get(name),
            heard,
            queues.get(name) or [],
            [_task(request) for request in active.get(name) or []],
            [_task(request) for request in reserved.get(name) or []],
            [
                _task(entry.get("request") or {}, eta=entry.get("eta"))
                for entry in scheduled.get(name) or []
            ],
            (reports.get(name) or {}).get("ok", ""),
        )
        for name in hostnames
    ]


def _worker(name, stats, heard, queues, active, reserved, scheduled, report) -> dict[str, Any]:
    stats = stats or {}
    pool = stats.get("pool") or {}
    processes = pool.get("processes")
    totals = stats.get("total") or {}
    return {
        "hostname": name,
        "status": "online",
        "last_heartbeat": heard if stats else None,
        "pid": stats.get("pid"),
        "uptime_seconds": stats.get("uptime"),
        "pool": {
            "type": pool.get("implementation"),
            "max_concurrency": pool.get("max-concurrency"),
            "size": len(processes) if isinstance(processes, list) else None,
            "processes": processes if isinstance(processes, list) else [],
            "max_tasks_per_child": _number(pool.get("max-tasks-per-child")),
        },
        "autoscaler": stats.get("autoscaler"),
        "prefetch_count": stats.get("prefetch_count"),
        "processed": sum(totals.values()),
        "processed_by_task": totals,
        "active": active,
        "reserved": reserved,
        "scheduled": scheduled,
        "queues": [queue["name"] for queue in queues if queue.get("name")],
        "versions": _versions(report),
        "rusage": stats.get("rusage"),
        "loadavg": None,
        "failed": None,
        "offline_reason": None,
    }


def _monitored(worker: dict[str, Any], facts: dict[str, Any] | None) -> dict[str, Any]:
    """A live worker with what only its heartbeats tell (nothing without a monitor)."""
    if facts:
        worker.update(loadavg=facts["loadavg"], failed=facts["failed"])
    return worker


def _silent(name: str, facts: dict[str, Any]) -> dict[str, Any]:
    """A worker that did not answer, as the monitor last heard it: ``offline`` once recorded
    so, ``unresponsive`` while its heartbeats have not yet been missed for long enough."""
    offline = facts["state"] == fleet.OFFLINE
    version = facts["celery_version"]
    return {
        "hostname": name,
        "status": "offline" if offline else "unresponsive",
        "last_heartbeat": fleet.as_datetime(facts["last_heartbeat"]),
        "pid": facts["pid"],
        "uptime_seconds": None,
        "pool": {
            "type": None,
            "max_concurrency": None,
            "size": None,
            "processes": [],
            "max_tasks_per_child": None,
        },
        "autoscaler": None,
        "prefetch_count": None,
        "processed": facts["processed"],
        "processed_by_task": {},
        "active": [],
        "reserved": [],
        "scheduled": [],
        "queues": [],
        "versions": {"celery": version} if version else {},
        "rusage": None,
        "loadavg": facts["loadavg"],
        "failed": facts["failed"],
        "offline_reason": facts["reason"] if offline else None,
    }


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _task(request: dict[str, Any], *, eta: str | None = None) -> dict[str, Any]:
    """One task as a worker holds it, with the Harmonia run and step it belongs to."""
    name = request.get("name") or request.get("type")
    args = request.get("args") or []
    kwargs = request.get("kwargs") or {}
    owner: dict[str, Any] = {}
    if isinstance(args, (list, tuple)) and isinstance(kwargs, dict):
        for position, key in enumerate(RUN_ARGUMENTS.get(name, ())):
            value = kwargs.get(key, args[position] if position < len(args) else None)
            owner[key] = value if isinstance(value, str) else None
    started = request.get("time_start")
    return {
        "id": request.get("id"),
        "name": name,
        "run_id": owner.get("run_id"),
        "step_id": owner.get("task_id"),
        "started_at": (
            datetime.fromtimestamp(started, timezone.utc)
            if isinstance(started, (int, float))
            else None
        ),
        "eta": eta,
        "worker_pid": request.get("worker_pid"),
        "acknowledged": request.get("acknowledged"),
    }


def _versions(report: str) -> dict[str, str]:
    """The ``software ->`` lines of the worker's own ``report`` (celery, kombu, py, billiard,
    the broker client…): ``stats`` carries no versions."""
    found = SOFTWARE.search(report or "")
    return dict(re.findall(r"([\w.-]+):(\S+)", found.group(1))) if found else {}


def list_queues(rt) -> list[dict[str, Any]]:
    """Each task queue: the messages waiting in it (every priority level, read from the broker as
    ``/metrics`` reads them) and the workers consuming it.

    The queues are those Harmonia configures, those a worker consumes, and those the broker has
    a binding for (any queue a task was sent to, whether or not anyone consumes it)."""
    consumed = rt.celery.control.inspect(timeout=INSPECT_TIMEOUT).active_queues() or {}
    consumers: dict[str, list[str]] = {}
    for hostname, queues in consumed.items():
        for queue in queues or []:
            consumers.setdefault(queue["name"], []).append(hostname)
    settings = rt.settings
    names = {settings.default_queue, settings.sweep_queue, settings.notify_queue, *consumers}
    depths = queue_lengths(rt.redis, names | set(bound_queues(rt.redis)))
    return [
        {"name": name, "depth": depth, "consumers": sorted(consumers.get(name, []))}
        for name, depth in depths.items()
    ]


# -- control -------------------------------------------------------------------------------------


def grow_pool(rt, hostname: str, n: int, *, by: str) -> dict[str, Any]:
    return _command(rt, "pool_grow", hostname, {"n": n}, by=by)


def shrink_pool(rt, hostname: str, n: int, *, by: str) -> dict[str, Any]:
    return _command(rt, "pool_shrink", hostname, {"n": n}, by=by)


def autoscale(rt, hostname: str, max: int, min: int, *, by: str) -> dict[str, Any]:
    return _command(rt, "autoscale", hostname, {"max": max, "min": min}, by=by)


def add_consumer(rt, hostname: str, queue: str, *, by: str) -> dict[str, Any]:
    return _command(rt, "add_consumer", hostname, {"queue": queue}, by=by)


def cancel_consumer(rt, hostname: str, queue: str, *, by: str) -> dict[str, Any]:
    return _command(rt, "cancel_consumer", hostname, {"queue": queue}, by=by)


def set_rate_limit(
    rt, task_name: str, rate: str, *, hostname: str | None = None, by: str
) -> dict[str, Any]:
    arguments = {"task_name": task_name, "rate_limit": rate}
    return _command(rt, "rate_limit", hostname, arguments, by=by, target=task_name)


def shutdown_worker(rt, hostname: str, *, by: str) -> dict[str, Any]:
    """Warm shutdown: the worker finishes its running tasks and exits. It does not answer (it
    leaves while handling the command), so the replies are empty."""
    return _command(rt, "shutdown", hostname, {}, by=by, reply=False)


def revoke_task(rt, celery_task_id: str, *, terminate: bool, by: str) -> dict[str, Any]:
    """Revoke one Celery task on every worker; ``terminate`` also kills the process running it
    (SIGTERM). A run's task is better cancelled through the run, which records why."""
    replies = rt.celery.control.revoke(
        celery_task_id, terminate=terminate, reply=True, timeout=INSPECT_TIMEOUT
    )
    arguments = {"task_id": celery_task_id, "terminate": terminate}
    return _record(rt, "revoke", celery_task_id, arguments, _merge(replies), by=by)


def _command(
    rt,
    action: str,
    hostname: str | None,
    arguments: dict[str, Any],
    *,
    by: str,
    target: str | None = None,
    reply: bool = True,
) -> dict[str, Any]:
    """Broadcast one remote-control command to ``hostname`` (every worker if None), and record
    it. An unknown worker is ``WorkerNotFound`` and nothing is sent."""
    destination = None
    if hostname is not None:
        require_worker(rt, hostname)
        destination = [hostname]
    replies = rt.celery.control.broadcast(
        action,
        arguments=arguments,
        destination=destination,
        reply=reply,
        timeout=INSPECT_TIMEOUT,
        limit=len(destination) if destination and reply else None,
    )
    recorded = {**arguments, **({"hostname": hostname} if target else {})}
    return _record(rt, action, target or hostname, recorded, _merge(replies), by=by)


def _merge(replies: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Celery's ``[{hostname: reply}, …]`` as one ``{hostname: reply}``."""
    merged: dict[str, Any] = {}
    for reply in replies or []:
        merged.update(reply)
    return merged


def _record(
    rt, action: str, target: str | None, arguments: dict[str, Any], replies: dict, *, by: str
) -> dict[str, Any]:
    type_ = f"ops_{action}"
    assert type_ in OPS_EVENTS, type_
    data = {"by": by, "target": target, "arguments": arguments, "replies": replies}
    with Work(rt) as work:
        event = work.emit(None, type_, data=data, message=f"{by}: {action} {target or 'all'}")
    return {"action": action, "event_id": event.id, **data}
