"""One driver per run directory: a second ``run.sh`` on the same experiment is refused."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aframe_tune.errors import RunDirectoryBusyError

LOCK_FILE = ".aframe-tune.lock"


@contextmanager
def run_directory_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` for the life of the search.

    An advisory ``flock``, so the kernel drops it when the holder dies, even by SIGKILL: a
    crashed driver never leaves a stale lock behind. (luigi's own lock is keyed on the command
    line, which is the same for every experiment, so run.sh's tune.cfg turns it off.)
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunDirectoryBusyError(
                f"{run_dir} is already being tuned by {holder}; wait for it to finish or stop "
                "it (Ctrl-C), then run run.sh again to resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()
