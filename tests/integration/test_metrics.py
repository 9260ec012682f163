"""``/metrics`` and ``/health`` against the API as production runs it (gunicorn) with a real
Celery worker behind it: the counters match the runs performed, counted in whichever process did
the work (the tasks in the worker's pool processes), and the JSON form matches the runs' times.

Counters live as long as the suite's processes, so each check compares two scrapes.
"""

from __future__ import annotations

import math
import subprocess
import time
import uuid
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.cli import start_embedded_redis
from app.services.metrics import bound_queues
from tests.integration.api_support import ADMIN, admin_app, gunicorn_api, timestamp
from tests.integration.conftest import settings_env
from tests.integration.helpers import TERMINAL, unique

Samples = dict[tuple[str, frozenset], float]

TWO_STEPS = {
    "tasks": {
        "greet": {"action": "builtin.echo", "input": {"message": "hello"}},
        "rest": {"action": "builtin.noop", "input": {}, "depends_on": ["greet"]},
    }
}
FAILING = {"tasks": {"boom": {"action": "builtin.fail", "input": {"message": "on purpose"}}}}


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


class Api:
    """An admin's HTTP client on the live server that counts the requests it sends."""

    def __init__(self, address: str) -> None:
        self.sent = 0
        self.http = httpx.Client(
            base_url=f"http://{address}",
            headers=ADMIN,
            timeout=30,
            event_hooks={"request": [self._count]},
        )

    def _count(self, _request) -> None:
        self.sent += 1

    def scrape(self) -> Samples:
        response = self.http.get("/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/plain")
        return samples(response.text)

    def run(self, definition: dict[str, Any]) -> str:
        created = self.http.post("/api/v1/workflows", json={"name": unique("m"), **definition})
        assert created.status_code == 201, created.text
        started = self.http.post(
            f"/api/v1/workflows/{created.json()['id']}/execute", json={"input_data": {}}
        )
        assert started.status_code == 202, started.text
        return started.json()["run_id"]

    def wait(self, run_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.http.get(f"/api/v1/runs/{run_id}").json()
            if run["status"] in TERMINAL:
                return run
            assert time.monotonic() < deadline, f"run {run_id} is still {run['status']}"
            time.sleep(0.1)


@pytest.fixture
def api(server, clean):
    client = Api(server)
    yield client
    client.http.close()


def _pool_children(parent: int) -> set[int]:
    """The pids whose parent is ``parent`` (the worker's pool processes)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.add(int(stat.parent.name))
    return children


def _counted_by(metrics_dir: Path, pids: set[int]) -> Samples:
    """The counters written by the processes ``pids`` alone (their own metric files)."""
    files = [
        str(path)
        for path in metrics_dir.glob("counter_*.db")
        if int(path.stem.rsplit("-", 1)[1]) in pids
    ]
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for metric in MultiProcessCollector.merge(files)
        for sample in metric.samples
    }


def test_counters_match_the_runs_performed_including_tasks_counted_in_the_worker(
    api, settings, worker
):
    metrics_dir = settings.resolved_metrics_dir
    pool = _pool_children(worker.pid)
    assert pool, "the worker has no pool processes"
    sent_before = api.sent
    before = api.scrape()  # counted in ``after``: a request is counted once it has answered
    in_pool_before = _counted_by(metrics_dir, pool)

    completed = [api.run(TWO_STEPS) for _ in range(3)]
    failed = api.run(FAILING)
    runs = {run_id: api.wait(run_id) for run_id in [*completed, failed]}
    assert [runs[r]["status"] for r in completed] == ["COMPLETED"] * 3
    assert runs[failed]["status"] == "FAILED"

    requests = api.sent - sent_before
    after = api.scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("harmonia_runs_total", status="completed") == 3
    assert delta("harmonia_runs_total", status="failed") == 1
    assert delta("harmonia_runs_total", status="cancelled") == 0
    assert delta("harmonia_runs_started_total") == 4
    assert delta("harmonia_run_duration_seconds_count", status="completed") == 3
    assert delta("harmonia_run_duration_seconds_count", status="failed") == 1
    tasks = {
        ("completed", "builtin.echo"): 3,
        ("completed", "builtin.noop"): 3,
        ("failed", "builtin.fail"): 1,
    }
    for (status, action), count in tasks.items():
        assert delta("harmonia_task_executions_total", status=status, action=action) == count
        assert delta("harmonia_task_duration_seconds_count", status=status, action=action) == count
    assert delta("harmonia_events_published_total", type="task_completed") == 6
    assert delta("harmonia_events_published_total", type="execution_completed") == 3

    # The task outcomes were counted by the worker's pool processes, in their own files, and
    # the API process that answered summed them with its own.
    in_pool = _counted_by(metrics_dir, pool)
    for (status, action), count in tasks.items():
        labels = frozenset({"status": status, "action": action}.items())
        key = ("harmonia_task_executions_total", labels)
        assert in_pool.get(key, 0) - in_pool_before.get(key, 0) == count

    # Every request between the scrapes, by its route's rule (not its path) and status code.
    assert delta("api_requests_total") == requests
    execute = "/api/v1/workflows/<workflow_id>/execute"
    assert delta("harmonia_api_requests_total", route=execute, method="POST", status="202") == 4
    assert delta("harmonia_api_request_duration_seconds_count", route=execute, method="POST") == 4
    polled = "/api/v1/runs/<run_id>"
    assert delta("harmonia_api_requests_total", route=polled, method="GET", status="200") >= 4
    routes = {dict(labels).get("route", "") for name, labels in after}
    assert not any(run_id in route for route in routes for run_id in runs)

    assert value(after, "api_info", version="0.1.0") == 1
    assert value(after, "api_uptime_seconds") > 0
    for queue in ("harmonia", "harmonia.sweep", "harmonia.notify"):
        assert ("harmonia_queue_depth", frozenset({"queue": queue}.items())) in after


def _nearest_rank_p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def _ms(item: dict[str, Any]) -> float:
    return (timestamp(item["completed_at"]) - timestamp(item["started_at"])).total_seconds() * 1000


def test_json_form_counts_executions_and_steps_and_times_them(api):
    run_ids = [api.run(TWO_STEPS) for _ in range(2)] + [api.run(FAILING)]
    runs = [api.wait(run_id) for run_id in run_ids]
    steps = [
        step for run_id in run_ids for step in api.http.get(f"/api/v1/runs/{run_id}/steps").json()
    ]

    response = api.http.get("/metrics", headers={"Accept": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["executions"] == {
        "total": 3,
        "active": 0,
        "completed": 2,
        "failed": 1,
        "cancelled": 0,
    }
    statuses = Tally(step["status"] for step in steps)
    assert body["steps"] == {
        "total": len(steps),
        "succeeded": statuses["COMPLETED"],
        "failed": statuses["FAILED"],
    }
    assert (len(steps), statuses["COMPLETED"], statuses["FAILED"]) == (5, 4, 1)

    run_ms = [_ms(run) for run in runs]
    step_ms = [_ms(step) for step in steps if step["started_at"] and step["completed_at"]]
    performance = body["performance"]
    assert performance["average_execution_time_ms"] == pytest.approx(
        sum(run_ms) / len(run_ms), abs=1
    )
    assert performance["p95_execution_time_ms"] == pytest.approx(_nearest_rank_p95(run_ms), abs=1)
    assert performance["average_step_time_ms"] == pytest.approx(sum(step_ms) / len(step_ms), abs=1)
    assert performance["p95_step_time_ms"] == pytest.approx(_nearest_rank_p95(step_ms), abs=1)
    assert 0 < body["resource_usage"]["memory_mb"] < 4096
    assert body["resource_usage"]["cpu_percent"] >= 0


def test_json_form_has_no_times_before_anything_finished(api):
    body = api.http.get("/metrics", headers={"Accept": "application/json"}).json()
    assert body["executions"]["total"] == 0 and body["steps"]["total"] == 0
    assert set(body["performance"].values()) == {None}


def test_health_checks_every_component_of_both_documents(server, worker):
    response = httpx.get(f"http://{server}/health", timeout=10)  # no credentials needed
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    assert body["components"] == {
        "api": "healthy",
        "execution_engine": "healthy",
        "storage": "healthy",
        "event_system": "healthy",
    }
    assert isinstance(body["uptime"], int) and body["uptime"] >= 0
    assert body["uptime_seconds"] >= body["uptime"]
    assert body["version"] == "0.1.0"
    timestamp(body["timestamp"])
    assert set(body["services"]) == set(body["components"])
    assert all(check["status"] == "healthy" for check in body["services"].values())


def test_health_says_degraded_when_no_worker_answers(settings, tmp_path):
    # A Redis server of its own, where no worker listens: only the engine is down.
    redis_server, url = start_embedded_redis(tmp_path)
    app = admin_app(settings.with_(redis_url=url))
    try:
        body = FlaskClient(app).get("/health").json
    finally:
        app.extensions["harmonia"].close()
        if isinstance(redis_server, subprocess.Popen):
            redis_server.terminate()
            redis_server.wait(timeout=10)
    assert body["components"]["execution_engine"] == "unhealthy"
    assert body["components"]["storage"] == body["components"]["event_system"] == "healthy"
    assert body["status"] == "degraded"
    assert "no worker" in body["services"]["execution_engine"]["message"]


def test_queue_depth_counts_the_messages_waiting_in_a_tasks_own_queue(settings, rt, worker, clean):
    queue = f"metrics-idle-{uuid.uuid4().hex[:8]}"  # no worker consumes it
    idle = {"tasks": {"parked": {"action": "builtin.noop", "input": {}, "queue": queue}}}
    log = Path(settings.home) / "api-queue-depth.log"
    # Its own API processes: each looks for new queues at its first scrape.
    with gunicorn_api(settings, settings_env(settings), log) as address:
        api = Api(address)
        try:
            run_id = api.run(idle)
            # Its message reaches the queue once a worker has begun the run; the API processes'
            # first scrape must come after (they look for new queues then).
            deadline = time.monotonic() + 30
            while queue not in set(bound_queues(rt.redis)):
                assert time.monotonic() < deadline, "the run's task never reached its queue"
                time.sleep(0.1)
            found = api.scrape()
            assert value(found, "harmonia_queue_depth", queue=queue) == 1
            # Begun (RUNNING), and its one task still waits in the queue.
            assert api.http.get(f"/api/v1/runs/{run_id}").json()["status"] == "RUNNING"
            step = api.http.get(f"/api/v1/runs/{run_id}/steps/parked").json()
            assert step["status"] == "PENDING", step
        finally:
            api.http.close()


@pytest.mark.parametrize("public", [True, False], ids=["public", "behind-a-key"])
def test_metrics_follow_the_public_readiness_switch(settings, public):
    app = admin_app(settings.with_(public_ready=public))
    try:
        anonymous = FlaskClient(app)
        for accept in ("text/plain", "application/json"):
            response = anonymous.get("/metrics", headers={"Accept": accept})
            assert response.status_code == (200 if public else 401), response.data[:300]
            assert app.test_client().get("/metrics", headers={"Accept": accept}).status_code == 200
        assert anonymous.get("/health").status_code == 200  # liveness stays open
    finally:
        app.extensions["harmonia"].close()


@pytest.mark.parametrize(
    ("accept", "served"),
    [
        ("application/openmetrics-text;version=1.0.0,text/plain;q=0.5", "application/openmetrics"),
        ("application/openmetrics-text;version=abc", "text/plain"),  # unreadable: the classic
        ("text/plain;version=x.y", "text/plain"),
        ("*/*", "text/plain"),
        ("application/json;q=0.9, text/plain;q=0.1", "application/json"),
    ],
    ids=["prometheus-server", "bad-openmetrics-version", "bad-text-version", "any", "json-first"],
)
def test_metrics_format_follows_accept_and_never_fails_on_it(app, accept, served):
    response = app.test_client().get("/metrics", headers={"Accept": accept})
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"].startswith(served)
    if served != "application/json":
        names = {family.name for family in text_string_to_metric_families(response.text)}
        assert {"harmonia_runs", "api_info", "harmonia_queue_depth"} <= names
