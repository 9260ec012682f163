"""A webhook receiver for the bench, in its own process (the endpoints are other machines; here
they must not share the bench's interpreter): answers every POST with 200 and counts delivery
ids; ``GET /stats`` → ``{"requests": n, "unique": u}``, ``GET /ids`` → every id received.

``python -m bench.receiver PORT``
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app.cli import lower_priority

seen: Counter[str] = Counter()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers answer
    # One write per answer, sent at once (as a real server does): unbuffered headers and body in
    # two writes meet the client's delayed ACK and cost 40 ms each.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            seen[self.headers.get("X-Harmonia-Delivery", "")] += 1
        self._send(b"ok")

    def do_GET(self) -> None:  # noqa: N802
        with lock:
            if self.path == "/ids":
                body = json.dumps(dict(seen)).encode()
            else:
                body = json.dumps({"requests": sum(seen.values()), "unique": len(seen)}).encode()
        self._send(body)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


def main() -> None:
    # The endpoints stand for other machines: on the bench's own cores they yield to Harmonia,
    # as Harmonia's notifier does (HARMONIA_NOTIFY_NICE), in a session of their own.
    lower_priority(19)
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
