"""Named phases of the worker's hot path, for the bench's probe (``bench/probe.py``).

``with phase("claim"):`` says which step of the task protocol (DESIGN §4) the enclosed code is;
a phase inside another narrows it. Nothing listens unless a probe installed itself in this process
(only the bench does, in a worker it starts for that): then each marker is the probe's timer.
Otherwise a marker returns one shared no-op context manager, a global read and a call, so the
markers can stay in production code.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Listener = Callable[[str], AbstractContextManager[object]]

_OFF: AbstractContextManager[object] = nullcontext()
_listener: Listener | None = None


def phase(name: str) -> AbstractContextManager[object]:
    """The part of the task protocol the enclosed code belongs to."""
    return _OFF if _listener is None else _listener(name)


def listen(listener: Listener | None) -> None:
    """Send every marker of this process to ``listener`` (None: back to the no-op)."""
    global _listener
    _listener = listener
