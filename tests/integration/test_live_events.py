"""The live event feed, with real WebSocket and SSE clients against gunicorn, a real worker and
real Redis: history for late subscribers, no gap and no duplicate, resume, ping/pong."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
from simple_websocket import Client, ConnectionClosed

from app.events.bus import publish
from app.events.hub import CLIENT_NAME, Hub
from app.events.model import render_event
from app.models import Event
from tests.chaos.proxy import TcpProxy
from tests.integration.api_support import ADMIN, ws_collect
from tests.integration.helpers import create_workflow, execute, sleep_chain, wait_for_run


def close(ws) -> None:
    with contextlib.suppress(ConnectionClosed):  # the server may have closed first
        ws.close()


def run_events(client, run_id: str, hide: frozenset[str] | set[str] = frozenset()) -> list[int]:
    items = client.get(f"/api/v1/runs/{run_id}/events?page_size=100").json["items"]
    return [e["event_id"] for e in items if e["type"] not in hide]


def sse_collect(
    url: str, headers=None, limit: int | None = None, timeout: float = 30, events=None
) -> list[dict]:
    """The stream's events, appended to ``events`` (a new list by default) as they arrive."""
    events = [] if events is None else events
    headers = {**ADMIN, **(headers or {})}
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":") or line.startswith("retry:"):
                continue
            if line == "":
                if "data" in current:
                    event = json.loads(current["data"])
                    assert int(current["id"]) == event["event_id"]
                    assert current["event"] == event["type"]
                    events.append(event)
                    if limit and len(events) >= limit:
                        break
                current = {}
                continue
            key, _, value = line.partition(": ")
            current[key] = value
    return events


def test_late_websocket_subscriber_gets_the_whole_history(live, server):
    workflow = create_workflow(
        live, {"tasks": {"t": {"action": "builtin.echo", "input": {"x": 1}}}}
    )
    run_id = execute(live, workflow["id"])
    assert wait_for_run(live, run_id)["status"] == "COMPLETED"
    got = ws_collect(f"ws://{server}/ws/executions/{run_id}")
    assert [e["event_id"] for e in got] == run_events(live, run_id)
    assert got[-1]["event_type"] == "workflow_completed"  # seed 000 clients close on this
    assert got[-2]["type"] == "execution_completed"
    completed = next(e for e in got if e["type"] == "task_completed")
    assert completed["execution_id"] == run_id and completed["task_id"] == "t"
    assert completed["data"]["step_id"] == "t" and completed["details"]["output"] == {"x": 1}


@pytest.mark.parametrize("path", ["/ws/executions", "/ws/harmonia/executions"])
def test_subscriber_from_the_start_sees_every_event_once_in_order(live, server, path):
    workflow = create_workflow(live, sleep_chain(4, 0.3))
    run_id = execute(live, workflow["id"])
    got = ws_collect(f"ws://{server}{path}/{run_id}")
    ids = [e["event_id"] for e in got]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    stored = run_events(live, run_id)
    if path == "/ws/harmonia/executions":  # seed 001 leaves out seed 000's workflow_completed
        assert ids == stored[:-1] and got[-1]["type"] == "execution_completed"
    else:
        assert ids == stored and got[-1]["type"] == "workflow_completed"


def test_sse_reconnect_with_last_event_id_loses_nothing(live, server):
    workflow = create_workflow(live, sleep_chain(5, 0.3))
    run_id = execute(live, workflow["id"])
    url = f"http://{server}/events/executions/{run_id}"
    first = sse_collect(url, limit=3)
    rest = sse_collect(url, headers={"Last-Event-ID": str(first[-1]["event_id"])})
    ids = [e["event_id"] for e in first + rest]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert ids == run_events(live, run_id), "an event was lost across the reconnect"
    assert rest[-1]["type"] == "workflow_completed"


def _committed(rt, run_id: str, message: str) -> Event:
    """An event of the run, stored as a worker stores one (not published)."""
    with rt.db.transaction() as session:
        event = Event(run_id=run_id, task_id="s0", type="task_progress", message=message)
        event.data = {"progress": 50, "message": message}
        session.add(event)
    return event


def test_events_whose_publish_was_lost_reach_a_live_client_after_the_hub_reconnects(
    live, rt, server
):
    """Tasks running at once commit and publish in any order, and a publish made while Redis is
    away reaches nobody: a live client may get an event before one with a lower id that was
    never published. Once the API's hub has lost Redis and subscribed again, the stream reads the
    run from the table and sends it what it missed."""
    run_id = execute(live, create_workflow(live, sleep_chain(2, 2.5))["id"])
    got: list[dict] = []
    reader = threading.Thread(
        target=sse_collect,
        args=(f"http://{server}/events/executions/{run_id}",),
        kwargs={"timeout": 60, "events": got},
        daemon=True,
    )
    reader.start()

    def received(event_id: int) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(e["event_id"] == event_id for e in list(got)):
                return True
            time.sleep(0.05)
        return False

    deadline = time.monotonic() + 15
    while not any(e["type"] == "task_started" for e in list(got)):
        assert time.monotonic() < deadline, "the stream did not start"
        time.sleep(0.05)
    lost = _committed(rt, run_id, "its publish was lost")
    later = _committed(rt, run_id, "published")
    publish(rt.redis, [render_event(later)])
    assert received(later.id), "the published event did not reach the client"
    # The API's hub loses its connection, as in a Redis restart or a network cut.
    db = rt.redis.connection_pool.connection_kwargs.get("db") or 0
    hubs = [
        c["id"] for c in rt.redis.client_list() if c["name"] == CLIENT_NAME and int(c["db"]) == db
    ]
    assert hubs, "no event hub connection to cut"
    for client_id in hubs:
        rt.redis.client_kill_filter(_id=client_id)
    assert received(lost.id), "the event committed before the cut never reached the client"
    reader.join(timeout=45)
    assert not reader.is_alive(), "the stream did not end with the run"
    ids = [e["event_id"] for e in got]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert sorted(ids) == run_events(live, run_id)
    assert ids.index(lost.id) > ids.index(later.id)  # sent when found: after the later one


def test_the_hub_takes_a_silently_dropped_connection_for_dead_and_subscribes_again(settings):
    """A load balancer or a NAT may forget an idle connection without a word to either end: the
    hub's PING then goes unanswered, and it subscribes again on a new connection (its streams
    then read what they missed from the table)."""
    url = urlsplit(settings.redis_url)
    proxy = TcpProxy("redis", (url.hostname, url.port or 6379))
    auth = url.netloc.rpartition("@")[0]
    proxied = urlunsplit(url._replace(netloc=f"{auth}{'@' if auth else ''}127.0.0.1:{proxy.port}"))
    hub = Hub(proxied, ping_every=0.3)
    direct = redis.Redis.from_url(settings.redis_url)
    try:
        subscription = hub.subscribe("run-behind-a-nat")

        def arrives(event_id: int) -> bool:
            publish(direct, [{"run_id": "run-behind-a-nat", "event_id": event_id}])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                item = subscription.get(0.2)
                if item is not None and item[0]["event_id"] == event_id:
                    return True
            return False

        assert arrives(1)
        epoch = hub.epoch
        proxy.sever()
        deadline = time.monotonic() + 10
        while hub.epoch == epoch:
            assert time.monotonic() < deadline, "the hub never noticed its connection was dead"
            time.sleep(0.05)
        assert arrives(2), "the hub did not hear events after subscribing again"
    finally:
        hub.stop()
        proxy.close()
        direct.close()


def test_sse_history_for_a_finished_run_and_404_for_an_unknown_one(live, server):
    workflow = create_workflow(live, {"tasks": {"t": {"action": "builtin.noop"}}})
    run_id = execute(live, workflow["id"])
    wait_for_run(live, run_id)
    events = sse_collect(f"http://{server}/events/executions/{run_id}")
    assert [e["event_id"] for e in events] == run_events(live, run_id)
    missing = httpx.get(f"http://{server}/events/executions/nope", headers=ADMIN)
    assert missing.status_code == 404  # in seed 000's format: the path is its
    assert missing.json()["error"]["message"] == "Execution with id 'nope' not found"


def test_websocket_ping_pong_and_resume_with_subscribe(live, server):
    workflow = create_workflow(live, {"tasks": {"t": {"action": "builtin.noop"}}})
    run_id = execute(live, workflow["id"])
    wait_for_run(live, run_id)
    all_ids = run_events(live, run_id)
    ws = Client.connect(
        f"ws://{server}/ws/executions/{run_id}?after_event_id={all_ids[-1]}", headers=ADMIN
    )
    try:
        ws.send(json.dumps({"type": "ping"}))
        pong = json.loads(ws.receive(timeout=5))
        assert pong["type"] == "pong" and pong["timestamp"].endswith("Z")
        ws.send(json.dumps({"type": "subscribe", "after_event_id": all_ids[1]}))
        resumed = []
        while True:
            raw = ws.receive(timeout=5)
            if raw is None:
                break
            resumed.append(json.loads(raw))
    except ConnectionClosed:
        pass
    finally:
        close(ws)
    assert [e["event_id"] for e in resumed] == all_ids[2:]


def test_unknown_run_socket_says_so(server):
    got = ws_collect(f"ws://{server}/ws/executions/does-not-exist", timeout=5)
    assert got == [
        {"type": "error", "code": "not_found", "message": "Run with id 'does-not-exist' not found"}
    ]


def test_global_stream_sees_two_concurrent_runs(live, server):
    workflow = create_workflow(live, sleep_chain(2, 0.2))
    ready = threading.Event()
    got: list[dict] = []
    runs: set[str] = set()  # ours; the stream carries every run on this Redis

    def listen() -> None:
        ws = Client.connect(f"ws://{server}/ws/events", headers=ADMIN)
        ready.set()
        deadline = time.monotonic() + 30
        finished: set[str] = set()
        try:
            while time.monotonic() < deadline and not (runs and finished >= runs):
                raw = ws.receive(timeout=1)
                if raw:
                    event = json.loads(raw)
                    got.append(event)
                    if event["type"] == "execution_completed":
                        finished.add(event["execution_id"])
        finally:
            close(ws)

    listener = threading.Thread(target=listen)
    listener.start()
    ready.wait(10)
    time.sleep(0.3)  # the socket is subscribed once the server has accepted it
    runs.update({execute(live, workflow["id"]), execute(live, workflow["id"])})
    listener.join(40)
    completed = {e["execution_id"] for e in got if e["type"] == "execution_completed"}
    assert runs <= completed
    for run_id in runs:
        ids = [int(e["event_id"]) for e in got if e["execution_id"] == run_id]
        # Seed 004's stream: every event of the run but seed 000's second name of a completion.
        assert ids == run_events(live, run_id, hide={"workflow_completed"})


def test_an_invocation_streams_its_progress_like_a_task(live, server):
    command = "echo first; sleep 0.3; echo second"
    response = live.post(
        "/api/v1/integrations/cli/capabilities/execute_command",
        json={"parameters": {"command": command, "shell": True}},
    )
    assert response.status_code == 202, response.json
    invocation_id = response.json["id"]
    got = ws_collect(f"ws://{server}/ws/invocations/{invocation_id}")
    types = [e["type"] for e in got]
    assert types[0] == "invocation_started" and types[-1] == "invocation_completed", types
    assert "step_output" in types
    output = "\n".join(e["data"]["line"] for e in got if e["type"] == "step_output")
    assert "first" in output and "second" in output
    assert all(e["invocation_id"] == invocation_id and e["run_id"] is None for e in got)
    stored = live.get(f"/api/v1/events?invocation_id={invocation_id}&page_size=100").json
    assert [e["event_id"] for e in got] == [e["event_id"] for e in stored["items"]]
    replayed = sse_collect(f"http://{server}/events/invocations/{invocation_id}")
    assert [e["event_id"] for e in replayed] == [e["event_id"] for e in got]


def test_unknown_invocation_stream_says_so(server):
    got = ws_collect(f"ws://{server}/ws/invocations/no-such-invocation", timeout=5)
    assert got == [
        {
            "type": "error",
            "code": "not_found",
            "message": "Invocation with id 'no-such-invocation' not found",
        }
    ]
    response = httpx.get(f"http://{server}/events/invocations/no-such", headers=ADMIN)
    assert response.status_code == 404
