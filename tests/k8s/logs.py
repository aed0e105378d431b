"""Container logs as the kubelet keeps them, for ``GET .../pods/NAME/log``.

Whoever plays the kubelet (the pod simulator) appends each container's output as it is written
and closes the container's log when it ends; a new run of the same container (a restart) starts a
new log and keeps one previous, as the kubelet does (``previous=true``). Readers get the text so
far, or follow it until the container ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Key = tuple[str, str, str]  # namespace, pod, container


@dataclass
class _Log:
    data: bytearray = field(default_factory=bytearray)
    closed: bool = False


class PodLogs:
    """Every container's current and previous log (thread-safe)."""

    def __init__(self) -> None:
        self._current: dict[Key, _Log] = {}
        self._previous: dict[Key, _Log] = {}
        self._changed = threading.Condition()

    def start(self, namespace: str, pod: str, container: str) -> None:
        """A (re)started container: its log so far becomes the previous one."""
        with self._changed:
            key = (namespace, pod, container)
            if key in self._current:
                self._current[key].closed = True
                self._previous[key] = self._current[key]
            self._current[key] = _Log()
            self._changed.notify_all()

    def append(self, namespace: str, pod: str, container: str, data: bytes) -> None:
        with self._changed:
            log = self._current.setdefault((namespace, pod, container), _Log())
            log.data += data
            self._changed.notify_all()

    def close(self, namespace: str, pod: str, container: str) -> None:
        """The container ended: followers stop at the end of its output."""
        with self._changed:
            self._current.setdefault((namespace, pod, container), _Log()).closed = True
            self._changed.notify_all()

    def replace(self, namespace: str, pod: str, container: str, text: str) -> None:
        """Set a whole (closed) log at once."""
        with self._changed:
            self._current[(namespace, pod, container)] = _Log(bytearray(text.encode()), closed=True)
            self._changed.notify_all()

    def forget(self, namespace: str, pod: str) -> None:
        """A deleted pod's logs go with it; followers stop."""
        with self._changed:
            for logs in (self._current, self._previous):
                for key in [k for k in logs if k[:2] == (namespace, pod)]:
                    logs.pop(key).closed = True
            self._changed.notify_all()

    def has(self, namespace: str, pod: str, container: str, previous: bool = False) -> bool:
        with self._changed:
            return (namespace, pod, container) in (self._previous if previous else self._current)

    def read(self, namespace: str, pod: str, container: str, *, previous: bool = False,
             tail_lines: int | None = None, limit_bytes: int | None = None) -> bytes:
        """The log so far (empty if the container has not written anything)."""
        with self._changed:
            log = (self._previous if previous else self._current).get((namespace, pod, container))
            data = bytes(log.data) if log else b""
        return _limit(_tail(data, tail_lines), limit_bytes)

    def follow(self, namespace: str, pod: str, container: str, *, tail_lines: int | None = None,
               stop: Callable[[], bool] = lambda: False) -> Iterator[bytes]:
        """The log so far, then each new piece until the container ends or ``stop()`` says so."""
        key = (namespace, pod, container)
        with self._changed:
            log = self._current.setdefault(key, _Log())
            sent = len(log.data)
            first = _tail(bytes(log.data), tail_lines)
        if first:
            yield first
        while True:
            with self._changed:
                self._changed.wait_for(lambda sent=sent: len(log.data) > sent or log.closed, timeout=1.0)
                piece, closed = bytes(log.data[sent:]), log.closed
                sent += len(piece)
            if piece:
                yield piece
            elif closed or stop():
                return


def _tail(data: bytes, lines: int | None) -> bytes:
    if lines is None:
        return data
    if lines <= 0:
        return b""
    kept = data.splitlines(keepends=True)[-lines:]
    return b"".join(kept)


def _limit(data: bytes, limit: int | None) -> bytes:
    return data if limit is None else data[:limit]
