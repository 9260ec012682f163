"""Publishing events on Redis: one channel per run and one for everything (DESIGN §6)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

GLOBAL_CHANNEL = "harmonia:events"


def run_channel(run_id: str) -> str:
    return f"harmonia:events:{run_id}"


def publish(redis_client, events: Iterable[dict[str, Any]]) -> None:
    """Best effort: events are already persisted, and late subscribers replay from the table."""
    pipe = redis_client.pipeline(transaction=False)
    count = 0
    for event in events:
        payload = json.dumps(event, default=str)
        if event.get("run_id"):
            pipe.publish(run_channel(event["run_id"]), payload)
        pipe.publish(GLOBAL_CHANNEL, payload)
        count += 1
    if count:
        pipe.execute()
