"""The searches that run in a namespace's clusters, as their run locks and pods tell.

A search that runs in the cluster holds its run directory's lock (handed over by ``run.sh``,
``cluster/lock.py``) for as long as its search object (search Job or RayJob) lives; the lock
names the release and its backend, and, in an annotation, the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.lock import LockHolder, lock_name
from aframe_tune.cluster.names import COMPONENT, RUN_DIR_ANNOTATION, RUN_LOCK, SEARCH, product_labels
from aframe_tune.cluster.pods import ClusterState, read_pod_state
from aframe_tune.cluster.search_object import SearchObjectRef


@dataclass(frozen=True)
class ClusterSearch:
    """A search running in the cluster.

    Args:
        run_dir: its ``s3://`` run directory.
        search: the object it lives by, which names its release.
        pods: the release's pods (the search's among them).
    """

    run_dir: str
    search: SearchObjectRef
    pods: ClusterState

    @property
    def release(self) -> str:
        return self.search.release

    def search_pods(self) -> list[str]:
        """The search Job's pods, newest name last (a replaced pod follows the same search)."""
        return sorted(p.name for p in self.pods.pods.values() if p.component == SEARCH)


async def find_cluster_searches(api: KubeApi, run_dir: str | None = None) -> list[ClusterSearch]:
    """Every search running in the namespace's clusters (or only ``run_dir``'s), by run directory."""
    doing = f"listing the searches in namespace {api.namespace}"
    if run_dir is not None:
        found = await api.get("configmaps", lock_name(run_dir), doing=doing)
        locks = [found] if found is not None else []
    else:
        locks = await api.list("configmaps", labels=product_labels(component=RUN_LOCK), doing=doing)
    searches = []
    for lock in locks:
        holder = LockHolder.from_data(lock.get("data") or {})
        if not holder.in_cluster:
            continue
        pods = await api.list("pods", labels=product_labels(holder.release), doing=doing)
        state = ClusterState({raw["metadata"]["name"]: read_pod_state(raw) for raw in pods
                              if (raw["metadata"].get("labels") or {}).get(COMPONENT)})
        annotations = lock["metadata"].get("annotations") or {}
        searches.append(ClusterSearch(annotations.get(RUN_DIR_ANNOTATION, run_dir or "?"), holder.search, state))
    return sorted(searches, key=lambda search: search.run_dir)
