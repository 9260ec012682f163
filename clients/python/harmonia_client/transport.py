"""Sending one ``Call`` with retries, over blocking or async httpx, and reading the answer.

The retry decisions live in ``retrying``; here is only the loop, once per I/O style.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from harmonia_client.calls import Call
from harmonia_client.config import ClientConfig
from harmonia_client.errors import error_for
from harmonia_client.retrying import backoff, retries_exception, retries_status, status_delay

USER_AGENT = "harmonia-client-python/0.1.0"


def decode(response: httpx.Response) -> Any:
    """The answer's JSON (``None`` for an empty one); a typed error for a non-2xx answer."""
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = response.text
    if response.is_error:
        raise error_for(response.status_code, body, response.reason_phrase)
    return body


def http_options(config: ClientConfig) -> dict[str, Any]:
    return {
        "base_url": config.base_url,
        "headers": {**config.headers, "User-Agent": USER_AGENT},
        "timeout": config.timeout,
    }


def send(http: httpx.Client, retries: int, call: Call) -> Any:
    attempt = 0
    while True:
        try:
            response = http.request(call.method, call.path, params=call.params, json=call.json)
        except httpx.TransportError as error:
            if attempt >= retries or not retries_exception(call.method, error):
                raise
            time.sleep(backoff(attempt))
        else:
            if attempt >= retries or not retries_status(response):
                return decode(response)
            time.sleep(status_delay(response, attempt))
        attempt += 1


async def send_async(http: httpx.AsyncClient, retries: int, call: Call) -> Any:
    attempt = 0
    while True:
        try:
            response = await http.request(
                call.method, call.path, params=call.params, json=call.json
            )
        except httpx.TransportError as error:
            if attempt >= retries or not retries_exception(call.method, error):
                raise
            await asyncio.sleep(backoff(attempt))
        else:
            if attempt >= retries or not retries_status(response):
                return decode(response)
            await asyncio.sleep(status_delay(response, attempt))
        attempt += 1
