"""``harmonia run --watch``: a run followed live in the terminal from its event stream.

``RunView`` folds each event into what a person wants to see (every step's status, duration and
attempts; the latest lines the steps printed); ``render`` draws it with rich: a progress bar, a
table of steps, and the output. The events come from the API's run WebSocket through the
client's ``stream_events``, which resumes after a dropped connection with nothing lost or
repeated; the view ends with the run's final event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

DONE = {"COMPLETED", "FAILED", "SKIPPED", "CANCELLED", "UPSTREAM_FAILED"}
COLOURS = {
    "PENDING": "dim",
    "RUNNING": "cyan",
    "RETRYING": "yellow",
    "COMPLETED": "green",
    "FAILED": "bold red",
    "SKIPPED": "dim",
    "CANCELLED": "magenta",
    "UPSTREAM_FAILED": "red",
}
# Task events and the status they leave a step in.
STATUS_AFTER = {
    "task_started": "RUNNING",
    "task_completed": "COMPLETED",
    "task_failed": "FAILED",
    "task_retrying": "RETRYING",
    "task_skipped": "SKIPPED",
    "task_cancelled": "CANCELLED",
}
OUTPUT_LINES = 12


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass
class StepView:
    id: str
    status: str = "PENDING"
    attempts: int = 0
    started: datetime | None = None
    duration: float | None = None
    error: str | None = None

    @property
    def retries(self) -> int:
        return max(self.attempts - 1, 0)


@dataclass
class RunView:
    run_id: str
    workflow: str
    steps: dict[str, StepView] = field(default_factory=dict)
    output: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES))
    status: str = "PENDING"

    @classmethod
    def of(cls, run: dict[str, Any], steps: list[dict[str, Any]]) -> RunView:
        view = cls(run["id"], run.get("workflow_name") or run.get("workflow_id") or "")
        for step in steps:
            started, ended = _when(step.get("started_at")), _when(step.get("completed_at"))
            view.steps[step["step_id"]] = StepView(
                step["step_id"],
                status=step.get("status") or "PENDING",
                attempts=step.get("attempt") or 0,
                started=started,
                duration=(ended - started).total_seconds() if started and ended else None,
                error=step.get("error_message"),
            )
        view.status = run.get("status") or view.status
        return view

    def apply(self, event: dict[str, Any]) -> None:
        kind, data = event.get("type"), event.get("data") or {}
        task_id = event.get("task_id")
        if kind == "execution_started":
            self.status = "RUNNING"
        elif kind in ("execution_completed", "execution_failed", "execution_cancelled"):
            self.status = kind.removeprefix("execution_").upper()
        elif kind == "execution_paused":
            self.status = "PAUSED"
        elif kind == "execution_resumed":
            self.status = "RUNNING"
        if not task_id:
            return
        step = self.steps.setdefault(task_id, StepView(task_id))
        if kind in STATUS_AFTER:
            step.status = STATUS_AFTER[kind]
        if kind == "task_started":
            step.attempts = data.get("attempt") or step.attempts + 1
            step.started = _when(event.get("timestamp"))
        if "duration" in data and data["duration"] is not None:
            step.duration = float(data["duration"])
        if kind in ("task_failed", "task_retrying"):
            step.error = data.get("error")
        if kind == "step_output":
            for line in data.get("lines") or [data.get("line", "")]:
                self.output.append(f"{task_id} | {line}")

    @property
    def done(self) -> int:
        return sum(1 for step in self.steps.values() if step.status in DONE)

    def failed(self) -> list[StepView]:
        return [s for s in self.steps.values() if s.status in ("FAILED", "UPSTREAM_FAILED")]


def _duration(step: StepView) -> str:
    return "" if step.duration is None else f"{step.duration:.2f}s"


def render(view: RunView) -> Group:
    total = max(len(view.steps), 1)
    head = Text.assemble(
        ("Run ", "bold"),
        (view.run_id, "bold"),
        f" of {view.workflow}  ",
        (view.status, COLOURS.get(view.status, "bold")),
    )
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("step", "status", "duration", "retries"):
        table.add_column(column, justify="right" if column in ("duration", "retries") else "left")
    for step in view.steps.values():
        table.add_row(
            step.id,
            Text(step.status, style=COLOURS.get(step.status, "")),
            _duration(step),
            str(step.retries) if step.retries else "",
        )
    bar = Table.grid(padding=(0, 1))
    bar.add_row(ProgressBar(total=total, completed=view.done, width=40), f"{view.done}/{total}")
    parts: list[Any] = [head, bar, table]
    if view.output:
        parts.append(Text("\n".join(view.output), style="dim"))
    return Group(*parts)
