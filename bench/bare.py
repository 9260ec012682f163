"""The bare-Celery side: a no-op task and the canvases a person would write by hand.

The worker loads this module with ``--include bench.bare``; ``shared_task`` binds ``bench.noop`` to
the worker's app. The bench process builds signatures by name on its client app instead.
"""

from __future__ import annotations

from celery import Celery, shared_task
from celery.canvas import Signature, chain, chord, group

NOOP = "bench.noop"


@shared_task(name=NOOP)
def noop() -> None:
    return None


def noop_sig(app: Celery) -> Signature:
    """``bench.noop.si()`` on the given client app."""
    return Signature(NOOP, immutable=True, app=app)


def fan_out_canvas(app: Celery, width: int) -> Signature:
    """start → ``width`` parallel tasks → end: ``chain(noop, chord(group(...), noop))``."""
    header = group(*[noop_sig(app) for _ in range(width)])
    return chain(noop_sig(app), chord(header, noop_sig(app)))


def chain_canvas(app: Celery, length: int) -> Signature:
    return chain(*[noop_sig(app) for _ in range(length)])


def layered_canvas(app: Celery, layers: int, width: int) -> Signature:
    """Level-by-level chords: ``chord(group(layer 0), chord(group(layer 1), … noop))``.

    The shorter ``chain(group(layer 0), group(layer 1), …, noop)`` is not used: Celery runs tasks
    of a chain of four or more groups many times over (celery#8662; with Celery 5.7, a 4 × 50
    chain of groups received 2,854 task messages for 201 tasks).
    """
    canvas = noop_sig(app)
    for _ in range(layers):
        canvas = chord(group(*[noop_sig(app) for _ in range(width)]), canvas)
    return canvas
