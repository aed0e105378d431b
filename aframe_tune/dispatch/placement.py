"""Which Ray cluster runs which job, when jobs.yaml spreads its jobs over several (``clusters:``).

A job runs on one node, so a cluster can run it when one of its nodes has all the CPUs, GPUs and
memory the job asks for. A job no cluster can run is refused before any job starts. Each other
job goes to the cluster, among those that can run it, whose resources of the kinds the job asks
for are the least booked once it is added (by the jobs placed before it, as a share of the
cluster's total); a tie goes to the cluster listed first. Jobs are placed in jobs.yaml's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aframe_tune.dispatch.jobs import Job, JobResources, gibibytes
from aframe_tune.errors import ConfigError, Problems

# the names Ray gives the resources a job asks for, in ray.nodes() and its state API
CPU, GPU, MEMORY = "CPU", "GPU", "memory"


@dataclass(frozen=True)
class NodeResources:
    """What one Ray node has in all (not what is free now).

    Args:
        cpus: its CPUs.
        gpus: its GPUs.
        memory_bytes: the memory Ray may reserve on it.
    """

    cpus: float = 0
    gpus: float = 0
    memory_bytes: float = 0

    @classmethod
    def from_ray(cls, resources: Mapping[str, Any]) -> NodeResources:
        """From a node's resources as Ray lists them (``{"CPU": 8.0, "GPU": 1.0, "memory": ...}``)."""
        return cls(float(resources.get(CPU, 0)), float(resources.get(GPU, 0)), float(resources.get(MEMORY, 0)))

    def can_run(self, asks: JobResources) -> bool:
        return self.cpus >= asks.cpus and self.gpus >= asks.gpus and self.memory_bytes >= asks.memory_bytes

    def describe(self) -> str:
        return f"{self.cpus:g} CPU {self.gpus:g} GPU {gibibytes(self.memory_bytes)}"


def largest(nodes: Sequence[NodeResources]) -> NodeResources:
    """The most any one node has of each resource (not necessarily one node's)."""
    return NodeResources(max((node.cpus for node in nodes), default=0), max((node.gpus for node in nodes), default=0),
                         max((node.memory_bytes for node in nodes), default=0))


@dataclass(frozen=True)
class ClusterCapacity:
    """One cluster of ``clusters:`` and its live nodes.

    Args:
        name: the cluster's name in jobs.yaml.
        nodes: its live nodes.
    """

    name: str
    nodes: tuple[NodeResources, ...]

    def can_run(self, asks: JobResources) -> bool:
        return any(node.can_run(asks) for node in self.nodes)

    def total(self) -> NodeResources:
        return NodeResources(sum(node.cpus for node in self.nodes), sum(node.gpus for node in self.nodes),
                             sum(node.memory_bytes for node in self.nodes))

    def describe(self) -> str:
        if not self.nodes:
            return f"{self.name!r} has no live node"
        return f"{self.name!r} has {len(self.nodes)} node{'s' if len(self.nodes) > 1 else ''}, the largest " \
               f"{largest(self.nodes).describe()}"


@dataclass(frozen=True)
class Placement:
    """Where one job runs.

    Args:
        job: the job.
        cluster: the name of the cluster that runs it.
    """

    job: Job
    cluster: str


def _booked_share(booked: JobResources, total: NodeResources, asks: JobResources) -> float:
    """How much of ``total`` is booked, over the kinds of resource ``asks`` asks for."""
    shares = [booked.cpus / total.cpus if total.cpus else float("inf")]
    if asks.gpus:
        shares.append(booked.gpus / total.gpus if total.gpus else float("inf"))
    if asks.memory_bytes:
        shares.append(booked.memory_bytes / total.memory_bytes if total.memory_bytes else float("inf"))
    return max(shares)


def _plus(booked: JobResources, asks: JobResources) -> JobResources:
    return JobResources(booked.cpus + asks.cpus, booked.gpus + asks.gpus, booked.memory_bytes + asks.memory_bytes)


def check_jobs_fit_a_cluster(jobs: Sequence[Job], clusters: Sequence[ClusterCapacity], path: Path) -> None:
    """Refuse, all at once, the jobs that no node of any of the clusters could ever run."""
    problems = Problems()
    for job in jobs:
        if not any(cluster.can_run(job.resources) for cluster in clusters):
            problems.add(ConfigError(
                f"{path}: job {job.name!r} asks for {job.resources.describe()} on one node; no cluster has such a "
                f"node: {'; '.join(cluster.describe() for cluster in clusters)}. Lower its cpus/gpus/memory in "
                "jobs.yaml, or add a cluster with a bigger node", key=f"{path}::{job.name}"))
    problems.raise_if_any()


def place_jobs(jobs: Sequence[Job], clusters: Sequence[ClusterCapacity], path: Path) -> tuple[Placement, ...]:
    """Where each job runs (see the module's docstring); jobs no cluster can run are refused
    first, all at once (:class:`~aframe_tune.errors.InvalidInputsError`)."""
    check_jobs_fit_a_cluster(jobs, clusters, path)
    totals = {cluster.name: cluster.total() for cluster in clusters}
    booked = {cluster.name: JobResources(cpus=0) for cluster in clusters}
    placements = []
    for job in jobs:
        fitting = [cluster.name for cluster in clusters if cluster.can_run(job.resources)]
        # min() keeps the first of equals: a tie goes to the cluster listed first
        chosen = min(fitting, key=lambda name: _booked_share(_plus(booked[name], job.resources), totals[name],
                                                             job.resources))
        booked[chosen] = _plus(booked[chosen], job.resources)
        placements.append(Placement(job, chosen))
    return tuple(placements)
