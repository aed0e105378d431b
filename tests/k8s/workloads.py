"""Status as Kubernetes' own components write it: pods (kubelet, API server), Deployments, Jobs.

Pure functions from objects to status, used by whoever plays the controllers (the pod
simulator) and by the store (a pod's ``qosClass`` is set when it is created). Field presence
follows the real types: int32 counts with ``omitempty`` are left out when zero.
"""

from __future__ import annotations

import hashlib
import time
from decimal import Decimal
from typing import Any

from .quantity import parse_quantity

TERMINAL = ("Succeeded", "Failed")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ----------------------------------------------------------------- pods


def qos_class(spec: dict[str, Any]) -> str:
    """A pod's QoS class: Guaranteed (every container's CPU and memory limits equal its requests),
    BestEffort (no CPU or memory requests or limits anywhere), else Burstable."""
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    any_set, guaranteed = False, bool(containers)
    for container in containers:
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for name in ("cpu", "memory"):
            limit, request = limits.get(name), requests.get(name, limits.get(name))
            any_set = any_set or limit is not None or request is not None
            if limit is None or _quantity(limit) != _quantity(request):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _quantity(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value)
    except ValueError:
        return None


def image_id(image: str) -> str:
    """A digest reference for an image as the container runtime reports it (``docker.io/library/x@sha256:...``)."""
    name = image.split("@")[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    first = name.split("/")[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return f"{name}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def container_id(pod_uid: str, container: str, restarts: int) -> str:
    """A stable containerd ID for one run of a container."""
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{container}/{restarts}".encode()).hexdigest()


def container_status(pod: dict[str, Any], container: dict[str, Any], state: dict[str, Any], *,
                     ready: bool = False, restarts: int = 0, last_state: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """A ``ContainerStatus``: image and imageID, containerID once created, state, readiness, restarts."""
    image = container.get("image", "")
    status: dict[str, Any] = {"name": container["name"], "image": image, "imageID": "", "ready": ready,
                              "restartCount": restarts, "started": "running" in state, "state": state,
                              "lastState": last_state or {}}
    waiting = state.get("waiting", {}).get("reason")
    if waiting not in ("ErrImagePull", "ImagePullBackOff", "ContainerCreating", "InvalidImageName"):
        status["imageID"] = image_id(image)  # the image is on the node
    if "running" in state or "terminated" in state or waiting == "CrashLoopBackOff":
        status["containerID"] = container_id(pod["metadata"].get("uid", ""), container["name"], restarts)
    return status


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def is_live(pod: dict[str, Any]) -> bool:
    """Not terminal and not being deleted: what a controller counts as active."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL and not pod["metadata"].get("deletionTimestamp")


# ----------------------------------------------------------------- conditions


def condition(previous: dict[str, Any], kind: str, status: bool, reason: str, message: str,
              *, update_time: bool = False) -> dict[str, Any]:
    """A workload condition that keeps its times while nothing about it changes (so a controller's
    repeated write of the same status is a no-op, as it is for the real ones)."""
    value = "True" if status else "False"
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == kind), None)
    same = old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (value, reason, message)
    stamp = now()
    entry: dict[str, Any] = {"type": kind, "status": value}
    if update_time:
        entry["lastUpdateTime"] = old.get("lastUpdateTime", stamp) if same else stamp  # type: ignore[union-attr]
    flipped = old is None or old.get("status") != value
    entry["lastTransitionTime"] = stamp if flipped else old.get("lastTransitionTime", stamp)  # type: ignore[union-attr]
    entry.update(reason=reason, message=message)
    return entry


def _counts(**counts: int) -> dict[str, int]:
    return {key: value for key, value in counts.items() if value}


# ----------------------------------------------------------------- Deployments


def _max_unavailable(deployment: dict[str, Any], desired: int) -> int:
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return desired * int(value[:-1]) // 100  # rounded down, as the controller does for maxUnavailable
    return int(value)


def deployment_status(deployment: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment controller's status for a Deployment whose pods are ``pods``.

    Every pod is of the current template (the emulated controller does not roll out), so
    updatedReplicas counts them all; availableReplicas counts ready ones (minReadySeconds is 0).
    """
    previous = deployment.get("status") or {}
    name = deployment["metadata"]["name"]
    desired = int((deployment.get("spec") or {}).get("replicas", 1))
    live = [p for p in pods if is_live(p)]
    ready = sum(1 for p in live if is_ready(p))
    available_enough = ready >= desired - _max_unavailable(deployment, desired)
    done = len(live) == desired and ready == desired
    conditions = [
        condition(previous, "Available", available_enough,
                  "MinimumReplicasAvailable" if available_enough else "MinimumReplicasUnavailable",
                  f"Deployment {'has' if available_enough else 'does not have'} minimum availability.",
                  update_time=True),
        condition(previous, "Progressing", True, "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                  f'Deployment "{name}" has successfully progressed.' if done else
                  f'Deployment "{name}" is progressing.', update_time=True),
    ]
    return {"observedGeneration": deployment["metadata"].get("generation", 1),
            **_counts(replicas=len(live), updatedReplicas=len(live), readyReplicas=ready, availableReplicas=ready,
                      unavailableReplicas=max(desired - ready, 0)),
            "conditions": conditions}


# ----------------------------------------------------------------- Jobs


def job_finished(job: dict[str, Any]) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def job_wants(job: dict[str, Any], succeeded: int, failed: int) -> int:
    """How many pods the Job should run: none once finished, past its backoffLimit or (without
    ``completions``) once one succeeded; else ``parallelism``, at most the completions left."""
    spec = job.get("spec") or {}
    if job_finished(job) or failed > int(spec.get("backoffLimit", 6)):
        return 0
    completions = spec.get("completions")
    if completions is None:
        return 0 if succeeded else int(spec.get("parallelism", 1))
    return max(0, min(int(spec.get("parallelism", 1)), int(completions) - succeeded))


def job_status(job: dict[str, Any], live: list[dict[str, Any]], succeeded: int, failed: int) -> dict[str, Any]:
    """The Job controller's status: live pods (``active``, ``ready``), terminal counts, and the
    FailureTarget/Failed or SuccessCriteriaMet/Complete conditions once it is done."""
    previous = job.get("status") or {}
    spec = job.get("spec") or {}
    status: dict[str, Any] = {"startTime": previous.get("startTime") or now(), "ready": 0}
    status.update(_counts(active=len(live), succeeded=succeeded, failed=failed))
    status["ready"] = sum(1 for p in live if is_ready(p))
    status.update(terminating=0, uncountedTerminatedPods={})
    conditions = [c for c in previous.get("conditions") or [] if c.get("type") not in (
        "FailureTarget", "Failed", "SuccessCriteriaMet", "Complete")]
    completions = spec.get("completions")
    if any(c.get("type") == "Failed" for c in previous.get("conditions") or []) or \
            failed > int(spec.get("backoffLimit", 6)):
        for kind in ("FailureTarget", "Failed"):
            conditions.append(_job_condition(previous, kind, "BackoffLimitExceeded",
                                             "Job has reached the specified backoff limit"))
    elif (completions is not None and succeeded >= int(completions)) or (completions is None and succeeded
                                                                       and not live):
        for kind in ("SuccessCriteriaMet", "Complete"):
            conditions.append(_job_condition(previous, kind, "CompletionsReached", "Reached expected number of "
                                             "succeeded pods"))
        status["completionTime"] = previous.get("completionTime") or now()
    if conditions:
        status["conditions"] = conditions
    return status


def _job_condition(previous: dict[str, Any], kind: str, reason: str, message: str) -> dict[str, Any]:
    entry = condition(previous, kind, True, reason, message)
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == kind), None)
    entry["lastProbeTime"] = (old or {}).get("lastProbeTime") or entry["lastTransitionTime"]
    return entry


def default_job(job: dict[str, Any], old: dict[str, Any] | None) -> None:
    """The registry's Job defaults: counts and policies, and (unless ``manualSelector``) a selector on
    the Job's uid with the labels it selects added to the pod template. The selector is immutable."""
    spec = job.setdefault("spec", {})
    if "parallelism" not in spec and "completions" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    if old is not None and "selector" in (old.get("spec") or {}):
        spec.setdefault("selector", old["spec"]["selector"])
    if spec.get("manualSelector") or not isinstance(spec.get("template"), dict):
        return
    metadata = job["metadata"]
    uid = (old or {}).get("metadata", {}).get("uid") or metadata["uid"]
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    template_meta = spec["template"].get("metadata")
    template_meta = spec["template"]["metadata"] = template_meta if isinstance(template_meta, dict) else {}
    labels = template_meta.setdefault("labels", {})
    for prefix in ("batch.kubernetes.io/", ""):
        labels.setdefault(f"{prefix}controller-uid", uid)
        labels.setdefault(f"{prefix}job-name", metadata["name"])
