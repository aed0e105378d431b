"""The TTL-after-finished controller of kube-controller-manager, for the emulated API server.

A Job with ``spec.ttlSecondsAfterFinished`` is deleted that many seconds after it finished: after
the ``lastTransitionTime`` of its ``Complete`` or ``Failed`` condition. As the real controller
does, it re-reads the Job when the time comes (the TTL may have changed, or the Job been
replaced), and deletes it with ``Foreground`` propagation and a uid precondition, so that the
garbage collector takes its pods and everything else it owns first.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.store import ApiError, Event
from tests.k8s.workloads import job_finished

log = logging.getLogger(__name__)


def finished_at(job: dict[str, Any]) -> float | None:
    """When the Job finished (epoch seconds), or None while it runs."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            stamp = condition.get("lastTransitionTime")
            if stamp:
                return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
    return None


def expires_at(job: dict[str, Any]) -> float | None:
    """When a finished Job with a TTL is due for deletion; None if it never is (yet)."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    finished = finished_at(job)
    return None if ttl is None or finished is None else finished + int(ttl)


class TtlAfterFinishedController:
    """Deletes finished Jobs once their ``ttlSecondsAfterFinished`` has passed.

    Args:
        emulator: the API server whose Jobs it watches.
    """

    def __init__(self, emulator: KubernetesEmulator) -> None:
        self.emulator = emulator
        self._timers: dict[str, threading.Timer] = {}  # by the Job's uid
        self._lock = threading.Lock()
        self._unsubscribe: Any = None

    def start(self) -> TtlAfterFinishedController:
        self._unsubscribe = self.emulator.subscribe(self._on_event, "jobs")
        for job in self.emulator.list("jobs"):
            self._schedule(job)
        return self

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def __enter__(self) -> TtlAfterFinishedController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_event(self, event: Event) -> None:
        if event.type == "DELETED":
            with self._lock:
                timer = self._timers.pop(event.object["metadata"]["uid"], None)
            if timer is not None:
                timer.cancel()
        else:
            self._schedule(event.object)

    def _schedule(self, job: dict[str, Any]) -> None:
        due = expires_at(job)
        uid = job["metadata"]["uid"]
        with self._lock:
            if due is None or uid in self._timers:
                return
            timer = threading.Timer(max(0.0, due - time.time()), self._expire,
                                    args=(job["metadata"]["namespace"], job["metadata"]["name"], uid))
            timer.daemon = True
            self._timers[uid] = timer
        timer.start()

    def _expire(self, namespace: str, name: str, uid: str) -> None:
        with self._lock:
            self._timers.pop(uid, None)
        fresh = self.emulator.get("jobs", namespace, name)
        if fresh is None or fresh["metadata"]["uid"] != uid or not job_finished(fresh):
            return
        due = expires_at(fresh)
        if due is None:
            return
        if due > time.time():  # its TTL was raised meanwhile
            self._schedule(fresh)
            return
        try:
            self.emulator.store.delete(self.emulator.resource_type("jobs"), namespace, name,
                                       propagation_policy="Foreground", preconditions={"uid": uid})
        except ApiError as error:  # gone or replaced meanwhile
            log.info("TTL-after-finished: Job %s/%s not deleted: %s", namespace, name, error)
