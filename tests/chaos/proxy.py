"""A controllable TCP proxy: the network between Harmonia's processes and a service.

Processes are pointed at the proxy instead of the service, so a scenario can break the network
without touching the service itself:

- ``block()``: every open connection is reset, and new ones are accepted and reset at once (the
  client sees the server vanish, as when a database fails over or a firewall drops the port)
  until ``unblock()``.
- ``freeze()``: connections stay open but no byte moves in either direction, and new
  connections are accepted and held too (a partitioned network, or a service hung in a long
  pause); ``thaw()`` lets everything held through, in order.
- ``sever()``: every open connection goes silent for good, without a word to the client: the
  service sees it closed, the client's side stays open and nothing it sends is ever answered (a
  load balancer or a NAT that forgot an idle connection). New connections work.

Each connection is two pump threads. A pump never reads while the proxy is frozen, so held bytes
stay in the kernel's socket buffers: a client killed while frozen still has what it wrote
delivered on thaw, exactly as TCP would deliver it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator

POLL = 0.1  # how often an idle pump re-checks the proxy's state


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer's next read fails at once, like a dropped port."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One proxied connection: client ⇄ upstream."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.severed = False

    def start(self) -> None:
        for src, dst in ((self.client, self.upstream), (self.upstream, self.client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        flowing = self.proxy.flowing
        try:
            while not self.closed.is_set():
                if not flowing.wait(POLL):
                    continue
                readable, _, _ = select.select([src], [], [], POLL)
                if not readable or not flowing.is_set():
                    continue  # frozen meanwhile: leave the bytes in the kernel's buffer
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            if not self.severed:  # a severed link keeps its client's side open, unread
                self.close(reset=False)

    def sever(self) -> None:
        self.severed = True
        with contextlib.suppress(OSError):
            self.upstream.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.upstream.close()

    def close(self, *, reset: bool) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if reset:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        self.proxy._forget(self)


class TcpProxy:
    """Listens on a free loopback port and forwards to ``upstream`` (``host``, ``port``)."""

    def __init__(self, name: str, upstream: tuple[str, int]):
        self.name = name
        self.upstream = upstream
        self.flowing = threading.Event()
        self.flowing.set()
        self._blocked = False
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(512)
        self._listener.settimeout(POLL)
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, name=f"proxy-{name}", daemon=True).start()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._links)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if self._blocked:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)  # the service itself is down: the client sees that
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, client, upstream)
            with self._lock:
                self._links.add(link)
            link.start()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _reset_all(self) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close(reset=True)

    def block(self) -> None:
        self._blocked = True
        self._reset_all()

    def unblock(self) -> None:
        self._blocked = False

    @contextlib.contextmanager
    def blocked(self) -> Iterator[None]:
        self.block()
        try:
            yield
        finally:
            self.unblock()

    def sever(self) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.sever()

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self._stopped.set()
        self.flowing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._reset_all()
