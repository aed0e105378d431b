"""What a way of deploying a Ray cluster on Kubernetes provides: the backend interface.

A backend installs a release of a cluster, tells when it can run work, and removes it.
``cluster/session.py`` drives one through its life, the same way for a remote search and a
dispatch.
"""

from __future__ import annotations

from typing import Protocol

from aframe_tune.cluster.target import KubeTarget
from aframe_tune.cluster.values import RayClusterValues


class ClusterBackend(Protocol):
    """How a Ray cluster is made of Kubernetes objects.

    Every method raises :class:`~aframe_tune.cluster.errors.ClusterError` on failure.
    """

    name: str
    target: KubeTarget

    async def install(self, release: str, values: RayClusterValues) -> None:
        """Create the release's objects; returns without waiting for its pods."""

    async def wait_until_ready(self, release: str, timeout_s: float) -> None:
        """Return once the head and a worker are ready; report progress on the console and pod
        problems as warnings."""

    async def uninstall(self, release: str) -> None:
        """Remove the release and its Secrets; nothing happens if it is gone."""
