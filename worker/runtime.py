"""The worker process's runtime: built lazily, rebuilt after a fork (never share sockets)."""

from __future__ import annotations

import os

from app.runtime import Runtime
from config.settings import Settings

_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        _runtime = Runtime.build(Settings.from_env())
    return _runtime


def reset_runtime() -> None:
    global _runtime
    _runtime = None
