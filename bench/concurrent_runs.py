"""Throughput with many runs at once: N runs of a 50-wide fan-out/fan-in (52 tasks each) started
together, through Harmonia and as N equivalent bare-Celery canvases on the same worker.

Each side submits its N runs back to back from one thread, waiting for none (Harmonia: N
``POST …/execute`` through the API; bare Celery: N ``apply_async``), then waits for all of them.
A side's time runs from its first submission to the end of its last run (the run's final event;
the canvas's final result), so the runs compete for the worker as a busy server's would.
Throughput is tasks per second (N × 52 / time); the figure is Harmonia's throughput over bare
Celery's, from each side's median time over ``--repeat`` alternating attempts after a warm-up
(target >= 0.80).
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import bare, cpu
from bench.measure import Harness
from bench.runners import create_workflow, time_bare, time_harmonia
from bench.shapes import Shape, fan_out

WIDTH = 50
THROUGHPUT_TARGET = 0.80


def shape() -> Shape:
    return Shape(
        f"fan-out/fan-in {WIDTH}",
        f"fan_out_{WIDTH}",
        fan_out(WIDTH),
        lambda app: bare.fan_out_canvas(app, WIDTH),
    )


def throughput(tasks: int, seconds: float) -> float:
    """Tasks per second."""
    return tasks / seconds


def throughput_ratio(tasks: int, harmonia_s: float, bare_s: float) -> float:
    """Harmonia's throughput over bare Celery's, for the same tasks on each side."""
    return throughput(tasks, harmonia_s) / throughput(tasks, bare_s)


def measure(h: Harness, runs: int, repeat: int, concurrency: int) -> dict[str, Any]:
    fan = shape()
    workflow_id = create_workflow(h.http, fan)
    tasks = runs * fan.size
    times: dict[str, list[float]] = {"bare": [], "harmonia": []}
    spent: dict[str, list[dict[str, float] | None]] = {"bare": [], "harmonia": []}
    for attempt in range(repeat + 1):  # attempt 0 is the warm-up
        h.client.control.purge()
        before = cpu.reading(h.worker_pid)
        bare_s = time_bare(h.client, fan, h.timeout, runs).total
        bare_cpu = cpu.spent(before, cpu.reading(h.worker_pid))
        h.vacuum()
        before = cpu.reading(h.worker_pid)
        harmonia_s = time_harmonia(h.http, h.events, workflow_id, h.timeout, runs).total
        harmonia_cpu = cpu.spent(before, cpu.reading(h.worker_pid))
        label = "warm-up" if attempt == 0 else f"run {attempt}/{repeat}"
        h.log(
            f"{runs} x {fan.name:<13} {label:<9} bare {bare_s:.3f} s "
            f"({throughput(tasks, bare_s):.0f} tasks/s), harmonia {harmonia_s:.3f} s "
            f"({throughput(tasks, harmonia_s):.0f} tasks/s)"
        )
        if attempt:
            times["bare"].append(bare_s)
            times["harmonia"].append(harmonia_s)
            spent["bare"].append(bare_cpu)
            spent["harmonia"].append(harmonia_cpu)
    bare_s, harmonia_s = statistics.median(times["bare"]), statistics.median(times["harmonia"])
    ratio = throughput_ratio(tasks, harmonia_s, bare_s)
    return {
        "concurrency": concurrency,
        "runs": runs,
        "shape": fan.name,
        "tasks": tasks,
        "bare_s": bare_s,
        "harmonia_s": harmonia_s,
        "bare_tasks_per_s": throughput(tasks, bare_s),
        "harmonia_tasks_per_s": throughput(tasks, harmonia_s),
        "throughput_ratio": ratio,
        "target": THROUGHPUT_TARGET,
        "pass": ratio >= THROUGHPUT_TARGET,
        "bare_runs": times["bare"],
        "harmonia_runs": times["harmonia"],
        "cpu_ms_per_task": {side: cpu.per_task_ms(spent[side], tasks) for side in spent},
    }


def report(results: list[dict[str, Any]]) -> str:
    """One line per worker concurrency."""
    first = results[0]
    lines = [
        f"{first['runs']} concurrent runs of {first['shape']} ({first['tasks']:,} tasks), "
        "throughput harmonia/bare celery",
    ]
    for result in results:
        bare = f"{result['bare_s']:.3f} s ({result['bare_tasks_per_s']:.0f}/s)"
        harmonia = f"{result['harmonia_s']:.3f} s ({result['harmonia_tasks_per_s']:.0f}/s)"
        verdict = "PASS" if result["pass"] else "MISS"
        lines.append(
            f"  workers {result['concurrency']:<3} bare celery {bare:<20} harmonia {harmonia:<20} "
            f"{result['throughput_ratio']:.2f}  (target >= {result['target']:g}: {verdict})"
        )
        lines += _cpu_lines(result.get("cpu_ms_per_task") or {})
    return "\n".join(lines)


def _cpu_lines(per_task: dict[str, dict[str, float] | None]) -> list[str]:
    """CPU per task by process group (``bench/cpu.py``), one line per side."""
    if not all(per_task.get(side) for side in ("bare", "harmonia")):
        return []
    header = "".join(f"{group:>13}" for group in (*cpu.GROUPS, "total"))
    lines = [f"    CPU ms per task {header}"]
    for side, label in (("bare", "bare celery"), ("harmonia", "harmonia")):
        groups = per_task[side]
        values = [*(groups[group] for group in cpu.GROUPS), sum(groups.values())]
        lines.append(f"    {label:<15} " + "".join(f"{value:>13.2f}" for value in values))
    return lines
