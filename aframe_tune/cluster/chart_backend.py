"""The ``chart`` backend: aframe-tune's own Helm chart, ``charts/ray-cluster``, installed with helm."""

from __future__ import annotations

from aframe_tune.cluster.helm import install_ray_cluster, uninstall_ray_cluster
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.readiness import wait_for_head_and_worker
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.cluster.values import RayClusterValues
from aframe_tune.console import say


class ChartBackend:
    """Releases of ``charts/ray-cluster``: head and workers (and a search Job, for a search).

    Args:
        target: the kube context and namespace.
    """

    name = "chart"

    def __init__(self, target: KubeTarget) -> None:
        self.target = target

    async def install(self, release: str, values: RayClusterValues) -> None:
        await install_ray_cluster(self.target, release, values)

    async def wait_until_ready(self, release: str, timeout_s: float) -> None:
        api = await KubeApi.connect(self.target)
        await wait_for_head_and_worker(api, release, timeout_s, progress=say)

    async def uninstall(self, release: str) -> None:
        await uninstall_ray_cluster(self.target, release)

