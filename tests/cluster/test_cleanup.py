"""``aframe-tune cleanup`` on the emulated cluster: releases installed by the real helm, found
by their labels, listed (dry run), and removed with their Secrets."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from aframe_tune.cluster.helm import install_ray_cluster
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.cluster.lock import LockHolder, lock_name
from aframe_tune.cluster.values import HeadResources, RayClusterValues, S3Credentials, WorkerResources
from tests.conftest import BIN, clean_environment
from tests.k8s.crds import install_kuberay_crds
from tests.k8s.emulator import KubernetesEmulator

pytestmark = pytest.mark.cluster
IDLE, BUSY, ORPHAN = "aframe-tune-0idle0", "aframe-tune-0busy0", "aframe-tune-orphan"


def values(backend: str = "chart") -> RayClusterValues:
    return RayClusterValues(backend=backend,
        head=HeadResources(cpus=1, memory="2Gi"),
        worker=WorkerResources(replicas=2, gpus=0, cpus=1, memory="2Gi", min_gpu_memory=0),
        s3=S3Credentials("http://127.0.0.1:9", "cleanup-test-key-id", "cleanup-test-secret"),
        auth_token="cleanup-test-token-" + "0" * 32,
    )


def labelled(release: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "aframe-tune", "app.kubernetes.io/instance": release,
            "app.kubernetes.io/component": component}


def add_pod(api: KubernetesEmulator, release: str, component: str, phase: str, ready: bool) -> None:
    name = f"{release}-{component}-{len(api.list('pods', 'default'))}"
    api.create("pods", "default", {"metadata": {"name": name, "labels": labelled(release, component)},
                                   "spec": {"containers": [{"name": "ray", "image": "ray"}]}})
    api.update_status("pods", "default", name, {"phase": phase})
    api.set_condition("pods", "default", name, "Ready", ready)


def objects_of(api: KubernetesEmulator, release: str) -> list[str]:
    """The release's objects, and helm's record of it."""
    found = []
    kinds = ("deployments", "jobs", "services", "secrets", "pods")
    if any(crd["metadata"]["name"] == "rayclusters.ray.io" for crd in api.list("customresourcedefinitions")):
        kinds = ("rayclusters", *kinds)
    for kind in kinds:
        for obj in api.list(kind, "default"):
            labels = obj["metadata"].get("labels") or {}
            if release in (labels.get("app.kubernetes.io/instance"), labels.get("name")):
                found.append(f"{kind}/{obj['metadata']['name']}")
    return found


@pytest.fixture(params=["chart", "kuberay"])
def cluster(tmp_path: Path, request: pytest.FixtureRequest):
    """Two releases installed with helm (one with pods and a search running on it, per its live
    run lock), and the labelled remains of a third that helm has no record of; with backend
    kuberay, the releases are RayClusters (no operator runs: the pods are the test's)."""
    with KubernetesEmulator() as api:
        if request.param == "kuberay":
            install_kuberay_crds(api)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        target = KubeTarget(namespace="default", kubeconfig=kubeconfig)
        for release in (IDLE, BUSY):
            asyncio.run(install_ray_cluster(target, release, values(request.param)))
        add_pod(api, IDLE, "head", "Running", True)
        add_pod(api, IDLE, "worker", "Running", True)
        add_pod(api, IDLE, "worker", "Pending", False)
        holder = LockHolder(host="elsewhere", pid=4242, release=BUSY, renewed=time.time())
        api.create("configmaps", "default", {
            "metadata": {"name": lock_name("s3://bucket/run"),
                         "labels": {"app.kubernetes.io/part-of": "aframe-tune", "app.kubernetes.io/component": "run-lock"}},
            "data": holder.to_data()})
        api.create("secrets", "default", {"metadata": {"name": f"{ORPHAN}-s3", "labels": labelled(ORPHAN, "credentials")},
                                          "data": {}})
        yield api, kubeconfig


def cleanup(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "aframe-tune"), "cleanup", *args], capture_output=True, text=True, timeout=120,
                          env=clean_environment(KUBECONFIG=str(kubeconfig)))


def test_lists_every_release_with_age_state_and_use_without_removing_anything(cluster) -> None:
    api, kubeconfig = cluster
    before = {release: objects_of(api, release) for release in (IDLE, BUSY, ORPHAN)}
    assert all(before.values())
    result = cleanup(kubeconfig)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["RELEASE", "AGE", "STATE", "IN", "USE", "BY"]
    table = {line.split()[0]: line for line in lines[1:4]}
    assert set(table) == {IDLE, BUSY, ORPHAN}
    assert "head Running, ready | workers 1/2 ready (1 Pending)" in table[IDLE]
    assert "search of process 4242 on elsewhere" in table[BUSY] and "no pods" in table[BUSY]
    assert "no Deployments, Jobs or RayClusters left" in table[ORPHAN]
    assert all(line.split()[1].endswith("s") for line in table.values())  # seconds old
    assert lines[-1] == "Dry run: nothing removed. Remove them with: aframe-tune cleanup --yes"
    assert {release: objects_of(api, release) for release in (IDLE, BUSY, ORPHAN)} == before


def test_yes_removes_releases_and_their_secrets_but_keeps_one_a_search_runs_on(cluster) -> None:
    api, kubeconfig = cluster
    result = cleanup(kubeconfig, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Removed {IDLE} and its Secrets." in result.stdout
    assert f"Removed {ORPHAN} and its Secrets." in result.stdout
    assert f"Kept {BUSY}: a search is running on it (search of process 4242 on elsewhere); stop that run.sh " \
           "first, or add --force" in result.stdout
    assert objects_of(api, IDLE) == [] and objects_of(api, ORPHAN) == []
    assert any(name.startswith("secrets/") for name in objects_of(api, BUSY))

    forced = cleanup(kubeconfig, "--release", BUSY, "--yes", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert objects_of(api, BUSY) == []
    assert cleanup(kubeconfig).stdout.strip() == "No aframe-tune Ray clusters in namespace default."


def test_release_picks_one_and_an_unknown_one_is_said_so(cluster) -> None:
    api, kubeconfig = cluster
    result = cleanup(kubeconfig, "--release", IDLE)
    assert [line.split()[0] for line in result.stdout.splitlines()[1:-1]] == [IDLE]
    assert result.stdout.splitlines()[-1] == f"Dry run: nothing removed. Remove it with: aframe-tune cleanup --release {IDLE} --yes"
    assert cleanup(kubeconfig, "--release", "aframe-tune-nope").stdout.strip() == \
        "No release aframe-tune-nope in namespace default."


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    with KubernetesEmulator() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    result = cleanup(kubeconfig)  # the API server is gone
    assert result.returncode == 1
    assert result.stderr.startswith("aframe-tune: error: connecting to Kubernetes failed: cannot reach the API server "
                                    f"of kube context the current context of {kubeconfig}"), result.stderr
    assert "Traceback" not in result.stderr


def test_a_dispatch_release_of_which_only_helm_s_record_is_left_is_found_and_removed(tmp_path: Path) -> None:
    """The record filter once knew only the search's release prefix, so such a release stayed
    in ``helm list`` forever."""
    release = "aframe-dispatch-0dead0"
    with KubernetesEmulator() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        asyncio.run(install_ray_cluster(KubeTarget(namespace="default", kubeconfig=kubeconfig), release, values()))
        for kind in ("deployments", "jobs", "services", "secrets"):
            for obj in api.list(kind, "default"):
                if (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/instance") == release:
                    api.delete(kind, "default", obj["metadata"]["name"])
        assert [name.split("/")[0] for name in objects_of(api, release)] == ["secrets"]  # helm's record alone

        listed = cleanup(kubeconfig)
        assert listed.stdout.splitlines()[1].split()[0] == release, listed.stdout + listed.stderr
        removed = cleanup(kubeconfig, "--yes")
        assert f"Removed {release} and its Secrets." in removed.stdout, removed.stdout + removed.stderr
        assert objects_of(api, release) == []
