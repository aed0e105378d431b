"""A Ray cluster deployed on Kubernetes for one dispatch: ``jobs.yaml``'s ``cluster:``.

The same ``charts/ray-cluster`` release a remote search deploys (``TuneRemote``), shaped by
jobs.yaml instead of tune.cfg, and removed when the dispatch ends. The jobs run in its worker
pods; the folder of jobs.yaml travels to them as Ray's runtime-environment working directory,
so the train.yaml files and code it holds are there too.

```yaml
cluster:                          # every key optional; `cluster: {}` takes all the defaults
  namespace: default
  kube_context: null              # default: the kubeconfig's current context
  image: rayproject/ray:2.60.0-py311
  image_pull_policy: IfNotPresent
  head: {cpus: 2, memory: 8G}
  worker: {replicas: 1, gpus_per_replica: 1, cpus_per_gpu: 8, memory_per_gpu: 16, min_gpu_memory: 15000}
  ready_timeout: 900              # seconds to wait for the head and a worker
  keep: false                     # leave the cluster running afterwards
```
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aframe_tune.cluster.values import HeadResources, Image, WorkerResources
from aframe_tune.config import check_dns_label, check_positive, check_quantity
from aframe_tune.errors import AframeTuneError, ConfigError, Problems, did_you_mean

if TYPE_CHECKING:
    from aframe_tune.cluster.helm import KubeTarget

logger = logging.getLogger(__name__)

CLUSTER_KEYS = {"namespace", "kube_context", "image", "image_pull_policy", "head", "worker", "ready_timeout", "keep"}
HEAD_DEFAULTS: dict[str, Any] = {"cpus": 2, "memory": "8G"}
WORKER_DEFAULTS: dict[str, Any] = {"replicas": 1, "gpus_per_replica": 1, "cpus_per_gpu": 8, "memory_per_gpu": 16,
                                   "min_gpu_memory": 15000}
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
RELEASE_PREFIX = "aframe-dispatch"


@dataclass(frozen=True)
class DispatchCluster:
    """The Ray cluster a dispatch deploys on Kubernetes.

    Args:
        namespace: the namespace of the release.
        kube_context: the kube context, ``None`` for the current one.
        image: the pods' image (with aframe-tune and the jobs' dependencies installed).
        head: the head pod's resources (it runs no job).
        worker: the worker pods' shape; the jobs run there.
        ready_timeout_s: how long to wait for the head and a worker.
        keep: leave the cluster running when the dispatch ends.
    """

    namespace: str = "default"
    kube_context: str | None = None
    image: Image = field(default_factory=Image)
    head: HeadResources = field(default_factory=lambda: HeadResources(**HEAD_DEFAULTS))
    worker: WorkerResources = field(default_factory=lambda: worker_shape(WORKER_DEFAULTS))
    ready_timeout_s: float = 900.0
    keep: bool = False

    @property
    def target(self) -> KubeTarget:
        from aframe_tune.cluster.helm import KubeTarget

        return KubeTarget(namespace=self.namespace, context=self.kube_context)

    def worker_node(self) -> dict[str, Any]:
        """A worker pod as ``ray.nodes()`` would list it (memory: the whole pod's, an upper
        bound), for refusing jobs that could never run before any pod is started."""
        from aframe_tune.dispatch.jobs import parse_memory  # jobs.py imports this module

        memory = parse_memory(self.worker.memory, "worker memory")
        return {"Alive": True, "Resources": {"CPU": self.worker.cpus, "GPU": self.worker.gpus, "memory": memory}}


def worker_shape(settings: dict[str, Any]) -> WorkerResources:
    return WorkerResources.per_gpu(settings["replicas"], settings["gpus_per_replica"], settings["cpus_per_gpu"],
                                   settings["memory_per_gpu"], settings["min_gpu_memory"])


def _section(entry: Any, name: str, defaults: dict[str, Any], where: str) -> dict[str, Any]:
    entry = {} if entry is None else entry
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}.{name} must be a mapping of {', '.join(defaults)}", key=f"{where}.{name}")
    unknown = sorted(set(entry) - set(defaults))
    if unknown:
        raise ConfigError(f"{where}.{name} has unknown keys {', '.join(unknown)}{did_you_mean(unknown[0], defaults)} "
                          f"(it takes {', '.join(defaults)})", key=f"{where}.{name}.{unknown[0]}")
    return {**defaults, **entry}


def _whole(settings: dict[str, Any], option: str, where: str, allow_zero: bool = False) -> None:
    value = settings[option]
    check_positive(value, "", option, allow_zero=allow_zero, where=f"{where}.{option}")
    if option != "memory_per_gpu" and value != int(value):
        raise ConfigError(f"{where}.{option} = {value} must be a whole number", key=f"{where}.{option}")


def parse_cluster(entry: Any, path: Path) -> DispatchCluster:
    """Check jobs.yaml's ``cluster:`` mapping; every problem is reported at once."""
    where = f"{path}: cluster"
    if entry is None or entry is True:
        entry = {}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping of cluster settings ({', '.join(sorted(CLUSTER_KEYS))}), or {{}} "
                          "for the defaults", key=f"{path}::cluster")
    problems = Problems()
    unknown = sorted(set(entry) - CLUSTER_KEYS)
    if unknown:
        problems.add(ConfigError(f"{where} has unknown keys {', '.join(unknown)}{did_you_mean(unknown[0], CLUSTER_KEYS)}",
                                 key=f"{where}.{unknown[0]}"))
    namespace = entry.get("namespace", "default")
    with problems.check():
        check_dns_label(namespace, "", "namespace", where=f"{where}.namespace")
    context = entry.get("kube_context")
    if context is not None and not isinstance(context, str):
        problems.add(ConfigError(f"{where}.kube_context = {context!r} must be the name of a kube context",
                                 key=f"{where}.kube_context"))
    image = entry.get("image", f"{Image().repository}:{Image().tag}")
    policy = entry.get("image_pull_policy", "IfNotPresent")
    if not isinstance(image, str) or not image.strip():
        problems.add(ConfigError(f"{where}.image = {image!r} must be an image such as rayproject/ray:2.60.0-py311",
                                 key=f"{where}.image"))
    if policy not in PULL_POLICIES:
        problems.add(ConfigError(f"{where}.image_pull_policy = {policy!r} must be one of {', '.join(PULL_POLICIES)}",
                                 key=f"{where}.image_pull_policy"))
    head = worker = None
    with problems.check():
        settings = _section(entry.get("head"), "head", HEAD_DEFAULTS, where)
        _whole(settings, "cpus", f"{where}.head")
        check_quantity(settings["memory"], "", "memory", where=f"{where}.head.memory")
        head = HeadResources(int(settings["cpus"]), str(settings["memory"]))
    with problems.check():
        settings = _section(entry.get("worker"), "worker", WORKER_DEFAULTS, where)
        for option in WORKER_DEFAULTS:
            _whole(settings, option, f"{where}.worker", allow_zero=option in ("gpus_per_replica", "min_gpu_memory"))
        worker = worker_shape(settings)
    timeout = entry.get("ready_timeout", 900)
    with problems.check():
        check_positive(timeout, "", "ready_timeout", where=f"{where}.ready_timeout")
    keep = entry.get("keep", False)
    if not isinstance(keep, bool):
        problems.add(ConfigError(f"{where}.keep = {keep!r} must be true or false", key=f"{where}.keep"))
    problems.raise_if_any()
    assert head is not None and worker is not None
    return DispatchCluster(namespace=namespace, kube_context=context, image=Image.parse(image.strip(), policy),
                           head=head, worker=worker, ready_timeout_s=float(timeout), keep=keep)


def shipped_runtime_env(root: Path, log_dir: Path) -> dict[str, Any]:
    """Ray's runtime environment that sends jobs.yaml's folder to the pods, without the
    dispatch's own logs (earlier jobs' outputs can be large)."""
    runtime_env: dict[str, Any] = {"working_dir": str(root)}
    if log_dir.is_relative_to(root) and log_dir != root:
        runtime_env["excludes"] = [f"/{log_dir.relative_to(root).as_posix()}/"]
    return runtime_env


def _release_values(cluster: DispatchCluster, token: str):
    from aframe_tune.cluster.values import RayClusterValues, S3Credentials

    # S3 keys, when this shell has them, so jobs can keep what they make beyond the cluster's life
    credentials = S3Credentials(os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_ACCESS_KEY_ID", ""),
                                os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
    return RayClusterValues(head=cluster.head, worker=cluster.worker, s3=credentials, auth_token=token,
                            image=cluster.image, wandb_api_key=os.environ.get("WANDB_API_KEY", ""))


def dispatch_lock_key(jobs_file: Path) -> str:
    """What names a jobs.yaml in its run lock: the file on this machine."""
    return f"dispatch://{socket.gethostname()}{jobs_file}"


@contextmanager
def deployed_dispatch_cluster(cluster: DispatchCluster, jobs_file: Path) -> Iterator[str]:
    """Deploy the cluster, wait until its head and a worker are ready, yield its ``ray://``
    address; the release and its Secrets are removed when the block ends (unless ``keep``).

    While it runs, the dispatch holds a run lock for ``jobs_file`` (``cluster/lock.py``): a second
    dispatch of the file is refused, the cluster of a dispatcher that was killed is removed, and
    ``aframe-tune cleanup`` keeps this one. Call before Ray is imported: the cluster's token
    reaches Ray through the environment.
    """
    from aframe_tune.cluster.lock import ClusterRunLock, held_run_lock
    from aframe_tune.cluster.session import (check_kube_context, deployed_ray_cluster, new_release_name,
                                             remove_left_behind)
    from aframe_tune.cluster.values import new_ray_token

    target = cluster.target
    try:
        asyncio.run(check_kube_context(target))
    except AframeTuneError as error:  # nothing was created: an input problem
        raise ConfigError(f"jobs.yaml's cluster: {error}") from None
    token = new_ray_token()
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = token
    release = new_release_name(RELEASE_PREFIX)
    lock = ClusterRunLock(target, dispatch_lock_key(jobs_file), release, activity="dispatch")
    with held_run_lock(lock) as left_behind:
        if left_behind is not None:
            remove_left_behind(target, left_behind.release, f"process {left_behind.pid} on {left_behind.host}")
        logger.info("Deploying Ray cluster %s in %s for the jobs; waiting up to %.0f s for its head and a worker",
                    release, target.describe(), cluster.ready_timeout_s)
        with deployed_ray_cluster(target, release, _release_values(cluster, token), cluster.ready_timeout_s,
                                  keep=cluster.keep) as address:
            yield address.ray_client_url
