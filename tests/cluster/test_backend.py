"""Which backend deploys a cluster (``backend = auto | kuberay | chart``), and the KubeRay backend's
wait, on the emulated API server with and without KubeRay's CRDs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from aframe_tune.cluster.chart_backend import ChartBackend
from aframe_tune.cluster.description import parse_cluster_mapping
from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.kuberay_backend import KubeRayBackend
from aframe_tune.cluster.names import product_labels
from aframe_tune.cluster.session import backend_for, checked_cluster
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.config import ClusterBackendName
from aframe_tune.errors import InvalidInputsError
from tests.cluster.chart import needs_helm
from tests.k8s.crds import install_kuberay_crds
from tests.k8s.emulator import KubernetesEmulator

pytestmark = [pytest.mark.cluster, needs_helm]


@pytest.fixture(params=["plain", "kuberay"])
def api(request: pytest.FixtureRequest) -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator(namespaces=("default", "gw-albert")) as server:
        if request.param == "kuberay":
            install_kuberay_crds(server)
        yield server


def described(api: KubernetesEmulator, tmp_path: Path, backend: str):
    cluster = parse_cluster_mapping({"backend": backend}, "jobs.yaml: cluster")
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", namespace="gw-albert")
    return dataclasses.replace(cluster, target=KubeTarget(namespace="", kubeconfig=kubeconfig))


def serves_kuberay(api: KubernetesEmulator) -> bool:
    return bool(api.list("customresourcedefinitions"))


def test_auto_picks_kuberay_where_the_cluster_serves_rayclusters(api: KubernetesEmulator, tmp_path: Path) -> None:
    cluster = checked_cluster(described(api, tmp_path, "auto"))
    expected = ClusterBackendName.KUBERAY if serves_kuberay(api) else ClusterBackendName.CHART
    assert cluster.backend is expected and cluster.target.namespace == "gw-albert"
    assert type(backend_for(cluster)) is (KubeRayBackend if serves_kuberay(api) else ChartBackend)
    assert checked_cluster(described(api, tmp_path, "chart")).backend is ClusterBackendName.CHART


def test_kuberay_without_the_operator_is_an_input_problem(api: KubernetesEmulator, tmp_path: Path) -> None:
    if serves_kuberay(api):
        assert checked_cluster(described(api, tmp_path, "kuberay")).backend is ClusterBackendName.KUBERAY
        return
    with pytest.raises(InvalidInputsError) as refused:
        checked_cluster(described(api, tmp_path, "kuberay"))
    message = str(refused.value)
    assert "backend = kuberay" in message and "does not serve ray.io/v1 RayCluster" in message
    assert "Set backend = chart (or auto)" in message
    assert api.list("secrets", "gw-albert") == []  # nothing was created


def test_the_wait_ends_at_once_when_the_operator_cannot_make_the_pods(tmp_path: Path) -> None:
    with KubernetesEmulator(namespaces=("default", "gw-albert")) as api:
        install_kuberay_crds(api)
        target = KubeTarget("gw-albert", api.write_kubeconfig(tmp_path / "kubeconfig"))
        api.create("rayclusters", "gw-albert", {"apiVersion": "ray.io/v1", "kind": "RayCluster",
                                                "metadata": {"name": "aframe-tune-abc123-x7k2p", "labels": {
                                                    **product_labels("aframe-tune-abc123")}}, "spec": {
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                {"name": "ray-head", "image": "rayproject/ray"}]}}}}})
        # found by the release's labels: a RayJob's cluster has a generated name
        api.update_status("rayclusters", "gw-albert", "aframe-tune-abc123-x7k2p", {"conditions": [{
            "type": "ReplicaFailure", "status": "True", "reason": "FailedCreatePod",
            "lastTransitionTime": "2026-12-02T00:00:00Z",
            "message": 'admission webhook "policy" denied the request: container ray-head has no limits'}]})
        with pytest.raises(ClusterError) as failed:
            asyncio.run(asyncio.wait_for(KubeRayBackend(target).wait_until_ready("aframe-tune-abc123", 600), 60))
    assert "the KubeRay operator cannot make Ray cluster aframe-tune-abc123's pods" in str(failed.value)
    assert "container ray-head has no limits" in str(failed.value)
