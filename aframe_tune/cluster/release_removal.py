"""A release removing itself from inside the cluster, as ``helm uninstall`` would, with only the
permissions the chart's Role gives the search's pod: its own release's objects, by name.

helm's record of the release (a Secret) lists what was installed; every object of it is deleted,
the workloads first (their GPUs go first), then the record, then the search object (the search
Job, or the RayJob whose submitter runs the pod; ``cluster/search_object.py``). The pod's
ServiceAccount, Role and RoleBinding cannot be deleted before its last call (that would take away
its permission), so the search object first becomes their owner: the garbage collector removes
them once it is gone.

Should no pod live to do this, the release still goes with its search object, which owns all of
it from the start (:func:`adopt_release`).
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
from typing import Any

import yaml

from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.search_object import SearchObject, SearchObjectRef, read_search_object
from aframe_tune.cluster.target import KubeTarget

logger = logging.getLogger(__name__)

# deleted in this order: what holds GPUs and CPUs first
REMOVAL_ORDER = ("RayCluster", "Job", "Service", "ConfigMap", "Secret")
# the search's own permission: removed by the garbage collector after the search object
OWNED_BY_THE_SEARCH = ("ServiceAccount", "Role", "RoleBinding")
KIND_NAMES = {"RayCluster": "rayclusters", "RayJob": "rayjobs", "Job": "jobs", "Service": "services",
              "ConfigMap": "configmaps", "Secret": "secrets", "ServiceAccount": "serviceaccounts", "Role": "roles",
              "RoleBinding": "rolebindings"}


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


def removal_plan(objects: list[tuple[str, str]], search: SearchObjectRef) -> list[tuple[str, str]]:
    """What the search's pod deletes itself, in order: all but the search object and its permission."""
    own = (search.kind, search.name)
    deletable = [obj for obj in objects if obj != own and obj[0] not in OWNED_BY_THE_SEARCH]
    rank = {kind: index for index, kind in enumerate(REMOVAL_ORDER)}
    return sorted(deletable, key=lambda obj: rank.get(obj[0], len(rank)))


def adoption_plan(objects: list[tuple[str, str]], search: SearchObjectRef) -> list[tuple[str, str]]:
    """What the search object is made the owner of: every other object of the release, and helm's record."""
    own = (search.kind, search.name)
    return [obj for obj in objects if obj != own] + [("Secret", helm_record_name(search.release))]


async def adopt_release(api: KubeApi, search: SearchObject) -> None:
    """Make the search object the owner of every object of its release, helm's record included.

    Should no pod of the search live to remove the release (each killed, out of memory, or an
    image without aframe-tune), the release then goes with the search object: Kubernetes deletes
    a failed search Job ``ttlSecondsAfterFinished`` after its end, and the garbage collector
    everything it owns. ``run.sh`` does this once it installed the release, and the search's pod
    again when it starts (``run.sh`` may have been stopped in between).
    """
    record = await api.get("secrets", helm_record_name(search.ref.release))
    if record is None:  # removed already
        return
    owner = {"metadata": {"ownerReferences": [search.owner_reference()]}}
    for kind, name in adoption_plan(release_objects(record), search.ref):
        await api.patch(KIND_NAMES.get(kind, kind.lower()), name, owner,
                        doing=f"making {search.ref.describe()} the owner of {kind} {name}")


async def adopt_own_permission(api: KubeApi, search: SearchObject) -> None:
    """Make the search object the owner of the search's ServiceAccount, Role and RoleBinding."""
    owner = search.owner_reference()
    for kind in OWNED_BY_THE_SEARCH:
        await api.patch(KIND_NAMES[kind], search.ref.account, {"metadata": {"ownerReferences": [owner]}})


async def remove_lock_if_ours(api: KubeApi, lock: str, release: str) -> None:
    """The run lock, if it still names this release: run.sh was stopped before it handed the lock
    over (which makes the search Job its owner, so that it goes with the Job)."""
    found = await api.get("configmaps", lock)
    if found is not None and (found.get("data") or {}).get("release") == release:
        await api.delete("configmaps", lock)
        logger.info("Deleted the run lock %s", lock)


async def remove_own_release(target: KubeTarget, search: SearchObjectRef, lock: str = "") -> None:
    """Delete every object of the search's release, helm's record, the run lock if it names the
    release, then the search object, which takes the search's pod with it."""
    release = search.release
    api = await KubeApi.connect(target, doing=f"connecting to Kubernetes to remove Ray cluster {release}")
    found = await read_search_object(api, search)
    if found is not None:
        await adopt_own_permission(api, found)
    record = await api.get("secrets", helm_record_name(release))
    for kind, name in removal_plan(release_objects(record) if record is not None else [], search):
        if await api.delete(KIND_NAMES.get(kind, kind.lower()), name, propagation="Background"):
            logger.info("Deleted %s %s", kind, name)
    if record is not None:
        await api.delete("secrets", helm_record_name(release))
    if lock:
        await remove_lock_if_ours(api, lock, release)
    logger.info("Removed Ray cluster %s; removing %s", release, search.describe())
    await api.delete(search.plural, search.name, propagation="Background")
