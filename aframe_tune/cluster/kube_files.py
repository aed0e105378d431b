"""The files kr8s writes a cluster's CA (and a client key and certificate) to: kept in one private
directory and removed once no connection uses them.

kr8s writes these files anew each time it loads a kubeconfig, that is at every connection and at
every re-authentication after a 401 (an exec credential that expired), and never removes them:
about 240 files an hour of searching. ``cluster/kube.py`` has kr8s create them here instead.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

# The paths a connection reads its files from, given the connection.
Referenced = Callable[[Any], Iterable[object]]


class CredentialFiles:
    """Temporary files of live connections; the others are removed at the next :meth:`sweep`
    and all of them when the process exits.

    A file is in use while it is being written, while a connection is being made (its object
    is not yet :meth:`adopt`-ed), and while an adopted connection names it.

    Args:
        referenced: the file paths a connection object currently uses.
    """

    def __init__(self, referenced: Referenced) -> None:
        self._referenced = referenced
        self._lock = threading.Lock()
        self._directory: Path | None = None
        self._busy = 0
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()

    def directory(self) -> Path:
        """The private directory (mode 0700), made on first use and removed at exit."""
        with self._lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="aframe-tune-kube-"))
                atexit.register(self.remove_all)
            return self._directory

    def files(self) -> list[Path]:
        """The files there now."""
        with self._lock:
            return [] if self._directory is None else sorted(self._directory.iterdir())

    def in_directory(self, factory: Callable[..., Any]) -> Callable[..., Any]:
        """``factory`` (kr8s's async ``NamedTemporaryFile``), making its files in :meth:`directory`."""

        @asynccontextmanager
        async def named_temporary_file(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            with self.busy():
                async with factory(*args, **{**kwargs, "dir": self.directory()}) as path:
                    yield path

        return named_temporary_file

    @contextmanager
    def busy(self) -> Iterator[None]:
        """No sweep while the block runs: a file it makes may not be named by its connection yet."""
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    def adopt(self, connection: Any) -> None:
        """Keep the files ``connection`` uses for as long as it lives and names them."""
        with self._lock:
            self._connections.add(connection)

    def sweep(self) -> None:
        """Remove the files that no live connection names, unless one is being made."""
        with self._lock:
            if self._busy or self._directory is None:
                return
            kept = {str(path) for connection in list(self._connections)
                    for path in self._referenced(connection) if path}
            for path in self._directory.iterdir():
                if str(path) not in kept:
                    path.unlink(missing_ok=True)

    def remove_all(self) -> None:
        """Remove the directory and every file in it (at exit)."""
        with self._lock:
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
                self._directory = None
