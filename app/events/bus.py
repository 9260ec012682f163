"""Publishing events on Redis: one channel per run and one for everything (DESIGN §6)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

GLOBAL_CHANNEL = "harmonia:events"


def _database(redis_client) -> str:
    """Redis pub/sub ignores database numbers: deployments (or test suites) sharing one server on
    different databases would hear each other's events. Channels outside database 0 name theirs."""
    db = int(redis_client.connection_pool.connection_kwargs.get("db") or 0)
    return f"@{db}" if db else ""


def global_channel(redis_client) -> str:
    return GLOBAL_CHANNEL + _database(redis_client)


def run_channel(redis_client, run_id: str) -> str:
    return f"{GLOBAL_CHANNEL}{_database(redis_client)}:{run_id}"


def publish(redis_client, events: Iterable[dict[str, Any]]) -> None:
    """Best effort: events are already persisted, and late subscribers replay from the table."""
    pipe = redis_client.pipeline(transaction=False)
    everything = global_channel(redis_client)
    count = 0
    for event in events:
        payload = json.dumps(event, default=str)
        if event.get("run_id"):
            pipe.publish(run_channel(redis_client, event["run_id"]), payload)
        pipe.publish(everything, payload)
        count += 1
    if count:
        pipe.execute()
