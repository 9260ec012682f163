"""The DAG shapes both sides run, as ``{task_id: [dependency, …]}`` plus the matching canvas."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.canvas import Signature

from bench import bare

Deps = dict[str, list[str]]
SEED = 20240601
FAN_IN = 3


@dataclass(frozen=True)
class Shape:
    name: str
    key: str
    deps: Deps
    canvas: Callable[[Celery], Signature]

    @property
    def size(self) -> int:
        return len(self.deps)


def fan_out(width: int) -> Deps:
    middle = [f"m{i}" for i in range(width)]
    return {"start": [], **{tid: ["start"] for tid in middle}, "end": middle}


def chain_of(length: int) -> Deps:
    return {f"c{i}": ([f"c{i - 1}"] if i else []) for i in range(length)}


def layered(layers: int, width: int, fan_in: int = FAN_IN, seed: int = SEED) -> Deps:
    """``layers`` × ``width`` tasks; each task after layer 0 depends on ``fan_in`` random tasks of
    the layer before (a fixed seed, so every run benchmarks the same DAG)."""
    rng = random.Random(seed)
    deps: Deps = {}
    previous: list[str] = []
    for layer in range(layers):
        current = [f"l{layer}_{i}" for i in range(width)]
        for tid in current:
            deps[tid] = sorted(rng.sample(previous, fan_in)) if previous else []
        previous = current
    return deps


def harmonia_definition(name: str, deps: Deps) -> dict[str, Any]:
    tasks = {tid: {"action": "builtin.noop", "depends_on": ds} for tid, ds in deps.items()}
    return {"name": name, "tasks": tasks}


def standard_shapes() -> list[Shape]:
    return [
        Shape(
            "fan-out/fan-in 200",
            "fan_out_200",
            fan_out(200),
            lambda app: bare.fan_out_canvas(app, 200),
        ),
        Shape("chain 50", "chain_50", chain_of(50), lambda app: bare.chain_canvas(app, 50)),
        Shape(
            "layered 1,000",
            "layered_1000",
            layered(10, 100),
            lambda app: bare.layered_canvas(app, 10, 100),
        ),
    ]
