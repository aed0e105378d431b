"""A per-node cache of generated or downloaded training data, shared by the trials of a search.

Every trial of a search builds its data module afresh, and most trials ask for the same data
(only the hyperparameters differ). Making that data once per node and loading it afterwards
turns the set-up of later trials from seconds into milliseconds. Entries are keyed by a digest of
the data's configuration, so a trial with other data options (a tuned ``data.kernel_length``,
say) gets data of its own, and never somebody else's.

The cache lives in ``$AFRAME_TUNE_DATA_CACHE``, else in a folder of the system's temporary
directory: on Kubernetes every pod has its own, on a workstation every user. Writes are atomic
(a new file is renamed into place) and one process per node makes a given entry while the others
wait for it, so trials that start together do not make the same data twice. Delete the folder to
reclaim the space.

Written here rather than taken from a library: the caching libraries on PyPI (joblib.Memory,
diskcache) either pickle (unsafe to load from a shared temporary directory) or lack the
make-once-per-node lock; this is forty lines over ``torch.save`` and ``flock``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

CACHE_VARIABLE = "AFRAME_TUNE_DATA_CACHE"
# Bumped whenever what the cached data means changes for the same configuration.
FORMAT_VERSION = 1

Tensors = tuple[torch.Tensor, ...]


def cache_directory() -> Path:
    """``$AFRAME_TUNE_DATA_CACHE``, else ``aframe-tune-data-<uid>`` in the temporary directory."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path(tempfile.gettempdir()) / f"aframe-tune-data-{os.getuid()}"


def cache_key(name: str, config: Mapping[str, Any]) -> str:
    """The entry's file name: ``name`` and a digest of everything that determines the data."""
    described = json.dumps({"format": FORMAT_VERSION, **config}, sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(described.encode()).hexdigest()[:20]}.pt"


def _owned(directory: Path) -> bool:
    try:
        return directory.stat().st_uid == os.getuid()
    except OSError:
        return False


def _load(path: Path) -> Tensors | None:
    try:
        return tuple(torch.load(path, map_location="cpu", weights_only=True))
    except FileNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 (a damaged entry is made again)
        logger.warning("Data cache entry %s cannot be read (%s); making it again", path, error)
        return None


def cached_tensors(name: str, config: Mapping[str, Any], make: Callable[[], Tensors],
                   directory: Path | None = None) -> Tensors:
    """Tensors made by ``make()``, or loaded if this node made them before for ``config``.

    Args:
        name: what the data is, for the file name (``train``, ``valid``).
        config: everything the data depends on (JSON-serialisable values).
        make: makes the tensors when they are not cached.
        directory: where the cache lives; default :func:`cache_directory`.
    """
    directory = directory or cache_directory()
    path = directory / cache_key(name, config)
    found = _load(path) if _owned(directory) else None
    if found is not None:
        logger.debug("Loaded %s data from %s", name, path)
        return found
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if directory.stat().st_uid != os.getuid():
            # in a shared temporary directory, another user could have made it first
            raise PermissionError(f"{directory} belongs to another user")
        lock = (directory / f"{path.name}.lock").open("w")
    except OSError as error:
        logger.warning("Data cache %s cannot be used (%s); making the %s data without it; set %s to a "
                       "folder of your own", directory, error.strerror or error, name, CACHE_VARIABLE)
        return tuple(make())
    with lock:
        # one process per node makes the entry; the others wait here, then load it
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _load(path)
        if found is not None:
            return found
        tensors = tuple(make())
        _store(tensors, path)
        return tensors


def _store(tensors: Tensors, path: Path) -> None:
    """Write beside the entry and rename, so a reader never sees half a file."""
    partial = path.parent / f".{path.name}.{os.getpid()}.partial"
    try:
        torch.save(tensors, partial)
        os.replace(partial, path)
        logger.debug("Cached data in %s", path)
    except OSError as error:  # a full disk costs the next trial the making, nothing else
        logger.warning("Cannot write data cache entry %s (%s)", path, error.strerror or error)
        partial.unlink(missing_ok=True)
