"""The Ray clusters aframe-tune deployed in a namespace, found by their labels, and their removal.

A release is known by the chart's ``app.kubernetes.io/instance`` label on its objects, and by
helm's own record (a Secret labelled ``owner=helm``) for a release whose objects are gone. A
release that a live run lock names (``cluster/lock.py``) is in use by a running search.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aframe_tune.cluster.helm import uninstall_ray_cluster
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.lock import LockHolder
from aframe_tune.cluster.names import COMPONENT, HELM_RECORD_LABELS, INSTANCE, RUN_LOCK, is_release_name, product_labels
from aframe_tune.cluster.kuberay_backend import RAYCLUSTER_API
from aframe_tune.cluster.pods import ClusterState, read_pod_state

logger = logging.getLogger(__name__)

# what a release is made of, in the order they are deleted (pods last: their Deployment, Job or
# RayCluster recreates them); rayjobs and rayclusters only where the cluster serves them
RELEASE_KINDS = ("rayjobs", "rayclusters", "deployments", "jobs", "services", "secrets", "pods")
# a lock renewed within this long belongs to a running search (the driver renews every 15 s)
LOCK_ALIVE_S = 60.0


@dataclass(frozen=True)
class DeployedRayCluster:
    """One release of the ray-cluster chart.

    Args:
        release: the helm release name.
        created: when its oldest object was created.
        objects: its objects, as ``kind/name``.
        state: its pods, read as the waiting code reads them.
        in_use_by: the live run lock that names it (a search or dispatch is running on it), if any.
        helm_record: whether helm still has a record of it (``helm list`` shows it).
    """

    release: str
    created: datetime | None
    objects: list[str] = field(default_factory=list)
    state: ClusterState = field(default_factory=lambda: ClusterState({}))
    in_use_by: LockHolder | None = None
    helm_record: bool = False

    def age(self, now: datetime | None = None) -> str:
        """``3d4h``, ``2h5m``, ``7m`` or ``40s``."""
        if self.created is None:
            return "?"
        seconds = int(((now or datetime.now(timezone.utc)) - self.created).total_seconds())
        days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
        if days:
            return f"{days}d{hours}h"
        if hours:
            return f"{hours}h{minutes}m"
        return f"{minutes}m" if minutes else f"{max(seconds, 0)}s"

    def describe_state(self) -> str:
        if not self.state.pods:
            workloads = any(o.startswith(("deployments/", "jobs/", "rayclusters/", "rayjobs/")) for o in self.objects)
            return "no pods" if workloads else "no Deployments, Jobs or RayClusters left"
        return self.state.summary()

    def describe_use(self) -> str:
        if self.in_use_by is None:
            return "-"
        holder = self.in_use_by
        if holder.in_cluster:
            return "its search, running in the cluster"
        return f"{holder.activity} of process {holder.pid} on {holder.host}"


def _created(raw: dict[str, Any]) -> datetime | None:
    stamp = (raw.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


async def release_kinds(api: KubeApi) -> tuple[str, ...]:
    """The kinds a release may be made of on this cluster (RayClusters where KubeRay is installed)."""
    if await api.serves(*RAYCLUSTER_API):
        return RELEASE_KINDS
    return tuple(kind for kind in RELEASE_KINDS if kind not in ("rayjobs", "rayclusters"))


async def find_ray_clusters(api: KubeApi, release: str | None = None) -> list[DeployedRayCluster]:
    """Every aframe-tune Ray cluster in the API's namespace (or only ``release``), oldest first."""
    doing = f"listing aframe-tune's Ray clusters in namespace {api.namespace}"
    objects: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for kind in await release_kinds(api):
        for raw in await api.list(kind, labels=product_labels(release), doing=doing):
            labels = raw["metadata"].get("labels") or {}
            if labels.get(COMPONENT) != RUN_LOCK and labels.get(INSTANCE):
                objects.setdefault(labels[INSTANCE], []).append((kind, raw))
    records = {}
    for raw in await api.list("secrets", labels=HELM_RECORD_LABELS, doing=doing):
        name = raw["metadata"]["labels"].get("name", "")
        if is_release_name(name) and release in (None, name):
            records[name] = raw
    locks = [LockHolder.from_data(raw.get("data") or {})
             for raw in await api.list("configmaps", labels=product_labels(component=RUN_LOCK), doing=doing)]
    # a lock handed over to a search in the cluster lives as long as the release's search Job does
    alive = {holder.release: holder for holder in locks
             if time.time() - holder.renewed < LOCK_ALIVE_S or (holder.in_cluster and holder.release in objects)}
    clusters = []
    for name in sorted(set(objects) | set(records)):
        found = objects.get(name, [])
        stamps = [stamp for stamp in (_created(raw) for _, raw in found + [("", records.get(name, {}))]) if stamp]
        pods = {raw["metadata"]["name"]: read_pod_state(raw) for kind, raw in found if kind == "pods"}
        clusters.append(DeployedRayCluster(
            release=name, created=min(stamps) if stamps else None,
            objects=[f"{kind}/{raw['metadata']['name']}" for kind, raw in found],
            state=ClusterState(pods), in_use_by=alive.get(name), helm_record=name in records,
        ))
    return sorted(clusters, key=lambda cluster: cluster.created or datetime.max.replace(tzinfo=timezone.utc))


async def remove_ray_cluster(api: KubeApi, cluster: DeployedRayCluster) -> None:
    """Uninstall the release with helm, then delete whatever of it is left (objects of a release
    helm has no record of, or that an interrupted uninstall left), its Secrets included."""
    if cluster.helm_record:
        await uninstall_ray_cluster(api.target, cluster.release)
    for kind in await release_kinds(api):
        for deleted in await api.delete_matching(kind, product_labels(cluster.release),
                                                 doing=f"deleting what is left of {cluster.release}"):
            logger.info("Deleted %s of %s", deleted, cluster.release)
