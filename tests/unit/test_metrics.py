"""Metrics logic that needs no services: the p95 rank, the health rules, which event counts as
what, and where a deployment's metric files live."""

from __future__ import annotations

import os
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from app.metrics import record_events
from app.services.health import overall_status
from app.services.metrics import nearest_rank
from config.metrics import process_identity, reset
from config.settings import Settings


def _brute_force_p95(values: list[float]) -> float:
    """The smallest value that at least 95% of the values are at or below."""
    ordered = sorted(values)
    for candidate in ordered:
        if sum(v <= candidate for v in ordered) >= 0.95 * len(ordered):
            return candidate
    raise AssertionError("unreachable")


@pytest.mark.parametrize("count", [1, 2, 19, 20, 21, 100, 101, 1000])
def test_nearest_rank_picks_the_p95_value(count):
    values = random.Random(count).sample(range(10 * count), count)
    assert sorted(values)[nearest_rank(count, 0.95) - 1] == _brute_force_p95(values)


def test_nearest_rank_of_known_cases_and_of_nothing():
    assert nearest_rank(100, 0.95) == 95
    assert nearest_rank(4, 0.95) == 4
    assert nearest_rank(1, 0.5) == 1
    assert nearest_rank(10, 0.0) == 1
    with pytest.raises(ValueError):
        nearest_rank(0, 0.95)


HEALTHY = {"api": "healthy", "storage": "healthy", "event_system": "healthy"}


@pytest.mark.parametrize(
    ("down", "expected"),
    [
        ((), "healthy"),
        (("execution_engine",), "degraded"),
        (("storage",), "unhealthy"),
        (("event_system",), "unhealthy"),
        (("event_system", "execution_engine"), "unhealthy"),
    ],
    ids=["all-up", "no-worker", "no-database", "no-redis", "redis-and-workers"],
)
def test_overall_health(down, expected):
    components = {**HEALTHY, "execution_engine": "healthy"}
    components.update({name: "unhealthy" for name in down})
    assert overall_status(components) == expected


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _event(type_: str, **data) -> SimpleNamespace:
    return SimpleNamespace(type=type_, data=data)


def test_events_become_run_and_task_counts():
    watched = [
        ("harmonia_runs_total", {"status": "completed"}),
        ("harmonia_runs_total", {"status": "cancelled"}),
        ("harmonia_runs_started_total", {}),
        ("harmonia_run_duration_seconds_count", {"status": "completed"}),
        ("harmonia_task_executions_total", {"status": "completed", "action": "unit.echo"}),
        ("harmonia_task_executions_total", {"status": "failed", "action": "unit.fail"}),
        ("harmonia_task_executions_total", {"status": "upstream_failed", "action": "unit.next"}),
        ("harmonia_task_executions_total", {"status": "skipped", "action": "unknown"}),
        ("harmonia_task_duration_seconds_count", {"status": "completed", "action": "unit.echo"}),
        ("harmonia_task_duration_seconds_sum", {"status": "completed", "action": "unit.echo"}),
        ("harmonia_events_published_total", {"type": "task_completed"}),
    ]
    before = [_sample(name, **labels) for name, labels in watched]
    record_events(
        [
            _event("execution_started"),
            _event("task_completed", action="unit.echo", duration=1.5),
            _event("task_failed", error_details={"action": "unit.fail"}, duration=0.2),
            _event("task_skipped", action="unit.next", status="UPSTREAM_FAILED"),
            _event("task_skipped", reason="condition is false"),
            _event("execution_completed", duration_seconds=3.0),
            _event("workflow_completed", duration_seconds=3.0),  # the same completion again
            _event("execution_cancelled"),  # no duration: counted, not timed
            _event("task_progress", action="unit.echo", percent=50),
        ],
        published=True,
    )
    after = [_sample(name, **labels) for name, labels in watched]
    deltas = {
        (name, tuple(sorted(labels.items()))): a - b
        for (name, labels), a, b in zip(watched, after, before, strict=True)
    }
    assert list(deltas.values()) == [1, 1, 1, 1, 1, 1, 1, 1, 1, 1.5, 1]


def test_events_that_did_not_reach_the_bus_still_count_runs():
    published = _sample("harmonia_events_published_total", type="execution_failed")
    failed = _sample("harmonia_runs_total", status="failed")
    record_events([_event("execution_failed", duration_seconds=2.0)], published=False)
    assert _sample("harmonia_runs_total", status="failed") == failed + 1
    assert _sample("harmonia_events_published_total", type="execution_failed") == published


def test_a_malformed_event_is_skipped_without_failing_the_work():
    record_events([SimpleNamespace(type="task_completed", data=None)], published=True)
    record_events([object()], published=True)  # logged, never raised


def test_metrics_directory_defaults_under_home_and_follows_the_settings(tmp_path):
    assert Settings(home=tmp_path).resolved_metrics_dir == tmp_path / "metrics"
    env = {"HARMONIA_HOME": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": "/m/prometheus"}
    assert Settings.from_env(env).resolved_metrics_dir == Path("/m/prometheus")
    env["HARMONIA_METRICS_DIR"] = "/m/harmonia"
    assert Settings.from_env(env).resolved_metrics_dir == Path("/m/harmonia")


def test_reset_removes_only_metric_files(tmp_path):
    settings = Settings(home=tmp_path)
    directory = settings.resolved_metrics_dir
    directory.mkdir()
    (directory / "counter_host-1.db").write_bytes(b"x")
    (directory / "notes.txt").write_text("kept")
    reset(settings)
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]
    reset(Settings(home=tmp_path / "never-started"))  # nothing there: nothing to do


def test_process_identity_names_host_and_pid_without_underscores():
    identity = process_identity()
    assert identity.endswith(f"-{os.getpid()}") and "_" not in identity
    assert process_identity(42).endswith("-42")
