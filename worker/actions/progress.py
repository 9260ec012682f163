"""Task progress: how an action's reports become ``task_progress`` events, and the shell convention.

Actions may report progress as often as they like (a loop over a million items, a command printing
``::progress`` on every file); each report would otherwise be a database row and a Redis message.
``ProgressThrottle`` lets through at most one report per ``MIN_INTERVAL`` (≈ 10 events/s per task)
while never losing the ones that matter: the first report, the first to reach 1.0, and the latest
one (kept pending and emitted once its turn comes, or when the action ends).

Shell commands report progress by printing a stdout line (it is still kept in stdout)::

    ::progress <fraction | percent%> [message]

``::progress 0.5 halfway`` and ``::progress 40% copying files`` are 50% and 40%. A number with ``%``
is a percent; a bare number is a fraction when ≤ 1 and a percent above 1 (``::progress 75`` is 75%).
Values are clamped to 0..1; a line whose value is not a number is ordinary output.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIN_INTERVAL = 0.1
PROGRESS_LINE = re.compile(r"^::progress[ \t]+(?P<value>\S+)(?:[ \t]+(?P<message>.*?))?[ \t]*$")


@dataclass(frozen=True)
class Report:
    fraction: float
    message: str | None


def normalise(fraction: float, message: str | None) -> Report | None:
    """Clamp to 0..1 and tidy the message; ``None`` for NaN, which no clamp can place."""
    value = float(fraction)
    if math.isnan(value):
        return None
    text = str(message).strip() if message is not None else ""
    return Report(min(1.0, max(0.0, value)), text or None)


def parse_progress_line(line: str) -> Report | None:
    """The report a ``::progress`` stdout line asks for, or ``None`` if it is ordinary output."""
    match = PROGRESS_LINE.match(line)
    if match is None:
        return None
    value = match.group("value")
    percent = value.endswith("%")
    try:
        number = float(value.removesuffix("%"))
    except ValueError:
        return None
    if percent or number > 1:
        number /= 100
    return normalise(number, match.group("message"))


def progress_event(label: str, report: Report) -> tuple[dict[str, Any], str]:
    """The ``task_progress`` event's data and message text for one report."""
    percent = round(report.fraction * 100, 1)
    data = {
        "progress": report.fraction,
        "percent": percent,
        "message": report.message,
        "task_name": label,  # seed 001's clients name the task inside data
    }
    text = f"Task '{label}': {percent:g}%" + (f" — {report.message}" if report.message else "")
    return data, text


class ProgressThrottle:
    """Decides which reports become events. Not thread-safe: the caller holds a lock."""

    def __init__(self, interval: float = MIN_INTERVAL, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self.last: Report | None = None
        self.last_at = 0.0
        self.pending: Report | None = None

    def offer(self, report: Report) -> Report | None:
        """The report to emit now, or ``None`` (it is kept pending, or repeats the last one)."""
        if report == self.last:
            self.pending = None
            return None
        first_done = report.fraction >= 1.0 and (self.last is None or self.last.fraction < 1.0)
        if self.last is None or first_done or self._due():
            return self._take(report)
        self.pending = report
        return None

    def take_pending(self, *, force: bool = False) -> Report | None:
        """The pending report if its turn has come (or ``force``: the action has ended)."""
        if self.pending is None or not (force or self._due()):
            return None
        return self._take(self.pending)

    def _due(self) -> bool:
        return self.clock() - self.last_at >= self.interval

    def _take(self, report: Report) -> Report:
        self.last, self.last_at, self.pending = report, self.clock(), None
        return report
