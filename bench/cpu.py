"""Where the CPU goes: core-seconds per group of processes between two readings of ``/proc``.

Read around each timed side of the concurrent runs (``bench/concurrent_runs.py``): when the
machine is saturated, throughput follows CPU, and this says whose. Groups: the worker's main
process, its pool processes, Postgres (every ``postgres`` process: the bench is alone on the
server while it runs), Redis, and the bench's own process (which also serves the API, in
process). A process that starts or ends between two readings counts only while both saw it.
Linux only: elsewhere every reading is None and the report leaves the split out.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

GROUPS = ("worker main", "worker pool", "postgres", "redis", "bench + API")
_PROC = Path("/proc")


def reading(worker_pid: int | None) -> dict[int, tuple[str, float]] | None:
    """Each counted process's group and CPU seconds so far (user + system)."""
    if worker_pid is None or not (_PROC / "self" / "stat").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    seen: dict[int, tuple[str, float]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended while we looked
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, ppid = int(entry.name), int(fields[1])
        group = _group(pid, ppid, name, worker_pid, me)
        if group is not None:
            seen[pid] = (group, (int(fields[11]) + int(fields[12])) / ticks)
    return seen


def _group(pid: int, ppid: int, name: str, worker_pid: int, me: int) -> str | None:
    if pid == worker_pid:
        return "worker main"
    if ppid == worker_pid:
        return "worker pool"
    if name.startswith("postgres"):
        return "postgres"
    if name.startswith("redis-server"):
        return "redis"
    if pid == me:
        return "bench + API"
    return None


def spent(before: dict | None, after: dict | None) -> dict[str, float] | None:
    """Core-seconds per group between two readings."""
    if before is None or after is None:
        return None
    groups: Counter[str] = Counter({group: 0.0 for group in GROUPS})
    for pid, (group, seconds) in after.items():
        if pid in before:
            groups[group] += seconds - before[pid][1]
    return dict(groups)


def per_task_ms(samples: list[dict[str, float] | None], tasks: int) -> dict[str, float] | None:
    """The mean over attempts, in milliseconds per task; None when any reading was missing."""
    if not samples or any(sample is None for sample in samples):
        return None
    return {
        group: 1000 * sum(sample[group] for sample in samples) / len(samples) / tasks
        for group in GROUPS
    }
