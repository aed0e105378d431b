"""The values of one ``charts/ray-cluster`` release, built from ``tune.cfg`` and the environment.

Plain data: the settings they come from are validated where they are read (``config.py``).

Secrets live in fields with ``repr=False``: logging or printing a values object never shows
them. They reach helm only as the JSON document on its standard input.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any


def new_ray_token() -> str:
    """A fresh Ray authentication token: 256 random bits, hex-encoded."""
    return secrets.token_hex(32)


def gibibytes(amount: float) -> str:
    """A memory amount in GiB as a Kubernetes quantity, in whole MiB (``16`` -> ``16384Mi``)."""
    return f"{int(round(amount * 1024))}Mi"


@dataclass(frozen=True)
class Image:
    """The container image of the Ray pods.

    Args:
        repository: image name without tag, e.g. ``rayproject/ray``.
        tag: image tag; its Ray version must match the local client's.
        pull_policy: ``Always``, ``IfNotPresent`` or ``Never``.
    """

    repository: str = "rayproject/ray"
    tag: str = "2.60.0-py311"
    pull_policy: str = "IfNotPresent"

    @classmethod
    def parse(cls, reference: str, pull_policy: str = "IfNotPresent") -> Image:
        """``repository[:tag]`` (a registry's ``host:port/`` included); no tag means ``latest``."""
        repository, colon, tag = reference.rpartition(":")
        if not colon or "/" in tag:  # no tag, or the colon was a registry port's
            return cls(reference, "latest", pull_policy)
        return cls(repository, tag, pull_policy)


@dataclass(frozen=True)
class HeadResources:
    """CPUs and memory (a Kubernetes quantity) of the head pod."""

    cpus: int
    memory: str


@dataclass(frozen=True)
class WorkerResources:
    """Shape of the worker pods.

    Args:
        replicas: number of worker pods.
        gpus: GPUs per pod (0 for CPU-only workers).
        cpus: CPUs per pod.
        memory: memory per pod, a Kubernetes quantity.
        min_gpu_memory: required GPU memory of a node in MB; 0 for no constraint.
        gpu_resource: the resource name GPUs are asked for by.
        min_replicas: the fewest workers kept while idle.
        idle_timeout_s: seconds without work before a worker is removed (backend chart: in a
            search release only, by the worker itself; see aframe_tune/cluster/idle_worker.py).
    """

    replicas: int
    gpus: int
    cpus: int
    memory: str
    min_gpu_memory: int
    gpu_resource: str = "nvidia.com/gpu"
    min_replicas: int = 0
    idle_timeout_s: int = 60

    @classmethod
    def per_gpu(
        cls, replicas: int, gpus: int, cpus_per_gpu: int, memory_per_gpu: float, min_gpu_memory: int,
        gpu_resource: str = "nvidia.com/gpu", min_replicas: int = 0, idle_timeout_s: int = 60,
    ) -> WorkerResources:
        """Scale per-GPU CPUs and memory (as ``[luigi_ray_worker]`` gives them) to a pod.

        CPU-only workers (``gpus == 0``) get one GPU's worth of CPUs and memory.
        """
        units = max(gpus, 1)
        return cls(
            replicas=replicas,
            gpus=gpus,
            cpus=cpus_per_gpu * units,
            memory=gibibytes(memory_per_gpu * units),
            min_gpu_memory=min_gpu_memory,
            gpu_resource=gpu_resource,
            min_replicas=min_replicas,
            idle_timeout_s=idle_timeout_s,
        )


@dataclass(frozen=True)
class S3Credentials:
    """Where the run's results live and the keys to them; the pods get them as Secret files."""

    endpoint_url: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class GitSync:
    """Code cloned into every pod by git-sync.

    Args:
        repo: SSH URL of the repository.
        ref: branch, tag or commit.
        ssh_key: the private key's content.
        known_hosts: ``known_hosts`` lines for the git server (see ``cluster/known_hosts.py``).
    """

    repo: str
    ref: str
    ssh_key: str = field(repr=False)
    known_hosts: str = ""


@dataclass(frozen=True)
class SearchInCluster:
    """A search that lives in the cluster: its files, and how long it may take.

    Args:
        experiment: ``(file name, content)`` of tune.yaml, train.yaml and search.json.
        ready_timeout_s: seconds the search Job waits for the head before it removes the release.
        max_runtime_s: the whole search's deadline in seconds; 0 for none.
        keep: the search Job leaves the release when the search ends (``keep_cluster``).
        lock_name: the run directory's lock, which the search Job removes with the release if it
            still names the release.
    """

    experiment: tuple[tuple[str, str], ...]
    ready_timeout_s: int = 1800
    max_runtime_s: int = 0
    keep: bool = False
    lock_name: str = ""

    def to_helm_values(self) -> dict[str, Any]:
        return {"enabled": True, "experiment": dict(self.experiment), "readyTimeoutSeconds": self.ready_timeout_s,
                "maxRuntimeSeconds": self.max_runtime_s, "keepRelease": self.keep,
                "lockName": self.lock_name}


@dataclass(frozen=True)
class RayClusterValues:
    """Everything one release of ``charts/ray-cluster`` needs.

    Args:
        head: the head pod's resources.
        worker: the worker pods' shape.
        s3: storage endpoint and credentials.
        auth_token: the release's Ray token (see :func:`new_ray_token`).
        image: the Ray image.
        wandb_api_key: W&B key, or empty for no W&B.
        git_sync: code to clone into the pods, if any.
        extra_env: more environment for the Ray processes, as ``(name, value)`` pairs.
        backend: ``chart`` (the chart's Jobs) or ``kuberay`` (a RayCluster).
        search: the search the release runs in the cluster (and then removes itself), if any;
            a release without one (a dispatch's) exposes the Ray client port outside instead.
    """

    head: HeadResources
    worker: WorkerResources
    s3: S3Credentials
    auth_token: str = field(repr=False)
    image: Image = field(default_factory=Image)
    wandb_api_key: str = field(default="", repr=False)
    git_sync: GitSync | None = None
    extra_env: tuple[tuple[str, str], ...] = ()
    backend: str = "chart"
    search: SearchInCluster | None = None

    def to_helm_values(self) -> dict[str, Any]:
        """The chart's values document (secrets included: send it to helm on stdin only)."""
        values: dict[str, Any] = {
            "backend": self.backend,
            "image": {
                "repository": self.image.repository,
                "tag": self.image.tag,
                "pullPolicy": self.image.pull_policy,
            },
            "head": {"cpus": self.head.cpus, "memory": self.head.memory},
            "worker": {
                "replicas": self.worker.replicas,
                "gpus": self.worker.gpus,
                "cpus": self.worker.cpus,
                "memory": self.worker.memory,
                "minGpuMemory": self.worker.min_gpu_memory,
                "gpuResource": self.worker.gpu_resource,
                "minReplicas": self.worker.min_replicas,
                "idleTimeoutSeconds": self.worker.idle_timeout_s,
            },
            "auth": {"token": self.auth_token},
            "s3": {
                "endpointUrl": self.s3.endpoint_url,
                "accessKeyId": self.s3.access_key_id,
                "secretAccessKey": self.s3.secret_access_key,
            },
            "wandb": {"apiKey": self.wandb_api_key},
            "extraEnv": [{"name": name, "value": value} for name, value in self.extra_env],
        }
        if self.search is not None:
            values["search"] = self.search.to_helm_values()
        if self.git_sync is not None:
            values["gitSync"] = {
                "repo": self.git_sync.repo,
                "ref": self.git_sync.ref,
                "sshKey": self.git_sync.ssh_key,
                "knownHosts": self.git_sync.known_hosts,
            }
        return values
