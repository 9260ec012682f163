"""Opt-in record of broker message sizes (``HARMONIA_RECORD_MESSAGE_SIZES=true``).

Every task message published by this process (API or worker) adds its serialised size to a Redis
sorted set, so ``make bench`` can report the largest message Harmonia or bare Celery sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from celery.signals import before_task_publish

KEY = "harmonia:stats:message_bytes"
_connected = {"redis": None}


def message_bytes(body: Any, headers: Mapping[str, Any] | None) -> int:
    """The size a published task message is counted at: its body and headers as JSON."""
    return len(json.dumps(body, default=str)) + len(json.dumps(headers or {}, default=str))


def _record(sender=None, body=None, headers=None, **_kwargs) -> None:
    client = _connected["redis"]
    if client is None:
        return
    size = message_bytes(body, headers)
    task_id = (headers or {}).get("id", "")
    with contextlib.suppress(Exception):
        client.zadd(KEY, {f"{sender}:{task_id}": size})


def enable(redis_client) -> None:
    if _connected["redis"] is None:
        before_task_publish.connect(_record, weak=False)
    _connected["redis"] = redis_client


def disable() -> None:
    """Stop recording in this process."""
    before_task_publish.disconnect(_record)
    _connected["redis"] = None


def largest(redis_client) -> tuple[str, int] | None:
    top = redis_client.zrevrange(KEY, 0, 0, withscores=True)
    return (top[0][0], int(top[0][1])) if top else None


def reset(redis_client) -> None:
    redis_client.delete(KEY)
