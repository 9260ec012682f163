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

LEASE_TTL = 10
LEASE_REFRESH = 3.0


def worker_id() -> str:
    # Computed per call: prefork children share the module but not the pid.
    return f"{socket.gethostname()}:{os.getpid()}"


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


class Lease:
    """Keeps a task's lease fresh in a background thread while the action runs."""

    def __init__(self, rt, run_id: str, task_id: str):
        self.rt = rt
        self.key = lease_key(run_id, task_id)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh, daemon=True)
        self._written = False

    def _refresh(self) -> None:
        # The first write waits one refresh interval: most tasks finish sooner and never touch
        # Redis. A redelivery only comes after the visibility timeout, far longer than that.
        while not self._stop.wait(LEASE_REFRESH):
            with contextlib.suppress(Exception):
                self.rt.redis.set(self.key, worker_id(), ex=LEASE_TTL)
                self._written = True

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        if self._written:
            with contextlib.suppress(Exception):
                self.rt.redis.delete(self.key)
