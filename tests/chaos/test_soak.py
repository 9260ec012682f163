"""soak: hundreds of small runs at a steady rate; nothing may leak.

Runs of 1 to 3 short shell tasks are submitted at a steady rate to an API with 2 processes and
a worker with 2 pool processes. Every run must complete with no body run twice. Memory is
measured (VmRSS, summed over each process tree) after a warm-up, at the middle and at the end:
the growth must stay under ``max(30 % of the start, 60 MB)``. The warm-up fills the one-time
caches (imports, compiled SQL, DAG cache, connection pools), so what grows after it grows with
the number of runs; a per-run leak of even 100 KB in each process would be 50 MB per process
over the full profile's 500 runs, which this bound catches while the allocator's noise (a few
MB per process) stays well inside it.

The private Redis's keys are counted after the warm-up and at the end, grouped by pattern (ids
replaced by ``*``). What a finished run leaves behind, all of it with a TTL:

- ``celery-task-meta-<id>``: the result of each message (each task, ``finalize_run``, each
  ``harmonia.sweep``), kept for ``result_expires`` (1 h);
- ``harmonia:control:<run>``: the run's control record (status, generation), 7 days;
- ``celery-taskset-meta-<id>.c``: the counter of each chord (one per parallel group), kept
  for ``result_expires``.

Everything else (kombu's bindings, the rate limiter's window per identity) is a fixed set.
The scenario checks that each pattern grows by no more than the runs explain, and that no key
without a TTL appears.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.chaos.effects import audit, layered
from tests.chaos.system import System, not_completed

MB = 1024 * 1024
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SHAPES = {
    "one": [["a"]],
    "two": [["a"], ["b"]],
    "three": [["a"], ["b", "c"]],
}


@dataclass
class KeySnapshot:
    counts: Counter  # pattern → keys
    lasting: Counter  # pattern → keys without a TTL
    sweeps: int  # sweeps run so far (each leaves a result)

    @classmethod
    def take(cls, system: System) -> KeySnapshot:
        client = system.redis.client()
        counts, lasting = Counter(), Counter()
        for key in client.scan_iter(count=1000):
            pattern = UUID.sub("*", key)
            counts[pattern] += 1
            if client.ttl(key) == -1:
                lasting[pattern] += 1
        client.close()
        return cls(counts, lasting, len(system.sweep_results()))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def key_growth(start: KeySnapshot, end: KeySnapshot) -> dict[str, int]:
    return {p: n - start.counts[p] for p, n in end.counts.items() if n != start.counts[p]}


def unexplained_keys(
    start: KeySnapshot, end: KeySnapshot, runs: int, tasks: int, chords: int
) -> list[str]:
    """Growth beyond what ``runs`` runs of ``tasks`` tasks and ``chords`` chords retain, and any
    new key without a TTL."""
    allowed = {
        "celery-task-meta-*": tasks + runs + (end.sweeps - start.sweeps) + 5,
        "harmonia:control:*": runs,
        "celery-taskset-meta-*.c": chords,
    }
    found = [
        f"{pattern}: +{grew} (at most {allowed.get(pattern, 0)} expected)"
        for pattern, grew in key_growth(start, end).items()
        if grew > allowed.get(pattern, 0)
    ]
    found += [
        f"{pattern}: {n - start.lasting[pattern]} new key(s) without a TTL"
        for pattern, n in end.lasting.items()
        if n > start.lasting[pattern]
    ]
    return found


@dataclass
class Rss:
    api: int
    worker: int

    @classmethod
    def take(cls, system: System) -> Rss:
        return cls(system.api_rss(), system.worker_rss())

    def __str__(self) -> str:
        return f"{self.api / MB:.0f}/{self.worker / MB:.0f}MB"


def grew_too_much(start: int, end: int) -> bool:
    return end - start >= max(0.30 * start, 60 * MB)


def submit_steadily(system: System, plan: list[str], rate: float) -> list[str]:
    """Run each workflow of ``plan`` in turn, ``rate`` per second."""
    run_ids = []
    started = time.monotonic()
    for i, workflow_id in enumerate(plan):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        run_ids.append(system.api.execute(workflow_id))
    return run_ids


@pytest.mark.timeout(600)
def test_soak(make_system, report, chaos_profile):
    system = make_system()
    shapes: dict[str, list[list[str]]] = {}  # workflow id → its layers
    for name, layers in SHAPES.items():
        tasks = layered(system.effects, layers, (0.02, 0.1))
        shapes[system.api.create_workflow(f"soak-{name}", tasks)] = layers
    total, rate = chaos_profile.soak_runs, chaos_profile.soak_rate
    plan = [list(shapes)[i % len(shapes)] for i in range(total)]
    warm = max(20, total // 10)  # runs before the first measurement
    half = (warm + total) // 2
    warm_up = submit_steadily(system, plan[:warm], rate)
    system.wait_terminal(warm_up, timeout=60)
    time.sleep(2)
    start_rss, start_keys = Rss.take(system), KeySnapshot.take(system)

    measured = submit_steadily(system, plan[warm:half], rate)
    mid_rss = Rss.take(system)
    measured += submit_steadily(system, plan[half:], rate)
    run_ids = warm_up + measured
    statuses = system.wait_terminal(run_ids, timeout=180)
    time.sleep(2)
    end_rss, end_keys = Rss.take(system), KeySnapshot.take(system)

    found = audit(system, run_ids)
    completed = sum(status == "COMPLETED" for status in statuses.values())
    measured_shapes = [shapes[workflow_id] for workflow_id in plan[warm:]]
    unexplained = unexplained_keys(
        start_keys,
        end_keys,
        runs=len(measured),
        tasks=sum(len(layer) for layers in measured_shapes for layer in layers),
        chords=sum(any(len(layer) > 1 for layer in layers) for layers in measured_shapes),
    )
    growth = key_growth(start_keys, end_keys)
    report(
        "soak",
        submitted=len(run_ids),
        completed=completed,
        duplicated=len(found.duplicated),
        rss_api_worker=f"{start_rss}->{mid_rss}->{end_rss}",
        redis_keys=f"{start_keys.total}->{end_keys.total}",
        key_growth=",".join(f"{p}:{n:+d}" for p, n in sorted(growth.items())),
        unexplained_keys=len(unexplained),
    )
    system.verify(
        {
            "runs that did not complete": not_completed(statuses),
            "task bodies run after their completion was recorded": found.duplicated,
            "memory growth": [
                f"{name} RSS {start / MB:.0f} → {end / MB:.0f} MB"
                for name, start, end in (
                    ("API", start_rss.api, end_rss.api),
                    ("worker", start_rss.worker, end_rss.worker),
                )
                if grew_too_much(start, end)
            ],
            "Redis keys the runs do not explain": unexplained,
        }
    )
