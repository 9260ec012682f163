"""Where a task's time goes: each shape run again on a worker with the probe on
(``bench/probe.py``), summed up per task execution and per phase.

It comes after the timing comparison, on a worker of its own, so the timings are always taken with
the probe off. Each shape gets a warm-up run (connections, the DAG cache, prepared statements),
then one measured run whose records are read back by run id. The figures are per
``harmonia.run_task`` of a no-op; the run's ``harmonia.advance`` and ``harmonia.finalize_run``
are listed per run.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.measure import Harness
from bench.probe import COUNTS, PATTERN, ROOT
from bench.runners import create_workflow, time_harmonia
from bench.services import Services, Worker, vacuum
from bench.shapes import Shape

RUN_TASK = "harmonia.run_task"
# A task's record is written once it has ended, which can be after its run's final event.
RECORDS_WAIT = 15.0
# The per-task table: label, key of ``per_task`` (or of the task times), unit.
ROWS = (
    ("SQL statements", "sql", ""),
    ("SQL transactions (COMMIT/ROLLBACK)", "transactions", ""),
    ("SQL round trips (+ BEGIN and COMMIT)", "sql_round_trips", ""),
    ("Redis round trips (pipeline = 1)", "redis_trips", ""),
    ("Redis commands", "redis_cmds", ""),
    ("task messages sent", "messages", ""),
    ("task message bytes (JSON body)", "message_bytes", "B"),
    ("events published (PUBLISH)", "publishes", ""),
    ("event bytes published", "event_bytes", "B"),
    ("time, median", "median_ms", "ms"),
    ("time, p90", "p90_ms", "ms"),
    ("CPU time of the worker process, median", "cpu_median_ms", "ms"),
)


def run(
    shapes: list[Shape], services: Services, h: Harness, concurrency: int, results: Path
) -> dict[str, Any]:
    """Every shape once with the probe on; the summaries by shape key."""
    directory = results / "probe"
    shutil.rmtree(directory, ignore_errors=True)
    worker = Worker(services, concurrency, results / "probe-worker.log", probe=directory)
    try:
        worker.wait_ready(h.client)
        h.log(f"probe worker ready: concurrency {concurrency}")
        found = {}
        for shape in shapes:
            vacuum(services.settings.resolved_database_url)
            found[shape.key] = _measure(shape, h, directory)
        return found
    finally:
        worker.stop()


def _measure(shape: Shape, h: Harness, directory: Path) -> dict[str, Any]:
    workflow_id = create_workflow(h.http, shape)
    for label in ("warm-up", "probed"):
        h.client.control.purge()
        timing = time_harmonia(h.http, h.events, workflow_id, h.timeout)
        h.log(f"{shape.name:<20} probe     {label:<9} {timing.total:.3f} s")
    return summarise(shape, _records(directory, timing.run_id, shape.size))


def _records(directory: Path, run_id: str | None, tasks: int) -> list[dict[str, Any]]:
    """The run's records, once every task and the finalize have written theirs (or after
    ``RECORDS_WAIT``: a summary of fewer tasks says how many it has)."""
    deadline = time.monotonic() + RECORDS_WAIT
    while True:
        found = []
        for path in sorted(directory.glob(PATTERN)):
            *complete, _partial = path.read_text().split("\n")  # a line being written waits
            found.extend(r for r in map(json.loads, complete) if r["run"] == run_id)
        names = [r["task"] for r in found]
        if names.count(RUN_TASK) >= tasks and "harmonia.finalize_run" in names:
            return found
        if time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def summarise(shape: Shape, records: list[dict[str, Any]]) -> dict[str, Any]:
    tasks = [r for r in records if r["task"] == RUN_TASK and r["state"] == "SUCCESS"]
    if not tasks:
        raise RuntimeError(f"the probe recorded no task of {shape.name}")
    totals = [_sum(r["phases"].values()) for r in tasks]
    per_task = {key: statistics.fmean(t[key] for t in totals) for key in COUNTS}
    per_task["transactions"] = per_task["commit"] + per_task["rollback"]
    per_task["sql_round_trips"] = per_task["sql"] + per_task["begin"] + per_task["transactions"]
    times = [r["s"] * 1000 for r in tasks]
    per_task["median_ms"], per_task["p90_ms"] = statistics.median(times), _p90(times)
    per_task["cpu_median_ms"] = statistics.median(r["cpu"] * 1000 for r in tasks)
    # Everything the run's workers sent: the continuations of its advance calls too.
    sent = _sum(stats for r in records for stats in r["phases"].values())
    return {
        "name": shape.name,
        "tasks": len(tasks),
        "per_task": per_task,
        "per_run": {"messages": sent["messages"], "message_bytes": sent["message_bytes"]},
        "phases": _phases(tasks),
        "other_tasks": _other_tasks(records),
    }


def _sum(stats: Iterable[dict[str, Any]]) -> dict[str, int]:
    total = dict.fromkeys(COUNTS, 0)
    for each in stats:
        for key in COUNTS:
            total[key] += each.get(key, 0)
    return total


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[8] if len(values) > 1 else values[0]


def _phases(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each phase in the order the code runs them (time outside the markers last): its own time
    where it ran, and its counts and operations per task."""
    paths = list(dict.fromkeys(path for r in tasks for path in r["phases"] if path != ROOT))
    found = []
    for path in [*paths, ROOT]:
        ran = [r["phases"][path] for r in tasks if path in r["phases"]]
        if not ran:
            continue
        own = [stats["s"] * 1000 for stats in ran]
        ops: dict[str, list[float]] = {}
        for stats in ran:
            for label, (count, seconds) in stats.get("ops", {}).items():
                entry = ops.setdefault(label, [0, 0.0])
                entry[0] += count
                entry[1] += seconds
        found.append(
            {
                "path": path,
                "share": len(ran) / len(tasks),
                "median_ms": statistics.median(own),
                "p90_ms": _p90(own),
                "cpu_median_ms": statistics.median(stats["cpu"] * 1000 for stats in ran),
                "per_task": {k: v / len(tasks) for k, v in _sum(ran).items()},
                "ops": {
                    label: {"per_task": count / len(tasks), "mean_ms": seconds * 1000 / count}
                    for label, (count, seconds) in ops.items()
                },
            }
        )
    return found


def _other_tasks(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's other Celery tasks (advance, finalize): calls, and their cost per call."""
    found = {}
    for name in dict.fromkeys(r["task"] for r in records if r["task"] != RUN_TASK):
        calls = [r for r in records if r["task"] == name]
        totals = [_sum(r["phases"].values()) for r in calls]
        per_call = {key: statistics.fmean(t[key] for t in totals) for key in COUNTS}
        results: dict[str, int] = {}
        for r in calls:
            results[str(r["result"])] = results.get(str(r["result"]), 0) + 1
        found[name] = {
            "calls": len(calls),
            "median_ms": statistics.median(r["s"] * 1000 for r in calls),
            "per_call": per_call,
            "results": results,
        }
    return found


# --- the report -------------------------------------------------------------------------------


def _number(value: float, unit: str = "") -> str:
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "B":
        return f"{value:,.0f} B"
    if abs(value - round(value)) < 0.0005:
        return f"{value:.0f}"
    return f"{value:.3f}" if abs(value) < 0.1 else f"{value:.2f}"


def report(breakdown: dict[str, dict[str, Any]]) -> str:
    shapes = list(breakdown.values())
    lines = [
        "Where a task's time goes (probe on, after the timings; per harmonia.run_task of a no-op,",
        "one run per shape after a warm-up; Harmonia's own SQL and Redis, not the broker's;",
        "phase 'celery': time outside the markers, mostly Celery sending the chain's next message",
        "and storing the result once the task has returned)",
        "",
        f"{'per task':<44}" + "".join(f"{s['name']:>22}" for s in shapes),
        f"{'task executions measured':<44}" + "".join(f"{s['tasks']:>22}" for s in shapes),
    ]
    for label, key, unit in ROWS:
        cells = "".join(f"{_number(s['per_task'][key], unit):>22}" for s in shapes)
        lines.append(f"{label:<44}{cells}")
    sent = (
        f"{s['per_run']['messages']:,} / {_number(s['per_run']['message_bytes'], 'B')}"
        for s in shapes
    )
    lines.append(
        f"{'per run: messages / bytes its workers sent':<44}"
        + "".join(f"{cell:>22}" for cell in sent)
    )
    for shape in shapes:
        lines += ["", *_phase_table(shape)]
    return "\n".join(lines)


def _phase_table(shape: dict[str, Any]) -> list[str]:
    lines = [
        f"{shape['name']}: each phase's own wall and CPU time (nested phases excluded; median",
        "and p90 where it ran), its counts per task, and what it sent (per task, mean latency)",
        f"  {'phase':<26} {'ran':>5} {'median':>10} {'p90':>10} {'CPU':>10} {'SQL':>6} "
        f"{'BEGIN':>6} {'COMMIT':>7} {'Redis trips/cmds':>17}",
    ]
    for phase in shape["phases"]:
        depth = phase["path"].count("/")
        name = "  " * depth + phase["path"].rsplit("/", 1)[-1]
        counts = phase["per_task"]
        redis = f"{_number(counts['redis_trips'])}/{_number(counts['redis_cmds'])}"
        lines.append(
            f"  {name:<26} {phase['share']:>5.0%} {_number(phase['median_ms'], 'ms'):>10} "
            f"{_number(phase['p90_ms'], 'ms'):>10} {_number(phase['cpu_median_ms'], 'ms'):>10} "
            f"{_number(counts['sql']):>6} {_number(counts['begin']):>6} "
            f"{_number(counts['commit']):>7} {redis:>17}"
        )
        for label, op in phase["ops"].items():
            latency = f", {op['mean_ms']:.2f} ms" if op["mean_ms"] else ""
            lines.append(f"  {'':<{2 * depth}}    {_number(op['per_task'])}× {label}{latency}")
    for name, other in shape["other_tasks"].items():
        per_call = other["per_call"]
        outcomes = ", ".join(f"{result} {n}" for result, n in other["results"].items())
        lines.append(
            f"  + {name} ×{other['calls']} per run ({outcomes}): per call "
            f"{_number(other['median_ms'], 'ms')} median, {_number(per_call['sql'])} SQL, "
            f"{_number(per_call['commit'])} COMMIT, {_number(per_call['redis_trips'])} Redis "
            f"trips, {_number(per_call['message_bytes'], 'B')} of task messages"
        )
    return lines
