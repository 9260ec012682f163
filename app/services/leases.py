"""Who is running a task, and are they still alive?

A claimed task records its owner (``host:pid``). While the action runs, the owner refreshes a
short Redis lease. A message redelivered after a crash finds the task RUNNING: if the owner is
on this host its pid tells whether it is alive; on another host the lease does.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

LEASE_TTL = 10
LEASE_REFRESH = 3.0


_worker_id: tuple[int, str] = (0, "")


def worker_id() -> str:
    """``host:pid`` of this process (kept per pid: prefork children share the module, not the
    pid; asked for twice per task, and the host name is a system call)."""
    global _worker_id
    pid = os.getpid()
    if _worker_id[0] != pid:
        _worker_id = (pid, f"{socket.gethostname()}:{pid}")
    return _worker_id[1]


def lease_key(run_id: str, task_id: str) -> str:
    return f"harmonia:lease:{run_id}:{task_id}"


def invocation_scope(invocation_id: str) -> str:
    """Stands for the run id in an invocation's lease and action context: it has no run."""
    return f"invocation:{invocation_id}"


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def owner_alive(rt, run_id: str, task_id: str, owner: str | None) -> bool:
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return pid_alive(int(pid))
    return lease_held(rt, run_id, task_id)


def lease_held(rt, run_id: str, task_id: str) -> bool:
    """The owner refreshed the task's lease in the last ``LEASE_TTL`` seconds (a task running
    longer than ``LEASE_REFRESH`` always has one)."""
    try:
        return bool(rt.redis.exists(lease_key(run_id, task_id)))
    except Exception:
        return True  # cannot tell: never steal a task that may still run


class _Refresher:
    """One daemon thread per process refreshes every lease its tasks hold: a task starts no
    thread of its own (starting one costs a context switch on every task, however short), and
    wakes the thread only when it sleeps with nothing due (a new lease is never due before the
    ones it already waits for)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._held: dict[str, list] = {}  # key → [runtime, next refresh due, written]
        self._armed = False  # the thread sleeps until a refresh is due (not indefinitely)
        self._pid: int | None = None

    def hold(self, rt, key: str) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first lease in this (forked) process
                self._pid, self._held, self._armed = os.getpid(), {}, False
                threading.Thread(target=self._run, name="lease-refresher", daemon=True).start()
            # The first write waits one refresh interval: most tasks finish sooner and never
            # touch Redis. A redelivery only comes after the visibility timeout, far longer.
            self._held[key] = [rt, time.monotonic() + LEASE_REFRESH, False]
            if not self._armed:
                self._wake.set()

    def release(self, key: str) -> bool:
        """Stop refreshing ``key``; whether it was ever written (then the caller deletes it)."""
        with self._lock:
            entry = self._held.pop(key, None)
        return bool(entry and entry[2])

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                due = [(key, entry) for key, entry in self._held.items() if entry[1] <= now]
                for _key, entry in due:
                    entry[1] = now + LEASE_REFRESH
                soonest = min((entry[1] for entry in self._held.values()), default=None)
                self._armed = soonest is not None
                self._wake.clear()
            for key, entry in due:
                with contextlib.suppress(Exception):
                    entry[0].redis.set(key, worker_id(), ex=LEASE_TTL)
                    entry[2] = True
            self._wake.wait(None if soonest is None else max(soonest - time.monotonic(), 0))


_refresher = _Refresher()


class Lease:
    """Keeps a task's lease fresh (in the process's refresher thread) while the action runs."""

    def __init__(self, rt, run_id: str, task_id: str):
        self.rt = rt
        self.key = lease_key(run_id, task_id)

    def __enter__(self) -> Lease:
        _refresher.hold(self.rt, self.key)
        return self

    def __exit__(self, *_exc) -> None:
        if _refresher.release(self.key):
            with contextlib.suppress(Exception):
                self.rt.redis.delete(self.key)
