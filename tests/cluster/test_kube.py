"""kr8s wrapped once: every transport or server error leaves KubeApi as one of a few ClusterErrors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
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


# Many connections, and a token that expires under one of them, in a process of its own whose
# temporary files all go to TMPDIR; it prints how many files are there at the end.
MANY_CONNECTIONS = """
import asyncio, os, sys, time
from pathlib import Path
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.target import KubeTarget

target = KubeTarget(namespace="default", kubeconfig=Path(sys.argv[1]))

async def outlive_a_token() -> None:
    api = await KubeApi.connect(target)
    await api.list("pods")
    await asyncio.sleep(float(sys.argv[2]))
    for _ in range(3):  # kr8s answers each 401 by running the plugin again and writing the CA again
        await api.list("pods")
        await asyncio.sleep(float(sys.argv[2]))

for _ in range(20):  # a new event loop each time: a new kr8s client, which writes the CA again
    asyncio.run(KubeApi.connect(target))
asyncio.run(outlive_a_token())
asyncio.run(KubeApi.connect(target))
print(sum(len(files) for _, _, files in os.walk(os.environ["TMPDIR"])))
"""


def test_the_temporary_files_kr8s_writes_are_removed(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with KubernetesEmulator(token_lifetime=1) as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "k")
        done = subprocess.run([sys.executable, "-c", MANY_CONNECTIONS, str(kubeconfig), "2.1"], capture_output=True,
                              text=True, env={**os.environ, "TMPDIR": str(scratch)}, timeout=120)
        assert done.returncode == 0, done.stderr
        assert emulator.unauthorized >= 3 and emulator.tokens_issued >= 24  # it did re-authenticate
    assert int(done.stdout.split()[-1]) <= 2  # the CA of the live connections (24 written)
    assert list(scratch.rglob("*")) == []  # and none left after exit


def test_a_token_that_expires_in_use_is_renewed_without_a_warning(tmp_path: Path, recwarn) -> None:
    with KubernetesEmulator(token_lifetime=1) as emulator:
        target = KubeTarget(namespace="default", kubeconfig=emulator.write_kubeconfig(tmp_path / "k"))

        async def scenario() -> None:
            api = await KubeApi.connect(target)
            await asyncio.sleep(2.1)  # expired
            emulator.apply("pods", "default", {"metadata": {"name": "p"}, "spec": {"containers": []}})
            assert [pod["metadata"]["name"] for pod in await api.list("pods")] == ["p"]

        asyncio.run(scenario())
        # refused once, renewed, asked again
        assert emulator.unauthorized == 1 and [r.status for r in emulator.requests(path="/pods")] == [401, 200]
    assert [str(w.message) for w in recwarn if "Unauthorized" in str(w.message)] == []


DISCOVERY = r"^/(api|apis)(/[^/]+(/v[^/]*)?)?/?$"  # /api, /apis, /api/v1, /apis/GROUP, /apis/GROUP/VERSION


def test_the_kinds_aframe_tune_uses_need_no_discovery_from_a_new_client(tmp_path: Path) -> None:
    with KubernetesEmulator() as emulator:
        target = KubeTarget(namespace="default", kubeconfig=emulator.write_kubeconfig(tmp_path / "k"))

        async def scenario() -> None:
            api = await KubeApi.connect(target)
            emulator.clear_request_log()
            await api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}})
            assert await api.get("configmaps", "c") is not None
            for kind in ("pods", "secrets", "services", "jobs", "deployments", "roles", "rolebindings",
                         "serviceaccounts"):
                await api.list(kind)
            await api.patch("configmaps", "c", {"data": {"a": "1"}})
            assert await api.delete_matching("configmaps", {"x": "y"}) == []
            assert await api.delete("configmaps", "c")

        asyncio.run(scenario())
        assert emulator.requests(path=DISCOVERY) == [], [r.path for r in emulator.requests(path=DISCOVERY)]
        assert emulator.requests(path="/configmaps") and emulator.requests(path="/apis/batch/v1/namespaces/default/jobs")


def test_a_watch_whose_connection_drops_is_opened_again(tmp_path: Path) -> None:
    """kr8s replaces its connections when it renews an expired credential, which cuts the other
    watches of its client; a proxy may cut an idle one. KubeApi watches again (objects come again)."""
    with KubernetesEmulator() as emulator:
        target = KubeTarget("default", emulator.write_kubeconfig(tmp_path / "kubeconfig"))
        emulator.create("configmaps", "default", {"metadata": {"name": "before"}})

        async def follow() -> list[str]:
            api = await KubeApi.connect(target)
            seen: list[str] = []
            async for _event, raw in api.watch("configmaps"):
                seen.append(raw["metadata"]["name"])
                if seen == ["before"]:
                    emulator._server.cut_connections()  # the connection goes, as a proxy would cut it
                    emulator.create("configmaps", "default", {"metadata": {"name": "after"}})
                if "after" in seen:
                    return seen
            return seen

        seen = asyncio.run(asyncio.wait_for(follow(), 30))
    assert seen[0] == "before" and seen[-1] == "after"
