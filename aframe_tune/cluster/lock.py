"""One driver per S3 run directory: a lock object in the cluster, renewed while the search runs.

A dispatch onto a cluster it deploys (``aframe-tune dispatch`` with ``cluster:``) holds one too,
for its jobs.yaml: one dispatcher per file, a killed dispatcher's cluster removed by the next,
and ``aframe-tune cleanup`` told that the cluster is in use.

A local run directory is locked with ``flock`` (``tasks/lock.py``); an ``s3://`` one has no
file to lock, and S3's conditional writes are not offered by every S3 service our users have.
The Kubernetes API server, which every remote run talks to anyway, gives atomic create and
optimistic concurrency. The lock is a ConfigMap rather than a coordination Lease because
namespace-scoped roles on shared clusters (the ``edit`` role) always allow ConfigMaps, not
always Leases. The pattern is client-go's leader election: the holder renews the lock every
``renew_every_s``; a lock not renewed for ``ttl_s`` (its holder was killed) is taken over.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aframe_tune.cluster.errors import ClusterConflictError, ClusterError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.names import LOCK_PREFIX, RUN_DIR_ANNOTATION, RUN_LOCK, product_labels
from aframe_tune.cluster.search_object import SearchObject, SearchObjectRef, read_search_object
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.config import ClusterBackendName
from aframe_tune.errors import RunDirectoryBusyError
from aframe_tune.signals import run_async

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Activity:
    """What a lock holder is doing, in the words its messages use.

    Args:
        being: for "X is already being ...".
        command: what the holder runs.
        again: how to go on once the holder has stopped.
    """

    being: str
    command: str
    again: str


# the holder of a lock handed over to a search that runs in the cluster (``ClusterRunLock.hand_over``)
IN_CLUSTER = "in-cluster search"

ACTIVITIES = {
    "search": Activity("tuned", "run.sh", "run run.sh again to resume"),
    IN_CLUSTER: Activity("tuned", "a search in the cluster", "run run.sh to follow it, or aframe-tune stop to stop it"),
    "dispatch": Activity("dispatched", "aframe-tune dispatch",
                         "run aframe-tune dispatch again for the jobs that did not succeed"),
}


def lock_name(run_dir: str) -> str:
    """The lock object's name for a run directory: a DNS-1123 name, the same on every machine."""
    return LOCK_PREFIX + hashlib.sha256(run_dir.rstrip("/").encode()).hexdigest()[:20]


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a run directory's lock.

    Args:
        host: the holder's host name.
        pid: the holder's process id.
        release: the Ray cluster release the holder deployed.
        renewed: when the holder last renewed the lock (seconds since the epoch, its clock).
        activity: ``search`` (``run.sh``) or ``dispatch`` (``aframe-tune dispatch``).
        backend: the release's backend (``chart`` or ``kuberay``), which says what its search
            object is once the lock was handed over to it.
    """

    host: str
    pid: int
    release: str
    renewed: float
    activity: str = "search"
    backend: ClusterBackendName = ClusterBackendName.CHART

    @classmethod
    def from_data(cls, data: dict[str, str]) -> LockHolder:
        return cls(data.get("host", "?"), int(data.get("pid", "0") or 0), data.get("release", ""),
                   float(data.get("renewed", "0") or 0), data.get("activity", "search"),
                   ClusterBackendName(data.get("backend", ClusterBackendName.CHART)))

    def to_data(self) -> dict[str, str]:
        return {"host": self.host, "pid": str(self.pid), "release": self.release, "renewed": f"{self.renewed:.3f}",
                "activity": self.activity, "backend": str(self.backend)}

    @property
    def search(self) -> SearchObjectRef:
        """The object the search of a lock handed over lives by."""
        return SearchObjectRef(self.release, self.backend)

    @property
    def in_cluster(self) -> bool:
        """Whether the lock belongs to a search in the cluster, alive as long as its search Job."""
        return self.activity == IN_CLUSTER

    def is_gone(self, ttl_s: float) -> bool:
        """Whether the holder is dead: not renewed within ``ttl_s``, or a dead process on this host."""
        if time.time() - self.renewed > ttl_s:
            return True
        if self.host == socket.gethostname() and self.pid != os.getpid():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False


class ClusterRunLock:
    """The lock of one S3 run directory (or one jobs.yaml) in one namespace.

    Args:
        target: the cluster and namespace.
        run_dir: the ``s3://`` run directory, or what names a dispatch's jobs.yaml.
        release: the release this driver deploys (recorded for the busy message and clean-up).
        ttl_s: a lock not renewed for this long is taken over.
        activity: what holding it means, a key of :data:`ACTIVITIES`.
    """

    def __init__(self, target: KubeTarget, run_dir: str, release: str, ttl_s: float = 60.0,
                 activity: str = "search") -> None:
        self.target = target
        self.run_dir = run_dir
        self.name = lock_name(run_dir)
        self.ttl_s = ttl_s
        self.me = LockHolder(socket.gethostname(), os.getpid(), release, 0.0, activity)
        self.activity = ACTIVITIES[activity]
        self.handed_over = False  # to a search in the cluster (:meth:`hand_over`)

    def _body(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.name, "labels": product_labels(component=RUN_LOCK),
                         "annotations": {RUN_DIR_ANNOTATION: self.run_dir}},
            "data": self._data(),
        }

    def _data(self) -> dict[str, str]:
        return LockHolder(self.me.host, self.me.pid, self.me.release, time.time(), self.me.activity).to_data()

    async def _read(self) -> tuple[KubeApi, dict[str, Any] | None]:
        api = await KubeApi.connect(self.target, doing=f"locking {self.run_dir}")
        return api, await api.get("configmaps", self.name, doing=f"locking {self.run_dir}")

    async def _write(self, api: KubeApi, existing: dict[str, Any]) -> None:
        # resourceVersion makes the write fail if another driver changed the lock meanwhile
        await api.patch("configmaps", self.name, {"metadata": {"resourceVersion": existing["metadata"]["resourceVersion"]},
                                                  "data": self._data()}, doing=f"locking {self.run_dir}")

    async def acquire(self) -> LockHolder | None:
        """Take the lock; returns the dead holder it was taken from, if any.

        Raises:
            RunDirectoryBusyError: a live driver holds it.
            ClusterError: the API server could not be asked.
        """
        try:
            api, existing = await self._read()
            if existing is None:
                await api.create(self._body(), doing=f"locking {self.run_dir}")
                return None
            holder = LockHolder.from_data(existing.get("data") or {})
            if await self._alive(api, holder):
                raise self._busy(holder)
            await self._write(api, existing)
            return holder
        except ClusterConflictError:
            raise RunDirectoryBusyError(
                f"{self.run_dir} is being started by another process at this very moment; once that one is "
                f"stopped, {self.activity.again}") from None

    async def _alive(self, api: KubeApi, holder: LockHolder) -> bool:
        """A process holder renews the lock; a search in the cluster lives as long as its search
        object runs (and for ``ttl_s`` after the hand-over)."""
        if not holder.in_cluster:
            return not holder.is_gone(self.ttl_s)
        if time.time() - holder.renewed <= self.ttl_s:
            return True
        found = await read_search_object(api, holder.search, doing=f"locking {self.run_dir}")
        return found is not None and not found.finished

    async def search_in_cluster(self) -> SearchObjectRef | None:
        """The live search in the cluster that holds the lock, if one does."""
        api, existing = await self._read()
        if existing is None:
            return None
        holder = LockHolder.from_data(existing.get("data") or {})
        return holder.search if holder.in_cluster and await self._alive(api, holder) else None

    async def hand_over(self, search: SearchObject) -> None:
        """Give the lock to the release's search object: it is held while the object lives, and
        goes with it (the object owns it, so the garbage collector removes it with the object)."""
        api, existing = await self._read()
        if not self._mine(existing):
            raise ClusterConflictError(f"the lock of {self.run_dir} was taken from this process")
        holder = LockHolder("the cluster", 0, self.me.release, time.time(), IN_CLUSTER, search.ref.backend)
        await api.patch("configmaps", self.name, {
            "metadata": {"resourceVersion": existing["metadata"]["resourceVersion"],
                         "ownerReferences": [search.owner_reference()]},
            "data": holder.to_data()}, doing=f"handing {self.run_dir} over to the search in the cluster")
        self.handed_over = True

    def _busy(self, holder: LockHolder) -> RunDirectoryBusyError:
        if holder.in_cluster:
            return RunDirectoryBusyError(
                f"{self.run_dir} is already being tuned by a search in the cluster (Ray cluster {holder.release}); "
                f"follow it with run.sh, or stop it with: aframe-tune stop {self.run_dir}")
        age = max(0.0, time.time() - holder.renewed)
        return RunDirectoryBusyError(
            f"{self.run_dir} is already being {self.activity.being} by process {holder.pid} on {holder.host} (Ray cluster "
            f"{holder.release}, alive {age:.0f} s ago); wait for it to finish or stop it (Ctrl-C), then "
            f"{self.activity.again}")

    def _mine(self, existing: dict[str, Any] | None) -> bool:
        return existing is not None and LockHolder.from_data(existing.get("data") or {}).pid == self.me.pid

    async def renew(self) -> None:
        """Record that this driver is alive (only while it still holds the lock)."""
        api, existing = await self._read()
        if existing is not None and LockHolder.from_data(existing.get("data") or {}).release == self.me.release:
            if LockHolder.from_data(existing.get("data") or {}).in_cluster:
                return  # handed over to this driver's search in the cluster
        if existing is None or not self._mine(existing):
            logger.warning("The lock of %s was taken from this process; another one may be running it", self.run_dir)
            return
        await self._write(api, existing)

    async def release(self) -> None:
        """Remove the lock if this driver still holds it."""
        api, existing = await self._read()
        if self._mine(existing):
            await api.delete("configmaps", self.name, doing=f"unlocking {self.run_dir}")


@contextmanager
def held_run_lock(lock: ClusterRunLock, renew_every_s: float = 15.0) -> Iterator[LockHolder | None]:
    """Hold ``lock`` for the block, renewing it from a background thread; yields the dead
    holder it was taken over from, if any."""
    previous = run_async(lock.acquire())
    stop = threading.Event()

    def renew_until_stopped() -> None:
        while not stop.wait(renew_every_s):
            try:
                run_async(lock.renew())
            except Exception as error:  # a blip of the API server must not end the search
                logger.warning("Could not renew the lock of %s (%s); trying again", lock.run_dir, error)

    renewer = threading.Thread(target=renew_until_stopped, name="aframe-tune-run-lock", daemon=True)
    renewer.start()
    try:
        yield previous
    finally:
        stop.set()
        renewer.join()
        try:
            run_async(lock.release())
        except ClusterError as error:  # not a stop signal: that still stops the run
            logger.warning("Could not remove the lock of %s (%s); it expires by itself in %.0f s",
                           lock.run_dir, error, lock.ttl_s)
