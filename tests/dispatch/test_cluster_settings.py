"""jobs.yaml's cluster: (a Ray cluster deployed on Kubernetes for the jobs), checked before
anything starts, and how a job's command moves onto a pod."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from aframe_tune.dispatch.jobs import PYTHON, load_jobs
from aframe_tune.cluster.description import describe_cluster
from aframe_tune.config import RayClusterParameters, parameters_of, ray_head, ray_worker
from aframe_tune.dispatch.kubernetes import shipped_runtime_env, worker_node
from aframe_tune.dispatch.placement import NodeResources
from aframe_tune.dispatch.runner import check_jobs_fit, relocated
from aframe_tune.errors import ConfigError, InvalidInputsError


def write(directory: Path, content: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "jobs.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_an_empty_cluster_mapping_takes_the_defaults(tmp_path: Path) -> None:
    plan = load_jobs(write(tmp_path, {"cluster": {}, "jobs": [{"name": "a", "command": ["true"]}]}))
    defaults = [{name: p._default for name, p in parameters_of(c).items()}
                for c in (RayClusterParameters, ray_head, ray_worker)]
    assert plan.cluster == describe_cluster(*defaults)  # tune.cfg's defaults: one schema for both files
    assert (plan.cluster.head.cpus, plan.cluster.head.memory) == (8, "32G")
    assert plan.cluster.target.namespace == "" and plan.cluster.target.context is None  # the context's own
    assert plan.cluster.ready_timeout_s == 900 and not plan.cluster.keep
    assert plan.cluster.worker.gpus == 1 and plan.cluster.worker.cpus == 8 and plan.cluster.worker.memory == "16384Mi"
    assert (plan.cluster.image.repository, plan.cluster.image.tag) == ("rayproject/ray", "2.60.0-py311")


def test_cluster_settings(tmp_path: Path) -> None:
    plan = load_jobs(write(tmp_path, {"cluster": {
        "namespace": "gw-team", "kube_context": "nautilus", "image": "ghcr.io/ml4gw/aframe:dev",
        "image_pull_policy": "Always", "head": {"cpus": 1}, "ready_timeout": 60, "keep": True,
        "worker": {"replicas": 3, "gpus_per_replica": 2, "cpus_per_gpu": 4, "memory_per_gpu": 8.5, "min_gpu_memory": 0},
    }, "jobs": [{"name": "a", "command": ["true"]}]}))
    cluster = plan.cluster
    assert cluster.target.namespace == "gw-team" and cluster.target.context == "nautilus"
    assert (cluster.image.repository, cluster.image.tag, cluster.image.pull_policy) == ("ghcr.io/ml4gw/aframe", "dev", "Always")
    assert (cluster.head.cpus, cluster.head.memory) == (1, "32G")
    assert (cluster.worker.replicas, cluster.worker.gpus, cluster.worker.cpus, cluster.worker.memory) == (3, 2, 8, "17408Mi")
    assert cluster.ready_timeout_s == 60 and cluster.keep
    assert worker_node(cluster) == NodeResources(cpus=8, gpus=2, memory_bytes=17 * 2**30)


def test_every_cluster_mistake_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, {"ray_address": "ray://head:10001", "cluster": {
        "namespace": "GW_Team", "image_pull_policy": "Sometimes", "replicas": 2, "keep": "yes",
        "head": {"memory": "32GB"}, "worker": {"replicas": 0, "gpus": 1}, "ready_timeout": -5,
    }, "jobs": [{"name": "a", "command": ["true"]}]})
    with pytest.raises(InvalidInputsError) as raised:
        load_jobs(path)
    where = f"{path}: cluster"
    assert [str(problem) for problem in raised.value.problems] == [
        f"{where} has unknown keys replicas; did you mean worker.replicas? (it takes namespace, kube_context, image, "
        "image_pull_policy, backend, ready_timeout, keep, head, worker)",
        f"{where}.namespace = 'GW_Team' is not a valid Kubernetes name: use at most 63 lowercase letters, digits and "
        "hyphens, starting and ending with a letter or digit",
        f"{where}.image_pull_policy = 'Sometimes' must be one of Always, IfNotPresent, Never",
        f"{where}.ready_timeout = -5 must be greater than zero",
        f"{where}.keep = 'yes' must be true or false",
        f"{where}.head.memory = '32GB' is not a Kubernetes quantity: write a number with an optional suffix, such as 32G or 32Gi",
        f"{where}.worker has unknown keys gpus (it takes replicas, gpus_per_replica, gpu_resource, "
        "cpus_per_gpu, memory_per_gpu, min_gpu_memory, min_replicas, idle_timeout)",
        f"{where}.worker.replicas = 0 must be greater than zero",
        f"{path}: cluster and ray_address are both set; give cluster to deploy a Ray cluster for the jobs, or "
        "ray_address to use a running one",
    ]


def test_jobs_a_deployed_cluster_cannot_run_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("trainer: {}\n")
    root = tmp_path / "jobs"
    (root / "search").mkdir(parents=True)
    (root / "search" / "run.sh").write_text("")
    path = write(root, {"cluster": {}, "jobs": [
        {"name": "search", "tune": "search"},
        {"name": "far", "train": "../elsewhere.yaml"},
    ]})
    with pytest.raises(InvalidInputsError) as raised:
        load_jobs(path)
    first, second = (str(problem) for problem in raised.value.problems)
    assert first.startswith(f"{path}: job 'search' is a tune experiment, which cannot run on the cluster jobs.yaml deploys")
    assert "run its run.sh with an s3:// run directory" in first
    assert second == (f"{path}: job 'far' uses {outside}, outside {root}, the folder sent to the cluster's pods; "
                      "move it into that folder")


def test_a_ray_address_on_the_command_line_conflicts_with_a_deployed_cluster(tmp_path: Path) -> None:
    plan = load_jobs(write(tmp_path, {"cluster": {}, "jobs": [{"name": "a", "command": ["true"]}]}))
    with pytest.raises(ConfigError, match="cannot be given too"):
        plan.overridden(ray_address="ray://elsewhere:10001")
    assert plan.overridden(mode="sequential").mode == "sequential"


def test_a_job_bigger_than_a_worker_pod_is_refused_before_the_cluster_starts(tmp_path: Path) -> None:
    plan = load_jobs(write(tmp_path, {"cluster": {"worker": {"gpus_per_replica": 1, "cpus_per_gpu": 4}},
                                      "jobs": [{"name": "big", "command": ["true"], "gpus": 2, "cpus": 2}]}))
    with pytest.raises(InvalidInputsError, match=r"job 'big' asks for 2 GPUs \(largest node: 1\)"):
        check_jobs_fit(plan, [worker_node(plan.cluster)])


def test_the_shipped_folder_leaves_out_the_dispatch_logs(tmp_path: Path) -> None:
    assert shipped_runtime_env(tmp_path, tmp_path / "jobs-logs") == {"working_dir": str(tmp_path),
                                                                     "excludes": ["/jobs-logs/"]}
    assert shipped_runtime_env(tmp_path, tmp_path.parent / "logs") == {"working_dir": str(tmp_path)}


def test_a_job_s_paths_move_into_the_worker_s_copy_of_the_folder(tmp_path: Path, monkeypatch) -> None:
    pod_copy = tmp_path / "pod" / "working_dir"
    pod_copy.mkdir(parents=True)
    monkeypatch.chdir(pod_copy)  # Ray starts a task in its runtime environment's working directory
    root = "/home/albert/jobs"
    argv, workdir = relocated([PYTHON, "-m", "x", "--config", f"{root}/train.yaml", f"--data.path={root}/d.h5", "/opt/y"],
                              f"{root}/jobs-logs/fit", root, "fit")
    assert argv == [sys.executable, "-m", "x", "--config", f"{pod_copy}/train.yaml", f"--data.path={pod_copy}/d.h5", "/opt/y"]
    assert workdir == f"{pod_copy}/jobs-logs/fit"
    assert relocated([], "/var/logs/fit", root, "fit")[1] == os.path.join(pod_copy, ".aframe-tune-jobs", "fit")
    assert relocated([], root, root, "script")[1] == str(pod_copy)  # a command runs in the folder itself
    # nothing shipped: the paths are the dispatcher's own
    assert relocated([PYTHON, f"{root}/a"], f"{root}/l", None, "fit") == ([sys.executable, f"{root}/a"], f"{root}/l")
