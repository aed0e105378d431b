"""A Ray cluster deployed on Kubernetes for one dispatch: ``jobs.yaml``'s ``cluster:``.

The same cluster a remote search deploys, described by jobs.yaml instead of tune.cfg (the one
schema is in ``cluster/description.py``), deployed the same way (``cluster/session.py``), and
removed when the dispatch ends. The jobs reach it through Ray's Jobs API, at its head's
dashboard, which this machine reaches by a port-forward through the Kubernetes API
(``cluster/dashboard.py``): no Service faces outside the cluster. The jobs run in its worker
pods; the folder of jobs.yaml travels to them as Ray's runtime-environment working directory,
so the train.yaml files and code it holds are there too.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aframe_tune.cluster.description import ClusterDescription
from aframe_tune.cluster.values import S3Credentials
from aframe_tune.console import say
from aframe_tune.dispatch.jobs import parse_memory
from aframe_tune.dispatch.placement import NodeResources

logger = logging.getLogger(__name__)


def worker_node(cluster: ClusterDescription) -> NodeResources:
    """What a worker pod has as a Ray node (memory: the whole pod's, an upper bound), for refusing
    jobs that could never run before any pod is started."""
    return NodeResources(cluster.worker.cpus, cluster.worker.gpus, parse_memory(cluster.worker.memory, "worker memory"))


def shipped_runtime_env(root: Path, log_dir: Path) -> dict[str, Any]:
    """Ray's runtime environment that sends jobs.yaml's folder to the pods, without the
    dispatch's own logs (earlier jobs' outputs can be large)."""
    runtime_env: dict[str, Any] = {"working_dir": str(root)}
    if log_dir.is_relative_to(root) and log_dir != root:
        runtime_env["excludes"] = [f"/{log_dir.relative_to(root).as_posix()}/"]
    return runtime_env


def dispatch_lock_key(jobs_file: Path) -> str:
    """What names a jobs.yaml in its run lock: the file on this machine."""
    return f"dispatch://{socket.gethostname()}{jobs_file}"


def s3_credentials_if_any() -> S3Credentials:
    """S3 keys, when this shell has them, so jobs can keep what they make beyond the cluster's life."""
    return S3Credentials(os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_ACCESS_KEY_ID", ""),
                         os.environ.get("AWS_SECRET_ACCESS_KEY", ""))


@contextmanager
def deployed_dispatch_cluster(cluster: ClusterDescription, jobs_file: Path) -> Iterator[str]:
    """Deploy the cluster, wait until its head and a worker are ready, yield the address of its
    Jobs API (a local port forwarded to the head's dashboard); the release and its Secrets are
    removed when the block ends (unless ``keep``).

    While it runs, the dispatch holds a run lock for ``jobs_file`` (``cluster/lock.py``): a second
    dispatch of the file is refused, the cluster of a dispatcher that was killed is removed, and
    ``aframe-tune cleanup`` keeps this one. Call before Ray is imported: the cluster's token
    reaches Ray through the environment.
    """
    # imported here: kr8s and pyhelm3 cost a third of a second that local dispatches do not pay
    from aframe_tune.cluster.dashboard import forwarded_dashboard
    from aframe_tune.cluster.lock import ClusterRunLock
    from aframe_tune.cluster.names import DISPATCH_RELEASE_PREFIX
    from aframe_tune.cluster.session import checked_cluster, new_release_name, ray_cluster_session, use_new_ray_token

    cluster = checked_cluster(cluster)
    token = use_new_ray_token()
    release = new_release_name(DISPATCH_RELEASE_PREFIX)
    lock = ClusterRunLock(cluster.target, dispatch_lock_key(jobs_file), release, activity="dispatch")
    values = cluster.values(s3_credentials_if_any(), token, wandb_api_key=os.environ.get("WANDB_API_KEY", ""))

    def announce() -> None:
        logger.info("Deploying Ray cluster %s in %s for the jobs; waiting up to %.0f s for its head and a worker",
                    release, cluster.target.describe(), cluster.ready_timeout_s)

    with ray_cluster_session(cluster, release, values, lock, announce), \
            forwarded_dashboard(cluster.target, release) as dashboard:
        say("Ray cluster %s is ready; its dashboard is at %s while the jobs run", release, dashboard)
        yield dashboard
