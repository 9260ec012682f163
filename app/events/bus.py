"""Publishing events on Redis: one channel per run and one for everything (DESIGN §6)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from redis.exceptions import ConnectionError, TimeoutError

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
    everything = global_channel(redis_client)
    commands: list[tuple[str, ...]] = []
    for event in events:
        payload = json.dumps(event, default=str)
        if event.get("run_id"):
            commands.append(("PUBLISH", run_channel(redis_client, event["run_id"]), payload))
        commands.append(("PUBLISH", everything, payload))
    if commands:
        send(redis_client, commands)


def send(redis_client, commands: Sequence[tuple[str, ...]]) -> list[Any]:
    """The commands in one round trip on a connection of the client's pool, as a pipeline sends
    them, for half its CPU: a pipeline's per-command bookkeeping costs more than the round trip
    (a worker publishes twice per task). A lost connection is reconnected and the commands sent
    once more, as the client's own retry would; a second failure is raised."""
    pool = redis_client.connection_pool
    connection = pool.get_connection()
    try:
        try:
            return _round_trip(connection, commands)
        except (ConnectionError, TimeoutError):
            connection.disconnect()
            return _round_trip(connection, commands)
    finally:
        pool.release(connection)


def _round_trip(connection, commands: Sequence[tuple[str, ...]]) -> list[Any]:
    connection.send_packed_command(connection.pack_commands(commands))
    return [connection.read_response() for _ in commands]
