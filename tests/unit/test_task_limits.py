"""Every registered task can be sent: its soft time limit never exceeds its hard one.

Celery checks the pair when a task is sent (beat included), against the app-wide defaults for a
limit the task does not set itself. A sweep with only ``time_limit=300`` under the default
one-hour soft limit could never be sent by beat; this checks every task under several defaults.
"""

from __future__ import annotations

import pytest

from config.settings import Settings
from worker.celery_app import make_celery


def harmonia_tasks(timeout: float):
    app = make_celery(Settings(default_task_timeout=timeout), include_tasks=True)
    app.loader.import_default_modules()
    app.finalize(auto=True)
    return app, {name: task for name, task in app.tasks.items() if name.startswith("harmonia.")}


@pytest.mark.parametrize("timeout", [30.0, 3600.0, 86400.0], ids=["30s", "1h", "1d"])
def test_every_task_limit_pair_is_valid_against_the_app_defaults(timeout):
    app, tasks = harmonia_tasks(timeout)
    assert {"harmonia.run_task", "harmonia.sweep", "harmonia.invoke"} <= set(tasks)
    for name, task in tasks.items():
        soft, hard = task.soft_time_limit, task.time_limit
        assert soft and hard, f"{name} has no time limits"
        assert soft <= hard, f"{name}: soft_time_limit {soft} > time_limit {hard}"


def test_every_beat_entry_names_a_registered_task_that_can_be_sent():
    app, tasks = harmonia_tasks(3600.0)
    for entry, spec in app.conf.beat_schedule.items():
        task = tasks.get(spec["task"])
        assert task is not None, f"beat entry {entry} names an unknown task {spec['task']}"
        assert task.soft_time_limit <= task.time_limit, entry
