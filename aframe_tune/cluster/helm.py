"""Installing and uninstalling ``charts/ray-cluster`` releases with helm, through pyhelm3."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pyhelm3 import Client

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.cluster.values import RayClusterValues
from aframe_tune.console import say
from aframe_tune.errors import ConfigError

logger = logging.getLogger(__name__)


def chart_directory() -> Path:
    """``charts/ray-cluster``: inside the wheel, or in the source checkout."""
    package = Path(__file__).resolve().parents[1]
    for root in (package / "charts", package.parent / "charts"):
        if (root / "ray-cluster" / "Chart.yaml").is_file():
            return root / "ray-cluster"
    raise ClusterError(f"aframe-tune's ray-cluster chart is missing from {package}")


HELM_INSTALL_DOCS = "https://helm.sh/docs/intro/install/"


def helm_executable() -> str:
    """``$HELM_BIN`` (the name helm gives its own path for plugins), else ``helm`` on the PATH."""
    return os.environ.get("HELM_BIN") or "helm"


def check_helm() -> None:
    """helm must be there, and be helm 3, before anything is created.

    Raises:
        ConfigError: it is missing or another major version; the message says how to install it.
    """
    found = shutil.which(helm_executable())
    if found is None:
        raise ConfigError(f"helm is not installed ({helm_executable()} is not on the PATH): a remote run deploys its "
                          f"Ray cluster with helm 3; install it ({HELM_INSTALL_DOCS}), or set HELM_BIN to its path")
    try:
        version = subprocess.run([found, "version", "--template", "{{.Version}}"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise ConfigError(f"{found} does not run ({error}); reinstall helm 3 ({HELM_INSTALL_DOCS})") from None
    if not version.startswith("v3."):
        raise ConfigError(f"{found} is helm {version or 'of an unknown version'}, and aframe-tune needs helm 3; "
                          f"install it ({HELM_INSTALL_DOCS})")


def helm_client(target: KubeTarget) -> Any:
    """pyhelm3's client for the target's kubeconfig and context."""
    return Client(executable=helm_executable(), kubeconfig=target.kubeconfig, kubecontext=target.context)


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
    """``helm uninstall`` a release and so its Jobs, Services and Secrets; idempotent."""
    client = helm_client(target)
    try:
        await client.uninstall_release(release, namespace=target.namespace, wait=False)
    except Exception as error:
        raise _helm_failure(error, f"uninstall of {release} from {target.describe()}") from None
    say("Uninstalled Ray cluster release %s from %s", release, target.describe())
