"""kr8s wrapped once: every transport or server error leaves KubeApi as one of a few ClusterErrors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aframe_tune.cluster.errors import ClusterConflictError, ClusterRefusedError, ClusterUnreachableError
from aframe_tune.cluster.kube import KubeApi, reachable_target
from aframe_tune.cluster.target import KubeTarget
from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.policy import PlatformPolicy

pytestmark = pytest.mark.cluster
GPU = {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}


def gpu_deployment() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "gpu-service"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "x", "resources": {"requests": GPU, "limits": GPU}}]}}}}


def test_objects_round_trip_and_conflicts_are_their_own_class(tmp_path: Path) -> None:
    with KubernetesEmulator(namespaces=("default", "gw-albert")) as emulator:
        target = KubeTarget(namespace="", kubeconfig=emulator.write_kubeconfig(tmp_path / "k", namespace="gw-albert"))

        async def scenario() -> None:
            assert (await reachable_target(target)).namespace == "gw-albert"  # the context's own
            api = await KubeApi.connect(target)
            created = await api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                        "data": {"a": "1"}})
            assert (await api.get("configmaps", "c"))["data"] == {"a": "1"}
            with pytest.raises(ClusterConflictError):
                await api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
            await api.patch("configmaps", "c", {"data": {"a": "2"}})
            with pytest.raises(ClusterConflictError):  # written since it was read
                await api.patch("configmaps", "c", {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                                                    "data": {"a": "3"}})
            assert await api.delete("configmaps", "c") and not await api.delete("configmaps", "c")
            assert await api.get("configmaps", "c") is None

        asyncio.run(scenario())


def test_a_policy_denial_names_the_rule(tmp_path: Path) -> None:
    with KubernetesEmulator() as emulator:
        emulator.store.admission.append(PlatformPolicy())
        target = KubeTarget(namespace="default", kubeconfig=emulator.write_kubeconfig(tmp_path / "k"))

        async def scenario() -> None:
            await (await KubeApi.connect(target)).create(gpu_deployment())

        with pytest.raises(ClusterRefusedError, match=r"HTTP 403: admission webhook .* denied the request: "
                                                      r"Deployment/gpu-service: a Deployment may not request GPUs"):
            asyncio.run(scenario())


def test_an_expired_credential_and_a_gone_server(tmp_path: Path) -> None:
    with KubernetesEmulator() as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "k")
        emulator.token = "rotated"  # the kubeconfig's token is no longer accepted

        async def listing() -> None:
            await (await KubeApi.connect(KubeTarget(namespace="default", kubeconfig=kubeconfig))).list("pods")

        with pytest.raises(ClusterRefusedError, match=r"HTTP 401\): the credential of kube context"):
            asyncio.run(listing())
    with pytest.raises(ClusterUnreachableError, match="cannot reach the API server"):
        asyncio.run(KubeApi.connect(KubeTarget(namespace="default", kubeconfig=kubeconfig)))
