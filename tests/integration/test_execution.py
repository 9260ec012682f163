"""Workflows run to completion through a real worker, in every dialect and DAG shape."""

from __future__ import annotations

import random
import time
from datetime import datetime

import pytest

from app.services.leases import LEASE_REFRESH, LEASE_TTL, lease_key, pid_alive
from tests.integration.helpers import create_workflow, execute, run_workflow, steps, wait_for_run


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def assert_dependency_order(run_steps: dict, deps: dict[str, list[str]]) -> None:
    """Every task started only after all of its dependencies had finished."""
    for tid, parents in deps.items():
        started = _ts(run_steps[tid]["started_at"])
        for parent in parents:
            finished = _ts(run_steps[parent]["completed_at"])
            assert finished <= started, f"{tid} started before its dependency {parent} finished"


def noop_tasks(deps: dict[str, list[str]]) -> dict:
    return {tid: {"action": "builtin.noop", "depends_on": parents} for tid, parents in deps.items()}


def test_seed_000_form_passes_outputs_on(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                "task1": {
                    "component": "ergon",
                    "action": "execute_command",
                    "input": {"command": "echo Hello World"},
                },
                "task2": {
                    "component": "builtin",
                    "action": "echo",
                    "input": {"data": "${tasks.task1.output.result}"},
                    "depends_on": ["task1"],
                },
            },
            "input": {"type": "object", "properties": {"param1": {"type": "string"}}},
        },
    )
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert run_steps["task1"]["output_data"]["result"] == "Hello World"
    assert run_steps["task1"]["output_data"]["exit_code"] == 0
    assert run_steps["task2"]["output_data"] == {"data": "Hello World"}
    assert run["output_data"] == {"task2": {"data": "Hello World"}}


def test_seed_004_plan_form_runs_steps_in_sequence(live):
    run = run_workflow(
        live,
        {
            "steps": [
                {"id": "step1", "type": "command", "parameters": {"command": "echo Hello, World!"}},
                {
                    "id": "step2",
                    "type": "script",
                    "parameters": {"script": "echo from script\necho ${step1.output.result} >&2"},
                },
                {
                    "id": "step3",
                    "type": "builtin.echo",
                    "parameters": {"greeting": "${variables.var1}"},
                },
            ],
            "variables": {"var1": "value1"},
        },
    )
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert run_steps["step1"]["output_data"]["stdout"] == "Hello, World!\n"
    assert run_steps["step2"]["output_data"]["result"] == "from script"
    assert run_steps["step2"]["output_data"]["stderr"] == "Hello, World!\n"
    assert run_steps["step3"]["output_data"] == {"greeting": "value1"}
    assert_dependency_order(run_steps, {"step2": ["step1"], "step3": ["step2"]})


def test_seed_002_steps_with_typed_references(live):
    run = run_workflow(
        live,
        {
            "start_step": "extract",
            "steps": {
                "extract": {
                    "id": "extract",
                    "component": "builtin",
                    "action": "echo",
                    "next_step": "transform",
                    "input_mapping": {"data": {"rows": "${workflow.input.rows}"}},
                },
                "transform": {
                    "id": "transform",
                    "component": "builtin",
                    "action": "echo",
                    "next_step": None,
                    "input_mapping": {
                        "raw": "${extract.output.data}",
                        "count": "${extract.output.data.rows}",
                    },
                },
            },
        },
        {"rows": 3},
    )
    assert run["status"] == "COMPLETED", run
    transform = steps(live, run["run_id"])["transform"]
    assert transform["output_data"] == {"raw": {"rows": 3}, "count": 3}


@pytest.mark.parametrize("shape", ["diamond", "wide_fan_out", "non_series_parallel", "nested"])
def test_dag_shapes_respect_dependencies(live, shape):
    deps = {
        "diamond": {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]},
        "wide_fan_out": {
            "start": [],
            **{f"m{i}": ["start"] for i in range(60)},
            "end": [f"m{i}" for i in range(60)],
        },
        "non_series_parallel": {"A": [], "B": [], "C": ["A"], "D": ["A", "B"], "E": ["C", "D"]},
        "nested": {
            "a": [],
            "b": ["a"],
            "c": ["a"],
            "d": ["b"],
            "e": ["d", "c"],
            "f": ["a"],
            "g": ["e", "f"],
            "h": [],
        },
    }[shape]
    tasks = {
        tid: {"action": "builtin.sleep", "input": {"seconds": 0.05}, "depends_on": parents}
        for tid, parents in deps.items()
    }
    run = run_workflow(live, {"tasks": tasks})
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert {s["status"] for s in run_steps.values()} == {"COMPLETED"}
    assert all(s["attempt"] == 1 for s in run_steps.values())
    assert_dependency_order(run_steps, deps)


def test_thousand_task_layered_dag_completes_in_order(live):
    rng = random.Random(7)
    deps: dict[str, list[str]] = {}
    for layer in range(10):
        for j in range(100):
            parents = [f"t{layer - 1}_{k}" for k in rng.sample(range(100), 2)] if layer else []
            deps[f"t{layer}_{j}"] = parents
    run = run_workflow(live, {"tasks": noop_tasks(deps)}, timeout=300)
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert len(run_steps) == 1000
    assert {s["status"] for s in run_steps.values()} == {"COMPLETED"}
    assert all(s["attempt"] == 1 for s in run_steps.values())
    assert_dependency_order(run_steps, deps)


def test_long_chain_is_continued_across_segments(live):
    deps = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(120)}  # segments of 50
    run = run_workflow(live, {"tasks": noop_tasks(deps)}, timeout=120)
    assert run["status"] == "COMPLETED", run
    assert_dependency_order(steps(live, run["run_id"]), deps)


def test_failure_stops_dependants_but_not_independent_branches(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                "ok": {"action": "builtin.noop"},
                "bad": {"action": "builtin.fail", "input": {"message": "disk on fire"}},
                "after_bad": {"action": "builtin.noop", "depends_on": ["bad"]},
                "after_ok": {"action": "builtin.noop", "depends_on": ["ok"]},
            }
        },
    )
    assert run["status"] == "FAILED"
    assert run["error_message"] == "Step 'bad' failed: disk on fire"
    run_steps = steps(live, run["run_id"])
    assert run_steps["bad"]["status"] == "FAILED"
    assert run_steps["after_bad"]["status"] == "UPSTREAM_FAILED"
    assert run_steps["after_ok"]["status"] == "COMPLETED"


def test_retry_with_backoff_then_fail(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                "flaky": {
                    "action": "builtin.fail",
                    "input": {"message": "nope"},
                    "retry": {"count": 2, "delay": 0.2, "multiplier": 2},
                },
            }
        },
    )
    assert run["status"] == "FAILED"
    flaky = steps(live, run["run_id"])["flaky"]
    assert flaky["attempt"] == 3
    events = live.get(f"/api/v1/runs/{run['run_id']}/logs").json["lines"]
    retrying = [line for line in events if "retrying" in line["message"]]
    assert len(retrying) == 2


def test_retry_recovers_when_the_command_starts_succeeding(live, tmp_path):
    marker = tmp_path / "attempts"
    script = f"echo x >> {marker}; test $(wc -l < {marker}) -ge 2"
    run = run_workflow(
        live,
        {
            "tasks": {
                "eventually": {
                    "action": "cli.execute_command",
                    "input": {"command": script, "shell": True},
                    "retry": {"count": 3, "delay": 0.1},
                },
            }
        },
    )
    assert run["status"] == "COMPLETED", run
    assert steps(live, run["run_id"])["eventually"]["attempt"] == 2


def test_false_condition_skips_task_and_dependants_still_run(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                "first": {"action": "builtin.echo", "input": {"result": ""}},
                "guarded": {
                    "action": "builtin.noop",
                    "depends_on": ["first"],
                    "metadata": {"condition": "${tasks.first.output.result != ''}"},
                },
                "always": {"action": "builtin.noop", "depends_on": ["guarded"]},
            }
        },
    )
    assert run["status"] == "COMPLETED", run
    run_steps = steps(live, run["run_id"])
    assert run_steps["guarded"]["status"] == "SKIPPED"
    assert run_steps["always"]["status"] == "COMPLETED"


def test_cli_timeout_kills_the_process_group(live, tmp_path):
    pid_file = tmp_path / "child.pid"
    run = run_workflow(
        live,
        {
            "tasks": {
                "slow": {
                    "action": "cli.execute_command",
                    "input": {
                        "command": f"sleep 30 & echo $! > {pid_file}; wait",
                        "shell": True,
                        "timeout": 1,
                    },
                },
            }
        },
    )
    assert run["status"] == "FAILED"
    assert "timed out after 1s" in run["error_message"]
    pid = int(pid_file.read_text())
    assert not pid_alive(pid), "the grandchild 'sleep' survived the timeout"


def test_nonzero_exit_fails_with_stderr(live):
    run = run_workflow(
        live,
        {
            "tasks": {
                "boom": {
                    "action": "cli.execute_command",
                    "input": {"command": "echo bad thing >&2; exit 3", "shell": True},
                },
            }
        },
    )
    assert run["status"] == "FAILED"
    boom = live.get(f"/api/v1/runs/{run['run_id']}/steps/boom").json
    assert boom["output_data"]["exit_code"] == 3
    assert boom["stderr"] == "bad thing\n"
    assert "exited with code 3: bad thing" in boom["error_message"]


def test_output_and_log_caps_fail_the_task_and_keep_both_ends_of_stdout(live, settings):
    # The session worker runs with the default caps (settings_env passes neither), so this prints
    # just past them; a small cap would need a second worker process.
    log_cap, output_cap = settings.max_log_bytes, settings.max_output_bytes
    command = f"printf head; head -c {log_cap} /dev/zero | tr '\\0' x; printf tail"
    run = run_workflow(
        live,
        {
            "tasks": {
                "loud": {
                    "action": "cli.execute_command",
                    "input": {"command": command, "shell": True},
                }
            }
        },
    )
    assert run["status"] == "FAILED"
    loud = live.get(f"/api/v1/runs/{run['run_id']}/steps/loud").json
    assert loud["output_data"] is None
    assert f"bytes, over the limit of {output_cap}" in loud["error_message"]
    half = "x" * (log_cap // 2 - 4)
    assert loud["stdout"] == f"head{half}\n… [8 characters truncated] …\n{half}tail"


def test_input_schema_defaults_reach_tasks(live):
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "t": {
                    "action": "builtin.echo",
                    "input": {"n": "${workflow.input.n}", "doubled": "${workflow.input.n * 2}"},
                }
            },
            "input_schema": {"n": {"type": "integer", "default": 21}},
        },
    )
    run = wait_for_run(live, execute(live, workflow["id"]))
    assert run["status"] == "COMPLETED"
    assert run["input_data"] == {"n": 21}
    assert steps(live, run["run_id"])["t"]["output_data"] == {"n": 21, "doubled": 42}


def test_submitting_canvases_leaves_no_result_subscriptions_behind(live, rt):
    # 40 parallel tasks then one: the API itself submits this chord (segment size is 50).
    deps = {**{f"m{i}": [] for i in range(40)}, "e": [f"m{i}" for i in range(40)]}
    run = run_workflow(live, {"tasks": noop_tasks(deps)})
    assert run["status"] == "COMPLETED"
    pending = rt.celery.backend._pending_results  # Celery's own registry of awaited results
    assert sum(len(mapping) for mapping in pending) == 0
    pubsub = getattr(rt.celery.backend.result_consumer, "_pubsub", None)
    channels = list(pubsub.channels) if pubsub is not None else []
    if channels:  # redis-py forgets a channel only once it reads Redis's confirmation
        subscribers = dict(rt.redis.pubsub_numsub(*channels))
        assert sum(subscribers.values()) == 0, subscribers


def test_a_long_task_holds_a_fresh_lease_while_it_runs_and_none_after(live, rt, tmp_path):
    """A task running past the first refresh has a lease in Redis (how a worker on another host
    tells it is alive), refreshed until it ends, then removed; a quick one never writes one."""
    go = tmp_path / "go"
    workflow = create_workflow(
        live,
        {
            "tasks": {
                "quick": {"action": "builtin.noop"},
                "long": {
                    "action": "cli.execute_command",
                    "depends_on": ["quick"],
                    "input": {
                        "command": f"while [ ! -f {go} ]; do sleep 0.05; done",
                        "shell": True,
                    },
                },
            }
        },
    )
    run_id = execute(live, workflow["id"])
    key = lease_key(run_id, "long")
    deadline = time.monotonic() + LEASE_REFRESH + 10
    while not rt.redis.exists(key):
        assert time.monotonic() < deadline, "no lease written"
        time.sleep(0.1)
    host, _, pid = rt.redis.get(key).rpartition(":")  # the worker's host:pid
    assert host and pid.isdigit() and pid_alive(int(pid))
    time.sleep(LEASE_TTL - LEASE_REFRESH + 1)  # gone by now unless it was refreshed
    assert rt.redis.exists(key)
    go.touch()
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    assert not rt.redis.exists(key)
    assert not rt.redis.exists(lease_key(run_id, "quick"))
