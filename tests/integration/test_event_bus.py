"""The event bus's round trip on real Redis (``app/events/bus.py``): commands sent on a pooled
connection without a pipeline, whose replies are all read, whose lost connection is
reconnected, and whose events reach a subscriber in order."""

from __future__ import annotations

import json
import time

import pytest
import redis

from app.events import bus


@pytest.fixture
def client(settings):
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    yield client
    client.close()


def test_an_error_reply_is_raised_after_every_reply_was_read(client):
    client.set("bus-test:text", "not a number")
    with pytest.raises(redis.ResponseError):
        bus.send(client, [("INCR", "bus-test:text"), ("SET", "bus-test:after", "1")])
    assert client.get("bus-test:after") == "1"  # the command after the error ran
    # The connection went back to the pool with nothing left unread: the next replies are its own.
    assert bus.send(client, [("SET", "bus-test:n", "41"), ("INCR", "bus-test:n")]) == ["OK", 42]


def test_a_connection_the_server_closed_is_reconnected_and_the_commands_sent_again(client):
    assert bus.send(client, [("CLIENT", "SETNAME", "bus-test-victim")]) == ["OK"]
    victims = [c["id"] for c in client.client_list() if c.get("name") == "bus-test-victim"]
    assert victims
    client.client_kill_filter(_id=victims[0])
    assert bus.send(client, [("SET", "bus-test:again", "yes")]) == ["OK"]
    assert client.get("bus-test:again") == "yes"


def test_published_events_reach_a_subscriber_in_order_on_both_channels(client):
    subscriber = client.pubsub(ignore_subscribe_messages=True)
    run_channel = bus.run_channel(client, "bus-test-run")
    subscriber.subscribe(run_channel, bus.global_channel(client))
    try:
        events = [{"id": n, "run_id": "bus-test-run", "type": "task_completed"} for n in range(5)]
        bus.publish(client, events)
        bus.publish(client, [{"id": 5, "type": "worker_online"}])  # no run: the global channel
        received: dict[str, list[int]] = {}
        deadline = time.monotonic() + 10
        while sum(len(ids) for ids in received.values()) < 11:
            assert time.monotonic() < deadline, received
            message = subscriber.get_message(timeout=1)  # None also for a subscription's reply
            if message is None:
                continue
            received.setdefault(message["channel"], []).append(json.loads(message["data"])["id"])
        assert received == {
            run_channel: [0, 1, 2, 3, 4],
            bus.global_channel(client): [0, 1, 2, 3, 4, 5],
        }
    finally:
        subscriber.close()
