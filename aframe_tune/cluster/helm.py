"""Installing and uninstalling ``charts/ray-cluster`` releases with helm, through pyhelm3."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pyhelm3 import Client

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.cluster.values import RayClusterValues
from aframe_tune.console import say

logger = logging.getLogger(__name__)


def chart_directory() -> Path:
    """``charts/ray-cluster``: inside the wheel, or in the source checkout."""
    package = Path(__file__).resolve().parents[1]
    for root in (package / "charts", package.parent / "charts"):
        if (root / "ray-cluster" / "Chart.yaml").is_file():
            return root / "ray-cluster"
    raise ClusterError(f"aframe-tune's ray-cluster chart is missing from {package}")


def helm_client(target: KubeTarget) -> Any:
    """pyhelm3's client for the target's kubeconfig and context."""
    return Client(kubeconfig=target.kubeconfig, kubecontext=target.context)


def _helm_failure(error: Exception, doing: str) -> ClusterError:
    # pyhelm3 raises its own Error subclasses carrying helm's stderr; helm does not echo values.
    detail = str(error).strip() or type(error).__name__
    return ClusterError(f"helm {doing} failed: {detail}")


async def install_ray_cluster(target: KubeTarget, release: str, values: RayClusterValues) -> None:
    """``helm install`` a Ray cluster release; values travel on helm's stdin, never argv."""
    client = helm_client(target)
    try:
        chart = await client.get_chart(chart_directory())
        await client.install_or_upgrade_release(
            release,
            chart,
            values.to_helm_values(),
            namespace=target.namespace,
            create_namespace=False,
            wait=False,
        )
    except ClusterError:
        raise
    except Exception as error:
        raise _helm_failure(error, f"install of {release} into {target.describe()}") from None
    logger.info("Installed Ray cluster release %s in %s", release, target.describe())


async def uninstall_ray_cluster(target: KubeTarget, release: str) -> None:
    """``helm uninstall`` a release and so its Deployments, Services and Secrets; idempotent."""
    client = helm_client(target)
    try:
        await client.uninstall_release(release, namespace=target.namespace, wait=False)
    except Exception as error:
        raise _helm_failure(error, f"uninstall of {release} from {target.describe()}") from None
    say("Uninstalled Ray cluster release %s from %s", release, target.describe())
