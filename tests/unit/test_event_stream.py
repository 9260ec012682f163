"""The live stream's delivery rules, without services: dedupe, resume, overflow, finish."""

from __future__ import annotations

import json

import pytest

from app.events import stream as stream_module
from app.events.hub import Hub
from app.events.stream import Delivery, EventStream, Overflow


class FakeHub(Hub):
    """A hub whose Redis listener is replaced by direct dispatch."""

    def __init__(self, buffer: int = 1000):
        super().__init__("redis://unused", buffer=buffer)

    def _ensure_listening(self) -> None:
        pass

    def publish(self, event: dict) -> None:
        self._dispatch(json.dumps(event))


def event(event_id: int, run_id: str = "r1", type_: str = "task_started") -> dict:
    return {"event_id": event_id, "run_id": run_id, "type": type_}


@pytest.fixture
def past(monkeypatch):
    stored: list[dict] = []

    def fake_past(_rt, scope, after, skip=()):
        for item in stored:
            mine = (
                item.get("run_id") == scope.run_id
                if scope.run_id
                else item.get("invocation_id") == scope.invocation_id
                if scope.invocation_id
                else True
            )
            if item["event_id"] > after and mine and item["event_id"] not in skip:
                yield Delivery(item, json.dumps(item))

    monkeypatch.setattr(stream_module, "_past", fake_past)
    return stored


def test_history_then_live_without_duplicates(past):
    hub = FakeHub()
    past.extend([event(1), event(2)])
    live = EventStream(None, hub, "r1", after=None)
    hub.publish(event(2))  # committed before the replay read it: delivered once only
    hub.publish(event(3))
    hub.publish(event(4, run_id="other"))  # another run's event never reaches this stream
    got = [live.next(timeout=0.01) for _ in range(4)]
    assert [d.event["event_id"] for d in got if d] == [1, 2, 3]
    assert got[-1] is None


def test_resume_after_an_event_id(past):
    hub = FakeHub()
    past.extend([event(i) for i in range(1, 6)])
    live = EventStream(None, hub, "r1", after=3)
    assert [live.next(timeout=0.01).event["event_id"] for _ in range(2)] == [4, 5]
    live.restart(1)
    assert [live.next(timeout=0.01).event["event_id"] for _ in range(4)] == [2, 3, 4, 5]


def test_a_slow_client_overflows_without_blocking_the_hub(past):
    hub = FakeHub(buffer=3)
    slow = EventStream(None, hub, "r1", after=None)
    fast = EventStream(None, hub, "r1", after=None)
    for i in range(1, 6):
        hub.publish(event(i))  # never blocks, whatever the clients do
        assert fast.next(timeout=0.01).event["event_id"] == i
    with pytest.raises(Overflow):
        slow.next(timeout=0.01)
    assert hub.connections == 2
    slow.close()
    assert hub.connections == 1


def test_the_all_runs_stream_starts_live(past):
    hub = FakeHub()
    past.append(event(1))
    everything = EventStream(None, hub, None, after=None)
    hub.publish(event(2, run_id="a"))
    hub.publish(event(3, run_id="b"))
    got = [everything.next(timeout=0.01).event["event_id"] for _ in range(2)]
    assert got == [2, 3]


def test_a_hub_reconnect_replays_what_the_stream_missed(past):
    hub = FakeHub()
    live = EventStream(None, hub, "r1", after=None)
    assert live.next(timeout=0.01) is None  # the (empty) history is read
    past.append(event(1))
    hub.publish(event(1))
    assert live.next(timeout=0.01).event["event_id"] == 1
    # Redis restarts: event 2 is committed, but its publish is lost with the connection.
    past.append(event(2))
    assert live.next(timeout=0.01) is None
    hub.epoch += 1  # the hub has reconnected
    hub.publish(event(3))
    past.append(event(3))
    got = [live.next(timeout=0.01) for _ in range(3)]
    assert [d.event["event_id"] for d in got if d] == [2, 3]


def test_a_hub_reconnect_replays_a_lost_event_with_a_lower_id_than_one_sent(past):
    hub = FakeHub()
    live = EventStream(None, hub, "r1", after=None)
    assert live.next(timeout=0.01) is None
    # Two tasks at once: 2 commits, then 3; 3 is published first, and 2's publish is lost.
    past.extend([event(2), event(3)])
    hub.publish(event(3))
    assert live.next(timeout=0.01).event["event_id"] == 3
    hub.epoch += 1
    got = [live.next(timeout=0.01) for _ in range(2)]
    assert [d.event["event_id"] for d in got if d] == [2]


def test_a_resumed_stream_replays_from_where_it_resumed_after_a_reconnect(past):
    hub = FakeHub()
    past.extend([event(i) for i in range(1, 5)])
    live = EventStream(None, hub, "r1", after=None)
    assert [live.next(timeout=0.01).event["event_id"] for _ in range(4)] == [1, 2, 3, 4]
    live.restart(2)  # the client has 1 and 2
    assert [live.next(timeout=0.01).event["event_id"] for _ in range(2)] == [3, 4]
    past.append(event(5))
    hub.epoch += 1
    got = [live.next(timeout=0.01) for _ in range(2)]
    assert [d.event["event_id"] for d in got if d] == [5]


def test_the_all_runs_stream_replays_after_its_last_event_after_a_reconnect(past):
    hub = FakeHub()
    everything = EventStream(None, hub, None, after=None)
    past.extend([event(1, run_id="a"), event(2, run_id="b")])
    hub.publish(event(2, run_id="b"))
    assert everything.next(timeout=0.01).event["event_id"] == 2
    past.append(event(3, run_id="a"))
    hub.epoch += 1
    got = [everything.next(timeout=0.01) for _ in range(2)]
    assert [d.event["event_id"] for d in got if d] == [3]


def test_the_all_runs_stream_remembers_only_its_latest_ids(past, monkeypatch):
    monkeypatch.setattr(stream_module, "GLOBAL_SENT_KEPT", 5)
    hub = FakeHub()
    everything = EventStream(None, hub, None, after=None)
    one_run = EventStream(None, hub, "r1", after=None)
    for i in range(1, 31):
        hub.publish(event(i))
        assert everything.next(timeout=0.01).event["event_id"] == i
        assert one_run.next(timeout=0.01).event["event_id"] == i
    assert len(everything.sent) <= 10 and max(everything.sent) == 30
    assert len(one_run.sent) == 30  # a run's stream may read the run again: it keeps them all
    hub.publish(event(30))  # a duplicate of a recent event is still caught
    assert everything.next(timeout=0.01) is None


def test_an_invocation_stream_carries_its_own_events_and_ends_with_it(past):
    hub = FakeHub()
    mine = {"event_id": 1, "run_id": None, "invocation_id": "i1", "type": "invocation_started"}
    past.append(mine)
    live = EventStream(None, hub, None, after=None, invocation_id="i1")
    assert live.next(timeout=0.01).event == mine
    hub.publish({**mine, "event_id": 2, "invocation_id": "i2"})  # another invocation's
    done = {**mine, "event_id": 3, "type": "invocation_completed"}
    hub.publish(done)
    delivery = live.next(timeout=0.01)
    assert delivery.event == done and live.finished(delivery.event)
