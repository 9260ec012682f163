"""A real webhook receiver for the tests: a threaded HTTP server on 127.0.0.1 that records every
request (raw body included, for signatures) and answers as a test tells it to."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    at: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def delivery_id(self) -> str:
        return self.headers["X-Harmonia-Delivery"]


@dataclass
class Receiver:
    url: str
    # The status to answer the n-th request with (0-based), and seconds to wait before answering.
    answer: Callable[[int], int] = lambda n: 200
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < deadline, (
                f"{len(self.requests)} of {count} deliveries arrived in {timeout}s"
            )
            time.sleep(0.05)
        return list(self.requests)

    def wait_for_ids(self, ids: set[str], timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while not ids <= {r.delivery_id for r in self.requests}:
            assert time.monotonic() < deadline, (
                f"missing {len(ids - {r.delivery_id for r in self.requests})} of {len(ids)}"
            )
            time.sleep(0.05)
        return list(self.requests)


@contextmanager
def receiver(
    answer: Callable[[int], int] = lambda n: 200, delay: float = 0.0, port: int = 0
) -> Iterator[Receiver]:
    state = Receiver(url="", answer=answer, delay=delay)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                number = len(state.requests)
                state.requests.append(Received(dict(self.headers), raw, time.monotonic()))
            if state.delay:
                time.sleep(state.delay)
            self.send_response(state.answer(number))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def readme_receiver(secret: str):
    """The Flask receiver the README prints under "Verifying signatures", with ``secret``: run as
    written, so the README's code is what the tests trust."""
    text = README.read_text()
    section = text[text.index("### Verifying signatures") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'SECRET = "whsec_…"' in code, "the README's receiver changed shape"
    namespace: dict[str, Any] = {"__name__": "readme_receiver"}
    exec(code.replace('SECRET = "whsec_…"', f"SECRET = {secret!r}"), namespace)  # noqa: S102
    return namespace["app"].test_client()
