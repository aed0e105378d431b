"""Waiting for a release with kr8s against the emulated API server: watches, not polls."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from aframe_tune.cluster.errors import ClusterError, ClusterRefusedError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.readiness import wait_for_head_and_worker
from aframe_tune.cluster.target import KubeTarget
from tests.k8s.emulator import KubernetesEmulator

pytestmark = pytest.mark.cluster
RELEASE = "aframe-tune-abc123"


def pod(name: str, component: str) -> dict:
    return {"metadata": {"name": name, "labels": {"app.kubernetes.io/instance": RELEASE,
                                                  "app.kubernetes.io/component": component}},
            "spec": {"containers": [{"name": "ray", "image": "ray"}]},
            "status": {"phase": "Pending"}}


def make_ready(api: KubernetesEmulator, name: str) -> None:
    api.update_status("pods", "default", name, {"phase": "Running"})
    api.set_condition("pods", "default", name, "Ready", True)


def later(delay: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()), daemon=True)
    thread.start()
    return thread


@pytest.fixture
def api(tmp_path: Path):
    with KubernetesEmulator() as emulator:
        emulator.kubeconfig_path = emulator.write_kubeconfig(tmp_path / "kubeconfig")
        yield emulator


def client(api: KubernetesEmulator, context: str | None = None):
    return KubeApi.connect(KubeTarget(namespace="default", kubeconfig=api.kubeconfig_path, context=context))


def test_returns_when_head_and_one_worker_are_ready_using_one_watch(api: KubernetesEmulator) -> None:
    for name, component in (("h", "head"), ("w1", "worker"), ("w2", "worker")):
        api.create("pods", "default", pod(name, component))
    lines: list[str] = []

    async def scenario():
        kube = await client(api)
        api.clear_request_log()
        later(0.3, lambda: make_ready(api, "h"))
        later(0.6, lambda: make_ready(api, "w2"))
        return await wait_for_head_and_worker(kube, RELEASE, 30, progress=lines.append)

    state = asyncio.run(scenario())
    assert state.usable and [p.name for p in state.ready("worker")] == ["w2"]
    assert lines[-1] == f"Ray cluster {RELEASE}: head Running, ready | workers 1/2 ready (1 Pending)"
    pod_requests = api.requests(path=r"/pods")
    assert len(api.requests(path=r"/pods", watch=True)) == 1
    assert len(pod_requests) == 1  # no list-and-poll, whatever the number of state changes


def test_timeout_names_what_is_missing_and_the_problems(api: KubernetesEmulator) -> None:
    api.create("pods", "default", pod("h", "head"))
    make_ready(api, "h")
    worker = pod("w1", "worker")
    worker["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                       "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]
    api.create("pods", "default", worker)

    async def scenario():
        return await wait_for_head_and_worker(await client(api), RELEASE, 1.5)

    with pytest.raises(ClusterError) as error:
        asyncio.run(scenario())
    message = str(error.value)
    assert f"Ray cluster {RELEASE} was not ready after 2 s (head Running, ready | workers 0/1 ready (1 Pending))" in message
    assert "w1: Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu." in message
    assert "ready_timeout" in message


def test_api_server_errors_become_cluster_errors(api: KubernetesEmulator) -> None:
    api.inject_fault(403, path=r"/pods", count=5)

    async def scenario():
        return await wait_for_head_and_worker(await client(api, context="emulated"), RELEASE, 10)

    with pytest.raises(ClusterRefusedError, match="refused it \\(HTTP 403: injected fault\\): check that kube context emulated of .* may manage"):
        asyncio.run(scenario())
