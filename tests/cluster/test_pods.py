"""Reading Ray pods' Kubernetes status the way a real API server reports it."""

from __future__ import annotations

from typing import Any

from aframe_tune.cluster.pods import ClusterState, read_pod_state


def pod(name: str, component: str, phase: str = "Pending", ready: bool = False, **status: Any) -> dict:
    conditions = status.pop("conditions", [])
    if phase == "Running":
        conditions.append({"type": "Ready", "status": "True" if ready else "False"})
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": component,
                                              "app.kubernetes.io/instance": "tune-x"}},
        "status": {"phase": phase, "conditions": conditions, **status},
    }


def waiting(reason: str, message: str = "") -> list[dict]:
    return [{"name": "ray-worker", "ready": False, "restartCount": 3,
             "state": {"waiting": {"reason": reason, "message": message}}}]


def test_running_and_ready() -> None:
    state = read_pod_state(pod("h", "head", "Running", ready=True))
    assert (state.component, state.phase, state.ready, state.problem) == ("head", "Running", True, None)


def test_unschedulable_for_lack_of_gpus() -> None:
    state = read_pod_state(pod("w", "worker", conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/12 nodes are available: 12 Insufficient nvidia.com/gpu."}]))
    assert state.problem == "Unschedulable: 0/12 nodes are available: 12 Insufficient nvidia.com/gpu."
    assert not state.permanent


def test_image_pull_backoff_is_reported_but_may_recover() -> None:
    state = read_pod_state(pod("w", "worker", containerStatuses=waiting(
        "ImagePullBackOff", 'Back-off pulling image "rayproject/ray:nope"')))
    assert state.problem.startswith("ImagePullBackOff in container ray-worker: Back-off pulling")
    assert not state.permanent


def test_crash_loop_and_invalid_image() -> None:
    assert read_pod_state(pod("h", "head", "Running", containerStatuses=waiting("CrashLoopBackOff"))).problem \
        == "CrashLoopBackOff in container ray-worker"
    assert read_pod_state(pod("h", "head", containerStatuses=waiting("InvalidImageName"))).permanent


def test_failed_init_container_is_seen() -> None:
    state = read_pod_state(pod("w", "worker", "Pending", initContainerStatuses=[
        {"name": "git-sync", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]))
    assert state.problem == "CrashLoopBackOff in container git-sync"


def test_cluster_usable_needs_head_and_a_worker() -> None:
    head = read_pod_state(pod("h", "head", "Running", ready=True))
    worker_ready = read_pod_state(pod("w1", "worker", "Running", ready=True))
    worker_pending = read_pod_state(pod("w2", "worker"))
    assert not ClusterState({"h": head}).usable
    assert not ClusterState({"w1": worker_ready}).usable
    state = ClusterState({"h": head, "w1": worker_ready, "w2": worker_pending})
    assert state.usable
    assert state.summary() == "head Running, ready | workers 1/2 ready (1 Pending)"
    assert ClusterState({}).summary() == "head not created yet | workers 0/0 ready"
