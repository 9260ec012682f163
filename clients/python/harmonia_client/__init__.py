"""Harmonia's Python client: the canonical ``/api/v1`` API, blocking (``Client``) or async
(``AsyncClient``).

    from harmonia_client import Client

    with Client() as harmonia:  # HARMONIA_URL, HARMONIA_API_KEY
        workflow = harmonia.create_workflow("hello", {"say": {"action": "builtin.echo"}})
        run = harmonia.execute_workflow(workflow["id"])
        for event in harmonia.stream_events(run["id"]):
            print(event["type"])
"""

from __future__ import annotations

from harmonia_client.aio import AsyncClient
from harmonia_client.errors import (
    Conflict,
    Forbidden,
    HarmoniaError,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from harmonia_client.sync import Client

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "Conflict",
    "Forbidden",
    "HarmoniaError",
    "NotFound",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
]
