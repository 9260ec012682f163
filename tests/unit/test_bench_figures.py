"""The bench's arithmetic and parsing: locust's stats CSV (bench/api_load.py), the concurrent
runs' throughput ratio and CPU split (bench/concurrent_runs.py, bench/cpu.py), and the
concurrency options."""

from __future__ import annotations

import os

import pytest

from bench import cpu
from bench.__main__ import parse_args
from bench.api_load import passes, read_stats
from bench.concurrent_runs import report, throughput, throughput_ratio

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)


def test_read_stats_takes_the_aggregated_row(tmp_path):
    path = tmp_path / "get_run_2_stats.csv"
    path.write_text(
        f"{HEADER}\n"
        "GET,GET /api/v1/runs/{id},1052,3,160,180.64,21.76,608.03,567.0,263.209,0.7,"
        "160,190,210,230,280,370,500,550,610,610,610\n"
        ",Aggregated,1052,3,160,180.64,21.76,608.03,567.0,263.209,0.7,"
        "160,190,210,230,280,370,500,550,610,610,610\n"
    )
    assert read_stats(path) == {
        "requests": 1052,
        "failures": 3,
        "requests_per_s": 263.209,
        "p50_ms": 160.0,
        "p99_ms": 550.0,
        "max_ms": 608.03,
        "mean_ms": 180.64,
    }


def test_read_stats_without_requests_has_no_percentiles(tmp_path):
    path = tmp_path / "execute_1000_stats.csv"
    path.write_text(f"{HEADER}\n,Aggregated,0,0,0,0.0,0,0,0,0.0,0.0{',N/A' * 11}\n")
    figures = read_stats(path)
    assert figures["requests"] == 0
    assert figures["p50_ms"] is None and figures["p99_ms"] is None
    assert not passes("get_run", figures)


@pytest.mark.parametrize(
    ("scenario", "p99", "failures", "ok"),
    [
        pytest.param("get_run", 29.0, 0, True, id="get-under-30ms"),
        pytest.param("get_run", 30.0, 0, False, id="get-at-30ms"),
        pytest.param("execute", 99.0, 0, True, id="execute-under-100ms"),
        pytest.param("execute", 99.0, 1, False, id="execute-with-a-failure"),
    ],
)
def test_passes_needs_p99_under_target_and_no_failure(scenario, p99, failures, ok):
    assert passes(scenario, {"p99_ms": p99, "failures": failures}) is ok


def test_an_api_that_stopped_answering_does_not_pass():
    figures = {"p99_ms": 20.0, "failures": 0, "answers_after": False}
    assert not passes("get_run", figures)


def test_throughput_ratio_is_harmonia_over_bare():
    assert throughput(1040, 2.0) == 520.0
    # Harmonia took 1.25x as long: 0.8 of bare Celery's throughput.
    assert throughput_ratio(1040, harmonia_s=5.0, bare_s=4.0) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("argv", "concurrencies"),
    [
        pytest.param([], [4, 2], id="default"),
        pytest.param(["--concurrencies", "2,4"], [2, 4], id="list"),
        pytest.param(["--concurrency", "3"], [3], id="single"),
    ],
)
def test_concurrency_options(argv, concurrencies):
    args = parse_args(argv)
    assert args.concurrencies == concurrencies
    assert args.concurrency == concurrencies[0]


def test_concurrency_must_be_positive():
    with pytest.raises(SystemExit):
        parse_args(["--concurrencies", "4,0"])


def test_the_cpu_split_counts_processes_seen_at_both_readings():
    before = {10: ("worker main", 1.0), 11: ("worker pool", 2.0), 12: ("postgres", 0.5)}
    after = {10: ("worker main", 1.5), 11: ("worker pool", 4.0), 13: ("postgres", 9.0)}
    assert cpu.spent(before, after) == {
        "worker main": 0.5,
        "worker pool": 2.0,
        "postgres": 0.0,  # 12 ended and 13 began between the readings
        "redis": 0.0,
        "bench + API": 0.0,
    }
    assert cpu.spent(None, after) is None


def test_the_cpu_split_is_a_mean_per_task_and_reported_per_side():
    attempt = dict.fromkeys(cpu.GROUPS, 0.0) | {"worker pool": 2.08, "postgres": 1.04}
    per_task = cpu.per_task_ms([attempt, attempt], 1040)
    assert per_task["worker pool"] == pytest.approx(2.0)
    assert per_task["postgres"] == pytest.approx(1.0)
    assert cpu.per_task_ms([attempt, None], 1040) is None
    result = {
        "runs": 20,
        "shape": "fan-out/fan-in 50",
        "tasks": 1040,
        "concurrency": 4,
        "bare_s": 2.0,
        "harmonia_s": 4.0,
        "bare_tasks_per_s": 520.0,
        "harmonia_tasks_per_s": 260.0,
        "throughput_ratio": 0.5,
        "target": 0.8,
        "pass": False,
        "cpu_ms_per_task": {"bare": per_task, "harmonia": per_task},
    }
    lines = report([result]).splitlines()
    assert lines[2].split()[:3] == ["CPU", "ms", "per"]
    assert lines[3].split()[-6:] == ["0.00", "2.00", "1.00", "0.00", "0.00", "3.00"]
    assert lines[4].startswith("    harmonia")
    assert (
        len(report([{**result, "cpu_ms_per_task": {"bare": None, "harmonia": None}}]).splitlines())
        == 2
    )


@pytest.mark.skipif(
    not os.path.exists("/proc/self/stat") and os.environ.get("CI", "").lower() != "true",
    reason="Linux's /proc only (under CI=true it runs, and fails without /proc)",
)
def test_a_reading_of_this_machine_finds_the_bench_itself():
    seen = cpu.reading(-1)  # no worker: only the other groups
    assert seen[os.getpid()][0] == "bench + API"
    assert {group for group, _seconds in seen.values()} <= set(cpu.GROUPS)
