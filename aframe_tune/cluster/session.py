"""The life of one Ray cluster release: install, wait until usable, hand out its address, uninstall."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aframe_tune.cluster.errors import ClusterError, translate_kubernetes_error
from aframe_tune.cluster.helm import KubeTarget, install_ray_cluster, uninstall_ray_cluster
from aframe_tune.cluster.readiness import wait_for_client_address, wait_for_head_and_worker
from aframe_tune.cluster.values import RayClusterValues
from aframe_tune.console import say

logger = logging.getLogger(__name__)

RAY_CLIENT_PORT = 10001


def new_release_name(prefix: str = "aframe-tune") -> str:
    """A fresh DNS-1123 release name, so a re-run never collides with a half-removed release."""
    return f"{prefix}-{secrets.token_hex(3)}"


def kr8s_api(target: KubeTarget):
    import kr8s.asyncio

    async def connect():
        return await kr8s.asyncio.api(
            kubeconfig=str(target.kubeconfig) if target.kubeconfig else None,
            context=target.context,
            namespace=target.namespace,
        )

    return connect()


async def check_kube_context(target: KubeTarget) -> None:
    """Fail before anything is created if the cluster cannot be reached with this context."""
    try:
        api = await kr8s_api(target)
        await api.async_version()
    except Exception as error:
        raise translate_kubernetes_error(
            error, f"connecting to Kubernetes through {target.describe()}", target.describe()
        ) from None


@dataclass(frozen=True)
class RayClusterAddress:
    """Where the local driver reaches a deployed cluster."""

    host: str
    port: int = RAY_CLIENT_PORT

    @property
    def ray_client_url(self) -> str:
        return f"ray://{self.host}:{self.port}"


async def wait_until_usable(target: KubeTarget, release: str, timeout_s: float) -> RayClusterAddress:
    """Watch the release until its head and a worker are ready and its client Service has an
    external address; return that address."""
    api = await kr8s_api(target)
    await wait_for_head_and_worker(api, release, target.namespace, timeout_s, progress=say,
                                   context=target.describe())
    host = await wait_for_client_address(
        api, f"{release}-client", target.namespace, timeout_s, context=target.describe()
    )
    say("Ray cluster %s is ready; its client address is %s:%d", release, host, RAY_CLIENT_PORT)
    return RayClusterAddress(host)


@contextmanager
def deployed_ray_cluster(
    target: KubeTarget,
    release: str,
    values: RayClusterValues,
    ready_timeout_s: float,
    keep: bool = False,
) -> Iterator[RayClusterAddress]:
    """Install the release, wait until its head and a worker are ready, yield its address.

    The release (and with it its Secrets) is uninstalled when the block ends, whether it
    succeeded, failed or was interrupted, unless ``keep`` is set.
    """
    try:
        asyncio.run(install_ray_cluster(target, release, values))
        yield asyncio.run(wait_until_usable(target, release, ready_timeout_s))
    finally:
        if keep:
            logger.warning(
                "Keeping Ray cluster %s as asked; remove it with: helm uninstall %s -n %s",
                release, release, target.namespace,
            )
        else:
            try:
                asyncio.run(uninstall_ray_cluster(target, release))
            except ClusterError as error:
                logger.error("%s; remove it by hand: helm uninstall %s -n %s", error, release, target.namespace)


def remove_left_behind(target: KubeTarget, release: str, holder: str) -> None:
    """Uninstall the release of an earlier run of this experiment that died without cleaning up
    (its driver was killed), so that it stops holding GPUs; nothing happens if it is gone."""
    if not release:
        return
    logger.warning("Removing Ray cluster %s, left behind by %s, which stopped without removing it", release, holder)
    try:
        asyncio.run(uninstall_ray_cluster(target, release))
    except ClusterError as error:
        logger.info("Ray cluster %s is already gone (%s)", release, error)
