"""The ``/scale`` subresource: an ``autoscaling/v1`` Scale view of a workload's replica count.

``kubectl scale`` and autoscalers read and write only this view. Which fields back it comes from
the type's :class:`~.resources.ScaleSpec` (Deployments, ReplicaSets, StatefulSets, and any CRD
that declares ``subresources.scale``). Writes change ``spec.replicas`` of the object, with the
usual resourceVersion check, and so bump its generation.
"""

from __future__ import annotations

from typing import Any

from .patch import PatchError, apply_patch
from .resources import ResourceType, ScaleSpec
from .store import ApiError, Store, bad_request, conflict, invalid
from .tables import format_selector, json_path


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.lstrip(".").split(".")
    for key in parents:
        obj = obj.setdefault(key, {})
    obj[leaf] = value


def scale_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale object for ``obj``: its metadata, desired and current replicas, and selector."""
    spec: ScaleSpec = rt.scale  # type: ignore[assignment]
    metadata = {key: obj["metadata"][key] for key in ("name", "namespace", "uid", "resourceVersion",
                                                      "creationTimestamp") if key in obj["metadata"]}
    status: dict[str, Any] = {"replicas": int(json_path(obj, spec.status_replicas_path) or 0)}
    if spec.label_selector_path:
        selector = json_path(obj, spec.label_selector_path)
        if isinstance(selector, dict):  # built-in workloads: a LabelSelector, shown in its string form
            selector = format_selector(selector)
        if selector:
            status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata,
            "spec": {"replicas": int(json_path(obj, spec.spec_replicas_path) or 0)}, "status": status}


def get_scale(store: Store, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
    """``GET .../NAME/scale``."""
    return scale_of(rt, store.get(rt, namespace, name))


def update_scale(store: Store, rt: ResourceType, namespace: str | None, name: str, body: Any, *,
                 patch_type: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """``PUT`` (a Scale) or ``PATCH`` (``patch_type``) ``.../NAME/scale``: set the desired replicas."""
    spec: ScaleSpec = rt.scale  # type: ignore[assignment]
    with store._lock:  # read, check and write as one step, as the registry does under its storage lock
        current = store.get(rt, namespace, name)
        scale = scale_of(rt, current)
        if patch_type is not None:
            try:
                scale = apply_patch(scale, body, patch_type)
            except PatchError as exc:
                raise ApiError(422, "Invalid", str(exc)) from exc
        elif isinstance(body, dict):
            wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise conflict(rt, name, "the object has been modified; please apply your changes to the latest "
                               "version and try again")
            scale = body
        else:
            raise bad_request("the body of the request was not a JSON object")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(rt, name, "spec.replicas", "must be greater than or equal to 0", replicas)
        _set_path(current, spec.spec_replicas_path, replicas)
        updated = store.replace(rt, namespace, name, current, from_api=True, dry_run=dry_run, check_version=False)
        return scale_of(rt, updated)
