"""The ops API against the session's real Celery worker (and a throwaway one to shut down).

Every control is undone before its test ends, since the session worker serves every other test.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app.cli import worker_argv
from tests.integration.api_support import assert_error
from tests.integration.conftest import settings_env, stop_process
from tests.integration.helpers import create_workflow, execute, unique

OPS = "/api/v1/ops"
BY = "HARMONIA_ADMIN_API_KEY"  # the bootstrap admin key's name


def session_worker(client) -> str:
    workers = client.get(f"{OPS}/workers").json["items"]
    names = [w["hostname"] for w in workers if w["hostname"].startswith("harmonia@")]
    assert names, workers
    return names[0]


def pool_size(client, hostname: str) -> int:
    return client.get(f"{OPS}/workers/{hostname}").json["pool"]["size"]


def wait_until(check, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)
    return found


def audit(client, event_id: int, type_: str) -> dict:
    event = client.get(f"/api/v1/events/{event_id}").json
    assert event["type"] == type_ and event["run_id"] is None, event
    assert event["data"]["by"] == BY
    return event["data"]


def test_the_session_worker_is_listed_online_with_its_pool_queues_and_versions(live, settings):
    body = live.get(f"{OPS}/workers").json
    assert body["total"] == len(body["items"]) >= 1
    hostname = session_worker(live)
    worker = live.get(f"{OPS}/workers/{hostname}").json
    assert worker["status"] == "online" and worker["last_heartbeat"]
    assert worker["pool"]["type"] == "celery.concurrency.prefork:TaskPool"
    assert worker["pool"]["max_concurrency"] == settings.worker_concurrency
    assert worker["pool"]["size"] == len(worker["pool"]["processes"]) >= 1
    assert set(worker["queues"]) >= {settings.default_queue, settings.sweep_queue}
    assert worker["versions"]["celery"] and worker["versions"]["kombu"]
    assert worker["processed"] == sum(worker["processed_by_task"].values())
    for key in ("active", "reserved", "scheduled"):
        assert isinstance(worker[key], list)


def test_an_active_task_names_its_run_and_step(live):
    sleepy = {"tasks": {"nap": {"action": "builtin.sleep", "input": {"seconds": 3}}}}
    run_id = execute(live, create_workflow(live, sleepy)["id"])
    hostname = session_worker(live)

    def running():
        active = live.get(f"{OPS}/workers/{hostname}").json["active"]
        return [t for t in active if t["run_id"] == run_id]

    task = wait_until(running)[0]
    assert task["name"] == "harmonia.run_task" and task["step_id"] == "nap"
    assert task["id"] and task["started_at"]


def test_a_queue_nobody_consumes_shows_its_depth(live, rt, settings):
    queue = f"ops-idle-{uuid.uuid4().hex[:8]}"
    rt.celery.send_task("harmonia.noop-never-run", queue=queue)
    rt.celery.send_task("harmonia.noop-never-run", queue=queue, priority=6)
    try:
        queues = {q["name"]: q for q in live.get(f"{OPS}/queues").json["items"]}
        assert queues[queue] == {"name": queue, "depth": 2, "consumers": []}
        consumed = queues[settings.default_queue]["consumers"]
        assert session_worker(live) in consumed
    finally:
        rt.redis.delete(queue, f"{queue}\x06\x166", f"_kombu.binding.{queue}")


def test_pool_grows_then_shrinks_and_each_is_audited(live):
    hostname = session_worker(live)
    before = pool_size(live, hostname)
    grown = live.post(f"{OPS}/workers/{hostname}/pool", json={"grow": 1})
    try:
        assert grown.status_code == 200, grown.json
        assert grown.json["replies"][hostname] == {"ok": "pool will grow"}
        wait_until(lambda: pool_size(live, hostname) == before + 1)
        data = audit(live, grown.json["event_id"], "ops_pool_grow")
        assert data["target"] == hostname and data["arguments"] == {"n": 1}
        assert data["replies"] == grown.json["replies"]
    finally:
        shrunk = live.post(f"{OPS}/workers/{hostname}/pool", json={"shrink": 1})
    assert shrunk.json["replies"][hostname] == {"ok": "pool will shrink"}
    wait_until(lambda: pool_size(live, hostname) == before)
    audit(live, shrunk.json["event_id"], "ops_pool_shrink")
    assert_error(live.post(f"{OPS}/workers/{hostname}/pool", json={}), 422, field="grow")


def test_a_consumer_is_added_then_cancelled(live):
    hostname = session_worker(live)
    queue = f"ops-extra-{uuid.uuid4().hex[:8]}"
    added = live.post(f"{OPS}/workers/{hostname}/consumers", json={"queue": queue})
    try:
        assert added.status_code == 200, added.json
        assert "ok" in added.json["replies"][hostname]
        assert queue in live.get(f"{OPS}/workers/{hostname}").json["queues"]
        assert audit(live, added.json["event_id"], "ops_add_consumer")["arguments"] == {
            "queue": queue
        }
    finally:
        cancelled = live.delete(f"{OPS}/workers/{hostname}/consumers/{queue}")
    assert cancelled.status_code == 200 and "ok" in cancelled.json["replies"][hostname]
    assert queue not in live.get(f"{OPS}/workers/{hostname}").json["queues"]
    audit(live, cancelled.json["event_id"], "ops_cancel_consumer")


def test_a_rate_limit_is_set_and_lifted(live):
    hostname = session_worker(live)
    body = {"task_name": "harmonia.notify_outbox", "rate": "10/m", "hostname": hostname}
    limited = live.post(f"{OPS}/rate-limits", json=body)
    try:
        assert limited.status_code == 200, limited.json
        assert "ok" in limited.json["replies"][hostname]
        data = audit(live, limited.json["event_id"], "ops_rate_limit")
        assert data["target"] == "harmonia.notify_outbox"
        assert data["arguments"]["rate_limit"] == "10/m"
    finally:
        lifted = live.post(f"{OPS}/rate-limits", json={**body, "rate": "0"})
    assert "ok" in lifted.json["replies"][hostname]
    assert_error(live.post(f"{OPS}/rate-limits", json={**body, "rate": "fast"}), 422, field="rate")


def test_a_celery_task_is_revoked_on_every_worker(live):
    task_id = str(uuid.uuid4())
    revoked = live.post(f"{OPS}/tasks/{task_id}/revoke", json={"terminate": False})
    assert revoked.status_code == 200, revoked.json
    hostname = session_worker(live)
    assert "ok" in revoked.json["replies"][hostname]
    data = audit(live, revoked.json["event_id"], "ops_revoke")
    assert data["arguments"] == {"task_id": task_id, "terminate": False}


def test_an_unknown_worker_is_404_and_nothing_is_recorded(live):
    missing = "nobody@nowhere"
    limit = {"task_name": "t", "rate": "1/s", "hostname": missing}
    for response in (
        live.get(f"{OPS}/workers/{missing}"),
        live.post(f"{OPS}/workers/{missing}/pool", json={"grow": 1}),
        live.post(f"{OPS}/workers/{missing}/shutdown"),
        live.delete(f"{OPS}/workers/{missing}/consumers/q"),
        live.post(f"{OPS}/rate-limits", json=limit),
    ):
        assert_error(response, 404, detail="did not answer")
    assert live.get("/api/v1/events?type=ops_pool_grow").json["total"] == 0


def test_a_viewer_may_not_see_or_steer_the_fleet_and_an_operator_may(live):
    anonymous = FlaskClient(live.application)
    keys = {}
    for role in ("viewer", "operator"):
        created = live.post("/api/v1/auth/keys", json={"name": unique(role), "role": role})
        keys[role] = {"Authorization": f"Bearer {created.json['key']}"}
    for path in ("/workers", "/queues"):
        assert_error(anonymous.get(OPS + path, headers=keys["viewer"]), 403, detail="operator")
    revoke = f"{OPS}/tasks/{uuid.uuid4()}/revoke"
    assert_error(anonymous.post(revoke, json={}, headers=keys["viewer"]), 403)
    assert anonymous.get(f"{OPS}/queues", headers=keys["operator"]).status_code == 200
    assert anonymous.post(revoke, json={}, headers=keys["operator"]).status_code == 200


@pytest.fixture
def throwaway(settings, worker, rt):
    """A worker of its own, for the test that shuts one down."""
    name = f"ops-{uuid.uuid4().hex[:8]}"
    log = Path(settings.home) / f"{name}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            worker_argv(settings, concurrency=1, name=name),
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    hostname = f"{name}@{socket.gethostname()}"
    try:
        wait_until(lambda: rt.celery.control.ping(destination=[hostname], timeout=0.5), 60)
        yield process, hostname
    finally:
        if process.poll() is None:
            stop_process(process)


def test_a_worker_is_shut_down_gracefully(live, throwaway):
    process, hostname = throwaway
    response = live.post(f"{OPS}/workers/{hostname}/shutdown")
    assert response.status_code == 200, response.json
    assert response.json["replies"] == {}  # it leaves while handling the command
    assert process.wait(timeout=30) == 0
    data = audit(live, response.json["event_id"], "ops_shutdown")
    assert data["target"] == hostname
    assert_error(live.get(f"{OPS}/workers/{hostname}"), 404)
