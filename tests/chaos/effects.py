"""Side effects that can be counted: did a task body run twice after its completion was recorded?

Every task body is a shell command that sleeps, then appends one line ``<task> <epoch>`` to a
file named after its run (``${workflow.run_id}``). Its ``task_executions`` row says when the
completion was recorded (``completed_at``) and how many times the task was claimed
(``attempt``). For each task:

- a line written *after* ``completed_at``, with more lines than attempts, is a body that ran
  again after Harmonia had recorded it done: ``duplicated`` (the target is 0);
- more than one line, all written before ``completed_at``, is a body re-run because its worker
  died before the completion was recorded: ``rerun_after_crash``, which at-least-once allows
  (a body killed mid-way may or may not have written its line, so only these are counted).

The line is the body's last act, so a line's timestamp is always before the end of the attempt
that wrote it, and a body killed by a worker crash (orphaned, since shell tasks run in their own
session) writes its line within one sleep of the crash, long before a re-run can finish.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.system import System


def shell_task(
    effects: Path, task_id: str, seconds: float, depends_on: Iterable[str] = ()
) -> dict[str, Any]:
    command = (
        f"sleep {seconds:.2f}; "
        f'echo "{task_id} $(date +%s.%N)" >> {effects}/${{workflow.run_id}}.log'
    )
    return {
        "component": "cli",
        "action": "execute_command",
        "input": {"command": command, "shell": True, "timeout": 60},
        "depends_on": list(depends_on),
    }


def layered(effects: Path, layers: list[list[str]], seconds: tuple[float, float]) -> dict:
    """Tasks in layers; each task depends on every task of the layer before (a series of
    parallel groups). ``seconds`` bounds each body's sleep."""
    rng = random.Random(repr(layers))  # the same sleeps on every run of the suite
    tasks: dict[str, Any] = {}
    previous: list[str] = []
    for layer in layers:
        for task_id in layer:
            tasks[task_id] = shell_task(effects, task_id, rng.uniform(*seconds), previous)
        previous = layer
    return tasks


def chain(effects: Path, length: int, seconds: tuple[float, float]) -> dict:
    return layered(effects, [[f"c{i}"] for i in range(length)], seconds)


def fan_out(effects: Path, width: int, seconds: tuple[float, float]) -> dict:
    return layered(effects, [["start"], [f"f{i}" for i in range(width)], ["join"]], seconds)


def nested(effects: Path, seconds: tuple[float, float]) -> dict:
    """a → (b, c) → d → (e, f, g) → h"""
    return layered(effects, [["a"], ["b", "c"], ["d"], ["e", "f", "g"], ["h"]], seconds)


def mixed_shapes(effects: Path, seconds: tuple[float, float]) -> dict[str, dict]:
    return {
        "chain4": chain(effects, 4, seconds),
        "fanout6": fan_out(effects, 6, seconds),
        "nested": nested(effects, seconds),
    }


@dataclass
class Audit:
    duplicated: list[str] = field(default_factory=list)  # "run/task: detail"
    rerun_after_crash: list[str] = field(default_factory=list)
    bodies: int = 0  # lines written, over every task


def body_lines(effects: Path, run_id: str) -> dict[str, list[float]]:
    """Each task's body runs in ``run_id``: task id → the timestamps its lines carry."""
    found: dict[str, list[float]] = {}
    path = effects / f"{run_id}.log"
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        task_id, _, stamp = line.partition(" ")
        found.setdefault(task_id, []).append(float(stamp))
    return found


def audit(system: System, run_ids: Iterable[str]) -> Audit:
    ids = list(run_ids)
    result = Audit()
    lines = {run_id: body_lines(system.effects, run_id) for run_id in ids}
    for row in system.task_rows(ids):
        stamps = lines[row.run_id].get(row.task_id, [])
        result.bodies += len(stamps)
        where = f"{row.run_id}/{row.task_id}"
        if row.status != "COMPLETED" or row.completed_epoch is None:
            continue
        done = float(row.completed_epoch)
        late = [s for s in stamps if s > done]
        if late and len(stamps) > row.attempt:
            result.duplicated.append(
                f"{where}: {len(stamps)} body runs for {row.attempt} attempt(s), "
                f"{len(late)} after completed_at ({late[0] - done:+.3f}s)"
            )
        elif len(stamps) > 1:
            result.rerun_after_crash.append(f"{where}: {len(stamps)} body runs")
    return result
