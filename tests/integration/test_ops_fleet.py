"""The worker fleet through the ops API and the fleet monitor, against real Celery workers.

The session worker (the default and sweep queues) and second workers of these tests, each on
a queue of its own, run side by side; ``harmonia monitor`` runs as a user runs it, with a short
``HARMONIA_WORKER_OFFLINE_AFTER``, and the test workers heartbeat every second. Every control is
undone and every worker started here is stopped, and the monitor's Redis keys are removed at
the end, so the session worker serves the other tests as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from simple_websocket import Client, ConnectionClosed

from app.cli import monitor_argv, worker_argv
from app.services import fleet
from tests.integration.api_support import ADMIN, timestamp
from tests.integration.conftest import settings_env, start_process, stop_process

OPS = "/api/v1/ops"
OFFLINE_AFTER = 3  # seconds without a heartbeat before the monitor declares a worker offline
HEARTBEAT = ["--heartbeat-interval", "1"]


def wait_until(check, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} not met in {timeout}s"
        time.sleep(0.2)
    return found


def listing(client) -> dict[str, dict]:
    response = client.get(f"{OPS}/workers")
    assert response.status_code == 200, response.json
    assert response.json["total"] == len(response.json["items"])
    return {worker["hostname"]: worker for worker in response.json["items"]}


def worker_events(client, type_: str, hostname: str) -> list[dict]:
    body = client.get(f"/api/v1/events?type={type_}&page_size=100").json
    return [e for e in body["items"] if e["data"]["hostname"] == hostname]


class MonitorProcess:
    """``harmonia monitor``, which a test may stop and start again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = start_process(monitor_argv(), self.env, self.log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            assert self.process.returncode == 0, self.log.read_text()[-3000:]
            self.process = None

    def heard(self, client, hostname: str, timeout: float = 20) -> dict:
        """Wait until the listing shows what only the monitor knows about ``hostname``."""
        deadline = time.monotonic() + timeout
        while not (found := listing(client).get(hostname) or {}).get("loadavg"):
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)
        return found


@pytest.fixture(scope="module")
def monitor(settings, worker, rt) -> Iterator[MonitorProcess]:
    env = {**settings_env(settings), "HARMONIA_WORKER_OFFLINE_AFTER": str(OFFLINE_AFTER)}
    process = MonitorProcess(env, Path(settings.home) / "monitor.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
        keys = list(rt.redis.scan_iter(f"{fleet.WORKER_PREFIX}*"))
        rt.redis.delete(fleet.INDEX, *keys)


@dataclass
class Worker:
    process: subprocess.Popen
    hostname: str
    queue: str

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: no goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def start_worker(settings, worker, rt):
    """Start a Celery worker on a queue of its own (``fleet-…``, or ``name``), named like it,
    heartbeating every second; each is stopped (or killed) when the test ends."""
    started: list[Worker] = []

    def start(concurrency: int = 2, name: str | None = None) -> Worker:
        name = name or f"fleet-{uuid.uuid4().hex[:8]}"
        argv = worker_argv(
            settings, concurrency=concurrency, name=name, queues=name, extra=HEARTBEAT
        )
        with open(Path(settings.home) / f"{name}.log", "a") as out:
            process = subprocess.Popen(
                argv,
                env=settings_env(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group, so a SIGKILL takes its pool too
            )
        handle = Worker(process, f"{name}@{socket.gethostname()}", name)
        started.append(handle)
        wait_until(
            lambda: rt.celery.control.ping(destination=[handle.hostname], timeout=0.5),
            60,
            f"{handle.hostname} answering",
        )
        return handle

    yield start
    for each in started:
        if each.process.poll() is None:
            stop_process(each.process)
        with contextlib.suppress(ProcessLookupError):  # what is left of its pool
            os.killpg(each.process.pid, signal.SIGKILL)
        # Its queues (and the one a test added) leave the broker's bindings, so no later
        # listing of the queues shows them.
        for queue in (each.queue, f"{each.queue}-extra"):
            rt.redis.delete(queue, f"_kombu.binding.{queue}")


@pytest.fixture
def second(start_worker) -> Worker:
    return start_worker(concurrency=2)


@contextlib.contextmanager
def listening(server: str) -> Iterator[list[dict]]:
    """The global WebSocket ``/ws/events``, read in a thread while the block runs."""
    got: list[dict] = []
    done = threading.Event()
    ws = Client.connect(f"ws://{server}/ws/events", headers=ADMIN)

    def read() -> None:
        with contextlib.suppress(ConnectionClosed):
            while not done.is_set():
                raw = ws.receive(timeout=0.5)
                if raw:
                    got.append(json.loads(raw))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.3)  # subscribed once the server has accepted it
    try:
        yield got
    finally:
        done.set()
        reader.join(5)
        with contextlib.suppress(ConnectionClosed):
            ws.close()


def streamed(got: list[dict], type_: str, hostname: str) -> list[dict]:
    return [m for m in got if m["type"] == type_ and m["payload"]["hostname"] == hostname]


# -- the listing and the controls, two workers on different queues -------------------------------


def test_the_listing_shows_each_worker_with_its_own_queues_and_pool(
    live, settings, monitor, second
):
    monitor.heard(live, second.hostname)
    workers = listing(live)
    ours = workers[second.hostname]
    assert ours["status"] == "online" and ours["queues"] == [second.queue]
    assert ours["pool"]["max_concurrency"] == 2 == ours["pool"]["size"]
    assert len(ours["loadavg"]) == 3 and all(isinstance(x, float) for x in ours["loadavg"])
    assert ours["processed"] == 0 and ours["failed"] == 0 and ours["offline_reason"] is None
    sessions = [w for name, w in workers.items() if name.startswith("harmonia@")]
    assert len(sessions) == 1, workers.keys()
    session = sessions[0]
    assert session["status"] == "online"
    assert set(session["queues"]) == {settings.default_queue, settings.sweep_queue}
    assert session["pool"]["max_concurrency"] == settings.worker_concurrency
    assert session["pool"]["size"] == settings.worker_concurrency
    queues = {q["name"]: q["consumers"] for q in live.get(f"{OPS}/queues").json["items"]}
    assert queues[second.queue] == [second.hostname]
    assert second.hostname not in queues[settings.default_queue]


def test_pool_and_consumer_controls_reach_only_the_worker_they_name(live, settings, second):
    def pools() -> tuple[int, int]:
        workers = listing(live)
        session = next(w for name, w in workers.items() if name.startswith("harmonia@"))
        return workers[second.hostname]["pool"]["size"], session["pool"]["size"]

    before = pools()
    assert before == (2, settings.worker_concurrency)
    grown = live.post(f"{OPS}/workers/{second.hostname}/pool", json={"grow": 1})
    assert grown.json["replies"] == {second.hostname: {"ok": "pool will grow"}}
    wait_until(lambda: pools() == (3, before[1]), what="the pool grown to 3")
    shrunk = live.post(f"{OPS}/workers/{second.hostname}/pool", json={"shrink": 1})
    assert shrunk.json["replies"] == {second.hostname: {"ok": "pool will shrink"}}
    wait_until(lambda: pools() == before, what="the pool back to 2")

    extra = f"{second.queue}-extra"
    added = live.post(f"{OPS}/workers/{second.hostname}/consumers", json={"queue": extra})
    assert "ok" in added.json["replies"][second.hostname]
    workers = listing(live)
    assert sorted(workers[second.hostname]["queues"]) == sorted([second.queue, extra])
    assert not any(extra in w["queues"] for name, w in workers.items() if name != second.hostname)
    cancelled = live.delete(f"{OPS}/workers/{second.hostname}/consumers/{extra}")
    assert "ok" in cancelled.json["replies"][second.hostname]
    assert listing(live)[second.hostname]["queues"] == [second.queue]


def test_processed_and_failed_counts_come_from_the_worker_that_ran_the_task(
    live, rt, monitor, second
):
    monitor.heard(live, second.hostname)
    # A Celery task that raises (harmonia.run_task without its arguments: a TypeError) is a
    # Celery failure; a Harmonia task that fails is data and never raises to Celery.
    rt.celery.send_task("harmonia.run_task", args=[], queue=second.queue)
    ours = wait_until(
        lambda: (w := listing(live)[second.hostname])["failed"] == 1 and w,
        what="the failure counted",
    )
    assert ours["processed"] == 1 and ours["processed_by_task"] == {"harmonia.run_task": 1}
    session = next(w for name, w in listing(live).items() if name.startswith("harmonia@"))
    assert session["failed"] == 0


def test_a_worker_sends_only_the_task_events_the_monitor_reads(rt, second):
    """Celery's task events cost a Redis round trip each in the worker's main process: of them,
    only ``task-failed`` is sent (``HARMONIA_CELERY_TASK_EVENTS``); worker events always are."""
    got: list[dict] = []
    ready = threading.Event()
    with rt.celery.connection_for_read() as connection:
        receiver = rt.celery.events.Receiver(
            connection, handlers={"*": got.append}, node_id=f"test-{uuid.uuid4().hex[:8]}"
        )
        receiver.on_consume_ready = lambda *args, **kwargs: ready.set()
        reader = threading.Thread(
            target=lambda: receiver.capture(limit=None, timeout=None, wakeup=False), daemon=True
        )
        reader.start()
        assert ready.wait(10), "the event receiver did not start"
        try:
            succeeded = rt.celery.send_task(
                "harmonia.begin_run", args=[str(uuid.uuid4())], queue=second.queue
            )
            failed = rt.celery.send_task("harmonia.run_task", args=[], queue=second.queue)
            wait_until(
                lambda: any(e["type"] == "task-failed" and e["uuid"] == failed.id for e in got),
                what="task-failed of the failing task",
            )
            wait_until(
                lambda: any(
                    e["type"] == "worker-heartbeat" and e["hostname"] == second.hostname
                    for e in got
                ),
                what="a heartbeat of the worker",
            )
        finally:
            receiver.should_stop = True
            reader.join(5)
    ours = [e for e in got if e.get("hostname") == second.hostname]
    tasks = {(e["type"], e["uuid"]) for e in ours if e["type"].startswith("task-")}
    assert tasks == {("task-failed", failed.id)}, sorted(tasks)
    assert succeeded.id not in {e.get("uuid") for e in ours}


# -- online and offline, through the running monitor ---------------------------------------------


def test_a_worker_that_starts_and_shuts_down_is_online_then_offline_once(
    live, rt, server, monitor, start_worker, monkeypatch
):
    with listening(server) as got:
        ours = start_worker()
        online = wait_until(lambda: worker_events(live, "worker_online", ours.hostname))
        shutdown = live.post(f"{OPS}/workers/{ours.hostname}/shutdown")
        assert shutdown.status_code == 200, shutdown.json
        assert ours.process.wait(timeout=30) == 0
        offline = wait_until(lambda: worker_events(live, "worker_offline", ours.hostname))
        wait_until(lambda: streamed(got, "worker_offline", ours.hostname), 10, "the socket")
        time.sleep(OFFLINE_AFTER + 1)  # long enough for a duplicate by expiry to show up
    assert len(worker_events(live, "worker_online", ours.hostname)) == len(online) == 1
    assert len(worker_events(live, "worker_offline", ours.hostname)) == len(offline) == 1
    data = online[0]["data"]
    assert online[0]["run_id"] is None and data["pid"] == ours.process.pid
    assert data["versions"]["celery"] and data["heartbeat_interval"] == 1.0
    data = offline[0]["data"]
    assert data["reason"] == "clean" and data["pid"] == ours.process.pid
    assert timestamp(data["last_heartbeat"]) >= timestamp(online[0]["timestamp"])
    assert [m["event_id"] for m in streamed(got, "worker_online", ours.hostname)] == [
        str(online[0]["event_id"])
    ]
    assert [m["event_id"] for m in streamed(got, "worker_offline", ours.hostname)] == [
        str(offline[0]["event_id"])
    ]

    gone = listing(live)[ours.hostname]
    assert gone["status"] == "offline" and gone["offline_reason"] == "clean"
    assert timestamp(gone["last_heartbeat"]) == timestamp(data["last_heartbeat"])
    assert gone["queues"] == [] and gone["active"] == [] and gone["versions"]["celery"]
    assert live.get(f"{OPS}/workers/{ours.hostname}").json == gone
    assert live.post(f"{OPS}/workers/{ours.hostname}/pool", json={"grow": 1}).status_code == 404

    # Past the retention, an offline worker is no longer listed.
    monkeypatch.setattr(rt, "settings", rt.settings.with_(worker_offline_retention=0.5))
    time.sleep(1)
    assert ours.hostname not in listing(live)
    assert live.get(f"{OPS}/workers/{ours.hostname}").status_code == 404


def test_a_killed_worker_goes_offline_when_its_heartbeats_stop(live, server, monitor, start_worker):
    with listening(server) as got:
        ours = start_worker()
        wait_until(lambda: worker_events(live, "worker_online", ours.hostname))
        ours.kill()
        killed = time.time()
        assert listing(live)[ours.hostname]["status"] in ("unresponsive", "offline")
        offline = wait_until(
            lambda: worker_events(live, "worker_offline", ours.hostname), OFFLINE_AFTER + 15
        )
        took = time.time() - killed
        wait_until(lambda: streamed(got, "worker_offline", ours.hostname), 10, "the socket")
        time.sleep(2)
    assert OFFLINE_AFTER - 1 <= took <= OFFLINE_AFTER + 5, took
    assert len(worker_events(live, "worker_offline", ours.hostname)) == 1
    assert len(worker_events(live, "worker_online", ours.hostname)) == 1
    data = offline[0]["data"]
    assert data["reason"] == "heartbeat_expired" and data["pid"] == ours.process.pid
    assert killed - 3 <= timestamp(data["last_heartbeat"]).timestamp() <= killed
    assert len(streamed(got, "worker_offline", ours.hostname)) == 1
    gone = listing(live)[ours.hostname]
    assert gone["status"] == "offline" and gone["offline_reason"] == "heartbeat_expired"


def test_a_restarted_monitor_records_nothing_twice(live, rt, monitor, start_worker, second):
    monitor.heard(live, second.hostname)
    assert len(worker_events(live, "worker_online", second.hostname)) == 1
    doomed = start_worker()
    wait_until(lambda: worker_events(live, "worker_online", doomed.hostname))

    # While no monitor runs, one worker dies; the other keeps running.
    monitor.stop()
    doomed.kill()
    monitor.start()
    offline = wait_until(
        lambda: worker_events(live, "worker_offline", doomed.hostname), OFFLINE_AFTER + 20
    )
    assert offline[0]["data"]["reason"] == "heartbeat_expired"
    time.sleep(OFFLINE_AFTER + 1)
    assert len(worker_events(live, "worker_offline", doomed.hostname)) == 1
    assert len(worker_events(live, "worker_online", doomed.hostname)) == 1
    # Redis knew the running one online: it is not announced again.
    assert len(worker_events(live, "worker_online", second.hostname)) == 1
    assert worker_events(live, "worker_offline", second.hostname) == []

    # A monitor that starts with nothing in Redis reports a running worker online, once.
    monitor.stop()
    rt.redis.delete(fleet.INDEX, *rt.redis.scan_iter(f"{fleet.WORKER_PREFIX}*"))
    monitor.start()
    wait_until(lambda: len(worker_events(live, "worker_online", second.hostname)) == 2)
    time.sleep(3)
    assert len(worker_events(live, "worker_online", second.hostname)) == 2
    assert worker_events(live, "worker_offline", second.hostname) == []


def test_a_worker_restarted_under_its_name_goes_offline_then_online(live, monitor, start_worker):
    # A monitor slow to expire heartbeats: only the new process's announcement can tell.
    monitor.stop()
    patient = MonitorProcess({**monitor.env, "HARMONIA_WORKER_OFFLINE_AFTER": "60"}, monitor.log)
    patient.start()
    try:
        old = start_worker()
        wait_until(lambda: worker_events(live, "worker_online", old.hostname))
        old.kill()
        new = start_worker(name=old.queue)
        assert new.hostname == old.hostname
        online = wait_until(
            lambda: (found := worker_events(live, "worker_online", old.hostname))[1:] and found
        )
        offline = worker_events(live, "worker_offline", old.hostname)
        assert [e["data"]["reason"] for e in offline] == ["restarted"]
        assert offline[0]["data"]["pid"] == old.process.pid
        assert [e["data"]["pid"] for e in online] == [old.process.pid, new.process.pid]
        assert online[0]["event_id"] < offline[0]["event_id"] < online[1]["event_id"]
        assert listing(live)[new.hostname]["status"] == "online"
    finally:
        patient.stop()
        monitor.start()
