"""Which of several Ray clusters runs which job (placement.py), and the status table's CLUSTER
column: pure functions over frozen dataclasses, no Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from aframe_tune.dispatch.jobs import ClusterEntry, Job, JobResources, load_jobs
from aframe_tune.dispatch.placement import ClusterCapacity, NodeResources, place_jobs
from aframe_tune.dispatch.runner import JobState, JobStatus
from aframe_tune.dispatch.status import status_table
from aframe_tune.errors import InvalidInputsError
from tests.dispatch.test_clusters import problems_of, write

GiB = 2**30


def job(name: str, cpus: float = 1, gpus: float = 0, memory: int = 0) -> Job:
    return Job(name, "command", ("true",), JobResources(cpus, gpus, memory))


def node(cpus: float, gpus: float = 0, memory_gib: float = 16) -> NodeResources:
    return NodeResources(cpus, gpus, memory_gib * GiB)


GPU_CLUSTER = ClusterCapacity("gpu", (node(2, 1),))
CPU_CLUSTER = ClusterCapacity("cpu", (node(2),))


def placed(jobs: list[Job], clusters: list[ClusterCapacity]) -> list[tuple[str, str]]:
    return [(placement.job.name, placement.cluster) for placement in place_jobs(jobs, clusters, Path("jobs.yaml"))]


def test_a_gpu_job_goes_to_the_cluster_with_a_gpu_and_the_others_are_spread() -> None:
    jobs = [job("trains", cpus=0.5, gpus=1), *(job(name, cpus=0.5) for name in "abcd")]
    assert placed(jobs, [GPU_CLUSTER, CPU_CLUSTER]) == [
        ("trains", "gpu"),
        ("a", "cpu"),  # the GPU cluster's CPUs are a quarter booked, the other's not at all
        ("b", "gpu"),  # a tie (half of each cluster's CPUs): the cluster listed first
        ("c", "cpu"), ("d", "gpu")]


def test_a_bigger_cluster_takes_more_of_the_jobs() -> None:
    big = ClusterCapacity("big", (node(4), node(4)))
    # shares booked after each job: big 1/8, 2/8, 3/8; then 4/8 ties with cpu's 1/2 (cpu is listed first)
    assert [cluster for _, cluster in placed([job(str(n)) for n in range(5)], [CPU_CLUSTER, big])] == [
        "big", "big", "big", "cpu", "big"]


def test_only_what_a_job_asks_for_counts_as_booked() -> None:
    # the GPU cluster's one GPU is booked, but its CPUs are free for a job without GPUs
    jobs = [job("gpu-job", cpus=0.5, gpus=1), job("cpu-job", cpus=1, memory=GiB)]
    assert placed(jobs, [CPU_CLUSTER, GPU_CLUSTER]) == [("gpu-job", "gpu"), ("cpu-job", "cpu")]
    assert placed([job("first", cpus=2), job("second", cpus=1)], [CPU_CLUSTER, GPU_CLUSTER]) == [
        ("first", "cpu"), ("second", "gpu")]


def test_a_job_that_no_cluster_can_run_is_refused_naming_what_it_asks_and_what_each_has() -> None:
    two_nodes = ClusterCapacity("split", (node(4, 1, 8), node(1, 2, 64)))
    jobs = [job("fits", gpus=1), job("greedy", cpus=3, gpus=2), job("no-node-has-all", cpus=2, memory=32 * GiB)]
    with pytest.raises(InvalidInputsError) as raised:
        place_jobs(jobs, [GPU_CLUSTER, CPU_CLUSTER, two_nodes, ClusterCapacity("gone", ())], Path("/j/jobs.yaml"))
    clusters = ("'gpu' has 1 node, the largest 2 CPU 1 GPU 16 GiB; 'cpu' has 1 node, the largest 2 CPU 0 GPU 16 GiB; "
                "'split' has 2 nodes, the largest 4 CPU 2 GPU 64 GiB; 'gone' has no live node")
    assert problems_of(raised) == [
        f"/j/jobs.yaml: job 'greedy' asks for 3 CPU 2 GPU on one node; no cluster has such a node: {clusters}. Lower "
        "its cpus/gpus/memory in jobs.yaml, or add a cluster with a bigger node",
        f"/j/jobs.yaml: job 'no-node-has-all' asks for 2 CPU 32 GiB on one node; no cluster has such a node: "
        f"{clusters}. Lower its cpus/gpus/memory in jobs.yaml, or add a cluster with a bigger node",
    ]


def test_ray_s_node_resources_become_node_resources() -> None:
    assert NodeResources.from_ray({"CPU": 2.0, "GPU": 1.0, "memory": 1024.0, "node:127.0.0.1": 1.0}) == \
        NodeResources(2, 1, 1024)
    assert NodeResources.from_ray({"CPU": 4.0}) == NodeResources(4, 0, 0)


def test_the_status_table_has_a_cluster_column_only_for_several_clusters(tmp_path: Path) -> None:
    single = load_jobs(write(tmp_path, {}))
    assert table_header(single) == ["JOB", "KIND", "STATE", "TIME", "ASKS", "FOR", "GPUS", "LOG"]
    several = single.overridden(clusters=(ClusterEntry("gpu", "http://10.0.0.1:8265"),))
    assert table_header(several) == ["JOB", "KIND", "STATE", "TIME", "ASKS", "FOR", "CLUSTER", "GPUS", "LOG"]
    waiting = JobStatus(several.jobs[0], JobState.WAITING, cluster="gpu")
    assert status_table([waiting], several)[2].split()[:6] == ["a", "command", "waiting", "-", "1", "CPU"]
    assert status_table([waiting], several)[2].split()[6] == "gpu"
    assert status_table([JobStatus(several.jobs[0], JobState.SKIPPED)], several)[2].split()[7] == "-"


def table_header(plan) -> list[str]:
    return status_table([JobStatus(plan.jobs[0])], plan)[1].split()
