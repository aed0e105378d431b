"""A release removing itself from inside the cluster, as ``helm uninstall`` would, with only the
permissions the chart's Role gives the search Job: its own release's objects, by name.

helm's record of the release (a Secret) lists what was installed; every object of it is deleted,
the workloads first (their GPUs go first), then the record, then the search Job itself. The Job's
ServiceAccount, Role and RoleBinding cannot be deleted before the Job's last call (that would
take away its permission), so the Job first makes itself their owner: the garbage collector
removes them once the Job is gone.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
from typing import Any

import yaml

from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.target import KubeTarget

logger = logging.getLogger(__name__)

# deleted in this order: what holds GPUs and CPUs first
REMOVAL_ORDER = ("RayCluster", "Job", "Service", "ConfigMap", "Secret")
# the search Job's own permission: removed by the garbage collector after the Job
OWNED_BY_THE_JOB = ("ServiceAccount", "Role", "RoleBinding")
KIND_NAMES = {"RayCluster": "rayclusters", "Job": "jobs", "Service": "services", "ConfigMap": "configmaps",
              "Secret": "secrets", "ServiceAccount": "serviceaccounts", "Role": "roles", "RoleBinding": "rolebindings"}


def search_job_name(release: str) -> str:
    return f"{release}-search"


def job_finished(job: dict[str, Any]) -> bool:
    """Whether a Job has ended (its Complete or Failed condition is true)."""
    return any(condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True"
               for condition in (job.get("status") or {}).get("conditions") or [])


def helm_record_name(release: str, revision: int = 1) -> str:
    """helm's Secret of a release's revision (a search's release is installed once)."""
    return f"sh.helm.release.v1.{release}.v{revision}"


def release_objects(record: dict[str, Any]) -> list[tuple[str, str]]:
    """``(kind, name)`` of every object helm's record lists in its manifest.

    helm stores the release as JSON, gzipped and base64-encoded, in the Secret's ``release`` key
    (which the API base64-encodes again).
    """
    packed = base64.b64decode(base64.b64decode(record["data"]["release"]))
    release = json.loads(gzip.decompress(packed) if packed[:2] == b"\x1f\x8b" else packed)
    objects = []
    for document in yaml.safe_load_all(release.get("manifest") or ""):
        if isinstance(document, dict) and document.get("kind") and (document.get("metadata") or {}).get("name"):
            objects.append((document["kind"], document["metadata"]["name"]))
    return objects


def removal_plan(objects: list[tuple[str, str]], release: str) -> list[tuple[str, str]]:
    """What the search Job deletes itself, in order: all but its own Job and permission."""
    own = ("Job", search_job_name(release))
    deletable = [obj for obj in objects if obj != own and obj[0] not in OWNED_BY_THE_JOB]
    rank = {kind: index for index, kind in enumerate(REMOVAL_ORDER)}
    return sorted(deletable, key=lambda obj: rank.get(obj[0], len(rank)))


async def adopt_own_permission(api: KubeApi, release: str, job: dict[str, Any]) -> None:
    """Make the search Job the owner of its ServiceAccount, Role and RoleBinding."""
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
             "uid": job["metadata"]["uid"], "blockOwnerDeletion": False}
    for kind in OWNED_BY_THE_JOB:
        await api.patch(KIND_NAMES[kind], search_job_name(release), {"metadata": {"ownerReferences": [owner]}})


async def remove_lock_if_ours(api: KubeApi, lock: str, release: str) -> None:
    """The run lock, if it still names this release: run.sh was stopped before it handed the lock
    over (which makes the search Job its owner, so that it goes with the Job)."""
    found = await api.get("configmaps", lock)
    if found is not None and (found.get("data") or {}).get("release") == release:
        await api.delete("configmaps", lock)
        logger.info("Deleted the run lock %s", lock)


async def remove_own_release(target: KubeTarget, release: str, lock: str = "") -> None:
    """Delete every object of ``release``, helm's record, the run lock if it names the release,
    then the search Job and its pod."""
    api = await KubeApi.connect(target, doing=f"connecting to Kubernetes to remove Ray cluster {release}")
    job = await api.get("jobs", search_job_name(release))
    if job is not None:
        await adopt_own_permission(api, release, job)
    record = await api.get("secrets", helm_record_name(release))
    for kind, name in removal_plan(release_objects(record) if record is not None else [], release):
        if await api.delete(KIND_NAMES.get(kind, kind.lower()), name, propagation="Background"):
            logger.info("Deleted %s %s", kind, name)
    if record is not None:
        await api.delete("secrets", helm_record_name(release))
    if lock:
        await remove_lock_if_ours(api, lock, release)
    logger.info("Removed Ray cluster %s; removing this Job", release)
    await api.delete("jobs", search_job_name(release), propagation="Background")
