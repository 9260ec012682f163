"""When to send a request again, and how long to wait first.

- 429 and 503 mean the server did not do the work: every method is retried, after the
  ``Retry-After`` the server asked for (seconds or an HTTP date), capped so a confused server cannot
  park a client for an hour; without the header, after an exponential backoff.
- A connection that could not be opened sent nothing, so every method is retried. A connection
  that broke mid-request may have done the work: only idempotent methods are retried then.
- Other timeouts are raised: waiting ``timeout`` again rarely helps.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_RETRY_AFTER = 30.0  # seconds: the longest Retry-After honoured
BASE_BACKOFF = 0.5
MAX_BACKOFF = 10.0

NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
BROKEN_MID_REQUEST = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s… for attempts 0, 1, 2…, at most ``MAX_BACKOFF``."""
    return min(MAX_BACKOFF, BASE_BACKOFF * 2**attempt)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait, from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_delay(response: httpx.Response, attempt: int) -> float:
    asked = parse_retry_after(response.headers.get("Retry-After"))
    return backoff(attempt) if asked is None else min(asked, MAX_RETRY_AFTER)


def retries_status(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def retries_exception(method: str, error: Exception) -> bool:
    if isinstance(error, NOTHING_SENT):
        return True
    return isinstance(error, BROKEN_MID_REQUEST) and method.upper() in IDEMPOTENT
