"""The object a search in the cluster lives by: the search Job of a ``chart`` release, the RayJob
of a ``kuberay`` one.

It exists from the install until the release's removal, of which it is the last object: the run
lock is handed over to it (and goes with it), ``run.sh`` and ``aframe-tune stop`` watch it, and
the search's pod deletes it last when it removes its own release.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.config import ClusterBackendName

# seconds between a watch's fresh reads of its object: a deletion during a dropped connection
# (after which the watch starts again, without a DELETED event) is seen within this
RESYNC_S = 300.0
# KubeRay's RayJob states after which it runs nothing more (ValidationFailed: until its spec is changed)
RAYJOB_ENDED = ("Complete", "Failed", "ValidationFailed")
RAYJOB_FAILED = ("Failed", "ValidationFailed")


def job_finished(job: dict[str, Any]) -> bool:
    """Whether a Job has ended (its Complete or Failed condition is true)."""
    return any(condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True"
               for condition in (job.get("status") or {}).get("conditions") or [])


def rayjob_finished(rayjob: dict[str, Any]) -> bool:
    """Whether a RayJob has ended: KubeRay's ``jobDeploymentStatus`` is Complete, Failed or ValidationFailed."""
    return (rayjob.get("status") or {}).get("jobDeploymentStatus") in RAYJOB_ENDED


def failure_of(raw: dict[str, Any], rayjob: bool) -> str:
    """Why a Job or RayJob failed, as its controller says (``""`` if it did not): a RayJob's
    ``reason: message``, a Job's Failed condition."""
    status = raw.get("status") or {}
    if rayjob:
        if status.get("jobDeploymentStatus") not in RAYJOB_FAILED:
            return ""
        return ": ".join(part for part in (status.get("reason"), status.get("message")) if part) or "failed"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return condition.get("message") or condition.get("reason") or "failed"
    return ""


@dataclass(frozen=True)
class SearchObjectRef:
    """Which object a release's search lives by.

    Args:
        release: the release.
        backend: ``chart`` (the release's search Job) or ``kuberay`` (its RayJob).
    """

    release: str
    backend: ClusterBackendName = ClusterBackendName.CHART

    @property
    def plural(self) -> str:
        """The resource's name in the API: ``rayjobs`` or ``jobs``."""
        return "rayjobs" if self.backend == ClusterBackendName.KUBERAY else "jobs"

    @property
    def api_version(self) -> str:
        return "ray.io/v1" if self.backend == ClusterBackendName.KUBERAY else "batch/v1"

    @property
    def kind(self) -> str:
        return "RayJob" if self.backend == ClusterBackendName.KUBERAY else "Job"

    @property
    def name(self) -> str:
        # KubeRay names the RayJob's submitter Job as the RayJob, the release's name
        return self.release if self.backend == ClusterBackendName.KUBERAY else f"{self.release}-search"

    @property
    def account(self) -> str:
        """The name of the search's ServiceAccount, Role and RoleBinding (the chart's, whatever the backend)."""
        return f"{self.release}-search"

    def describe(self) -> str:
        return f"the search's {self.kind} {self.name}"


@dataclass(frozen=True)
class SearchObject:
    """A release's search object as the API server has it.

    Args:
        ref: which object it is.
        uid: its uid, for owner references.
        finished: it has ended (a Job's condition, a RayJob's deployment status).
        failure: why it failed, as its controller says; ``""`` unless it failed.
    """

    ref: SearchObjectRef
    uid: str
    finished: bool
    failure: str = ""

    @classmethod
    def from_raw(cls, ref: SearchObjectRef, raw: dict[str, Any]) -> SearchObject:
        rayjob = ref.backend == ClusterBackendName.KUBERAY
        finished = rayjob_finished(raw) if rayjob else job_finished(raw)
        return cls(ref, raw["metadata"]["uid"], finished, failure_of(raw, rayjob))

    def owner_reference(self) -> dict[str, Any]:
        """Owned by this object, the garbage collector removes a thing once the object is gone."""
        return {"apiVersion": self.ref.api_version, "kind": self.ref.kind, "name": self.ref.name, "uid": self.uid,
                "blockOwnerDeletion": False}


async def read_search_object(api: KubeApi, ref: SearchObjectRef, doing: str | None = None) -> SearchObject | None:
    """The release's search object, or None once it is gone."""
    raw = await api.get(ref.plural, ref.name, doing=doing)
    return None if raw is None else SearchObject.from_raw(ref, raw)


async def wait_until_ended(api: KubeApi, ref: SearchObjectRef) -> SearchObject | None:
    """Watch the release's search object until it has ended (returned) or is gone (None)."""
    if await read_search_object(api, ref) is None:
        return None
    doing = f"watching {ref.describe()}"
    async with aclosing(api.watch(ref.plural, fields={"metadata.name": ref.name}, doing=doing)) as events:
        async for event, raw in events:
            if event == "DELETED":
                return None
            found = SearchObject.from_raw(ref, raw)
            if found.finished:
                return found
    raise ClusterError(f"the watch of {ref.describe()} ended unexpectedly")


class SearchObjectWatch:
    """The release's search object as one watch keeps it, for a follower that looks every few
    seconds: a request every :data:`RESYNC_S` instead of one per look (a search runs for days).

    Make it with :meth:`start` and close it with :meth:`close`.
    """

    def __init__(self, api: KubeApi, ref: SearchObjectRef, latest: SearchObject | None) -> None:
        self._api = api
        self._ref = ref
        self._latest = latest
        self._task = asyncio.create_task(self._keep())

    @classmethod
    async def start(cls, api: KubeApi, ref: SearchObjectRef) -> SearchObjectWatch:
        """Read the object, then keep it up to date in the background."""
        return cls(api, ref, await read_search_object(api, ref))

    def current(self) -> SearchObject | None:
        """The object as last seen; None once it is gone.

        Raises:
            ClusterError: what ended the watch (the follower starts a new one).
        """
        if self._task.done():
            self._task.result()  # raises what ended it
            raise ClusterError(f"the watch of {self._ref.describe()} ended unexpectedly")
        return self._latest

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ClusterError):
            await self._task

    async def _keep(self) -> None:
        doing = f"watching {self._ref.describe()}"
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESYNC_S):
                    async with aclosing(self._api.watch(self._ref.plural, fields={"metadata.name": self._ref.name},
                                                        doing=doing)) as events:
                        async for event, raw in events:
                            self._latest = None if event == "DELETED" else SearchObject.from_raw(self._ref, raw)
            # the server ended the watch, or it is time to read afresh
            self._latest = await read_search_object(self._api, self._ref, doing=doing)
