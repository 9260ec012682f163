"""Where the client finds its server and key: arguments first, then the environment.

``HARMONIA_URL`` (default ``http://127.0.0.1:8002``, the port ``make dev`` serves) and
``HARMONIA_API_KEY`` (sent as ``Authorization: Bearer …``) are read here and nowhere else, once,
when a client is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_URL = "http://127.0.0.1:8002"
URL_VARIABLE = "HARMONIA_URL"
KEY_VARIABLE = "HARMONIA_API_KEY"


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    api_key: str | None
    timeout: float
    retries: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def env_url(default: str = DEFAULT_URL) -> str:
    return os.environ.get(URL_VARIABLE) or default


def env_api_key() -> str | None:
    return os.environ.get(KEY_VARIABLE) or None


def resolve(
    base_url: str | None, api_key: str | None, timeout: float, retries: int
) -> ClientConfig:
    """The configuration a client runs with: each argument left ``None`` comes from the
    environment."""
    if retries < 0:
        raise ValueError("retries must be 0 or more")
    return ClientConfig(
        base_url=(base_url or env_url()).rstrip("/"),
        api_key=api_key if api_key is not None else env_api_key(),
        timeout=timeout,
        retries=retries,
    )
