"""The ``kuberay`` backend: the chart renders a ``ray.io/v1`` RayCluster (a RayJob, whose cluster
KubeRay makes, for a search), and the cluster's KubeRay operator makes its pods; Ray's
autoscaler, in the head pod, removes idle workers."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from aframe_tune.cluster.chart_backend import ChartBackend
from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.names import product_labels
from aframe_tune.cluster.readiness import first_done
from aframe_tune.cluster.target import KubeTarget

RAYCLUSTER_API = ("ray.io/v1", "rayclusters")
# conditions KubeRay sets when it cannot make the cluster's pods (admission refused them, quota...)
FAILURE_CONDITIONS = ("ReplicaFailure",)


class KubeRayBackend(ChartBackend):
    """Releases of ``charts/ray-cluster`` with ``backend: kuberay``: a RayCluster (a RayJob, for a
    search) and its Secrets. Installed and removed as the chart backend's are.

    Args:
        target: the kube context and namespace; its cluster runs the KubeRay operator.
    """

    name = "kuberay"

    async def wait_until_ready(self, release: str, timeout_s: float) -> None:
        """As the chart backend waits for the pods, but also fails at once when the operator
        reports that it cannot make the RayCluster's pods."""
        ready, failure = await first_done(super().wait_until_ready(release, timeout_s),
                                          raycluster_failure(self.target, release))
        if not ready:
            raise failure


async def raycluster_failure(target: KubeTarget, release: str) -> ClusterError:
    """Wait until the release's RayCluster has a failure condition; the error that says why."""
    api = await KubeApi.connect(target)
    # by the release's label: a RayJob's RayCluster has a generated name, and the RayJob's labels
    watch = api.watch("rayclusters", labels=product_labels(release), doing=f"watching RayCluster {release}")
    async with aclosing(watch) as events:
        async for _event, raw in events:
            problem = failure_of(raw)
            if problem:
                return ClusterError(f"the KubeRay operator cannot make Ray cluster {release}'s pods: {problem}")
    return ClusterError(f"the watch of RayCluster {release} ended unexpectedly")


def failure_of(raycluster: dict[str, Any]) -> str:
    """The message of a RayCluster's failure condition, or ``""``."""
    for condition in (raycluster.get("status") or {}).get("conditions") or []:
        if condition.get("type") in FAILURE_CONDITIONS and condition.get("status") == "True":
            return condition.get("message") or condition.get("reason") or condition["type"]
    return ""
