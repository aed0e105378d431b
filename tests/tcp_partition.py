"""A TCP relay on loopback that can be cut: a network partition between this machine and a server.

Whatever goes through it (TLS included) is relayed byte for byte. While cut, every open
connection is closed and new ones are closed as soon as they are accepted, as a dropped route
looks to a client; healed, it relays again.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Partition:
    """Relays ``127.0.0.1:port`` to ``upstream_port`` on loopback until it is cut."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.cut = threading.Event()
        self.refused = 0
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="partition-accept").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self.cut.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def sever(self) -> None:
        """Cut the route: close every open connection, refuse new ones."""
        self.cut.set()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            self._close(sock)

    def heal(self) -> None:
        self.cut.clear()

    def close(self) -> None:
        self.sever()
        self._listener.close()


@contextmanager
def partition(upstream_port: int) -> Iterator[Partition]:
    relay = Partition(upstream_port)
    try:
        yield relay
    finally:
        relay.close()
