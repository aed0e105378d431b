"""One description of a deployed Ray cluster, read from tune.cfg or from jobs.yaml's ``cluster:``.

Both files share one schema: the parameters of ``RayClusterParameters``, ``ray_head`` and
``ray_worker`` in ``config.py``, with their types, range checks and defaults. jobs.yaml nests
the head's and worker's keys under ``head:`` and ``worker:``:

```yaml
cluster:                          # every key optional; `cluster: {}` takes all the defaults
  namespace: null                 # default: the kube context's namespace
  kube_context: null              # default: the kubeconfig's current context
  image: rayproject/ray:2.60.0-py311
  image_pull_policy: IfNotPresent
  head: {cpus: 8, memory: 32G}
  worker: {replicas: 1, gpus_per_replica: 1, cpus_per_gpu: 8, memory_per_gpu: 16, min_gpu_memory: 15000,
           gpu_resource: nvidia.com/gpu, min_replicas: 0, idle_timeout: 60}
  backend: auto                   # kuberay | chart | auto (kuberay where the cluster serves RayCluster)
  ready_timeout: 900              # seconds to wait for the head and a worker
  keep: false                     # leave the cluster running afterwards
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aframe_tune.cluster.target import KubeTarget
from aframe_tune.cluster.values import (GitSync, HeadResources, Image, RayClusterValues, S3Credentials, SearchInCluster,
                                         WorkerResources)
from aframe_tune.config import ClusterBackendName, RayClusterParameters, parameters_of, ray_head, ray_worker, read_mapping
from aframe_tune.errors import ConfigError, Problems, did_you_mean

# jobs.yaml's names for the parameters whose tune.cfg name differs
YAML_NAMES = {"keep_cluster": "keep"}
SECTIONS = {"head": ray_head, "worker": ray_worker}


@dataclass(frozen=True)
class ClusterDescription:
    """A Ray cluster to deploy on Kubernetes, for a remote search or a dispatch.

    Args:
        target: the kube context and namespace.
        head: the head pod's resources (it runs no trial or job).
        worker: the worker pods' shape.
        image: the pods' image.
        ready_timeout_s: how long to wait for the head and a worker.
        keep: leave the cluster running when the search or dispatch ends.
        backend: ``auto``, ``kuberay`` or ``chart`` (``checked_cluster`` resolves ``auto``).
    """

    target: KubeTarget
    head: HeadResources
    worker: WorkerResources
    image: Image
    ready_timeout_s: float
    keep: bool
    backend: ClusterBackendName = ClusterBackendName.AUTO

    def values(self, s3: S3Credentials, auth_token: str, wandb_api_key: str = "", git_sync: GitSync | None = None,
               extra_env: tuple[tuple[str, str], ...] = (), search: SearchInCluster | None = None) -> RayClusterValues:
        """The values of a release of this cluster (see :class:`RayClusterValues` for the arguments)."""
        return RayClusterValues(head=self.head, worker=self.worker, s3=s3, auth_token=auth_token, image=self.image,
                                wandb_api_key=wandb_api_key, git_sync=git_sync, extra_env=extra_env,
                                backend=self.backend.value, search=search)


def describe_cluster(options: Mapping[str, Any], head: Mapping[str, Any],
                     worker: Mapping[str, Any]) -> ClusterDescription:
    """The description from checked values of ``RayClusterParameters``, ``ray_head`` and ``ray_worker``."""
    return ClusterDescription(
        target=KubeTarget(namespace=options["namespace"], context=options["kube_context"]),
        head=HeadResources(head["cpus"], head["memory"]),
        worker=WorkerResources.per_gpu(worker["replicas"], worker["gpus_per_replica"], worker["cpus_per_gpu"],
                                       worker["memory_per_gpu"], worker["min_gpu_memory"], worker["gpu_resource"],
                                       worker["min_replicas"], worker["idle_timeout"]),
        image=Image.parse(options["image"], options["image_pull_policy"]),
        ready_timeout_s=float(options["ready_timeout"]),
        keep=bool(options["keep_cluster"]),
        backend=ClusterBackendName(options["backend"]),
    )


def _known_keys(entry: Mapping[str, Any], keys: list[str], where: str, problems: Problems) -> None:
    unknown = sorted(set(entry) - set(keys), key=str)
    if unknown:
        first = str(unknown[0])
        nested = [f"{name}.{first}" for name, section in SECTIONS.items() if first in parameters_of(section)]
        hint = f"; did you mean {nested[0]}?" if nested and where.endswith("cluster") else did_you_mean(first, keys)
        problems.add(ConfigError(f"{where} has unknown keys {', '.join(map(str, unknown))}{hint} "
                                 f"(it takes {', '.join(keys)})", key=f"{where}.{first}"))


def _mapping(entry: Any, where: str, keys: list[str]) -> Mapping[str, Any]:
    if entry is None or entry is True:
        return {}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping of {', '.join(keys)}, or {{}} for the defaults", key=where)
    return entry


def parse_cluster_mapping(entry: Any, where: str) -> ClusterDescription:
    """Check a YAML ``cluster:`` mapping (``where`` names it in messages); every problem is reported at once."""
    options = parameters_of(RayClusterParameters)
    top_keys = [YAML_NAMES.get(name, name) for name in options] + list(SECTIONS)
    entry = _mapping(entry, where, top_keys)
    problems = Problems()
    _known_keys(entry, top_keys, where, problems)
    values, found = read_mapping(options, entry, where, YAML_NAMES)
    for problem in found:
        problems.add(problem)
    sections = {}
    for name, section in SECTIONS.items():
        keys = list(parameters_of(section))
        with problems.check():
            part = _mapping(entry.get(name), f"{where}.{name}", keys)
            _known_keys(part, keys, f"{where}.{name}", problems)
            sections[name], found = read_mapping(parameters_of(section), part, f"{where}.{name}")
            for problem in found:
                problems.add(problem)
    problems.raise_if_any()
    return describe_cluster(values, sections["head"], sections["worker"])
