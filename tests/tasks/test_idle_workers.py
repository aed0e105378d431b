"""Nothing holds GPUs for nothing: a 12-trial ASHA search on 4 workers gives idle workers back
while it runs (backend chart: a worker drains itself; kuberay: Ray's autoscaler in the head pod),
and the idle fraction of the worker-seconds held is measured (bench/idle_workers.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from bench.idle_workers import IdleSampler
from tests.conftest import edit_yaml, run_experiment
from tests.emulated_cluster import EmulatedCluster
from tests.s3_server import S3Server
from tests.tasks.test_tune_remote import remote_env, remote_experiment

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

WORKERS = 4
IDLE_TIMEOUT_S = 5
MAX_T = 24
MAX_IDLE_FRACTION = 0.15


def node_type(pod: dict) -> str:
    labels = pod["metadata"].get("labels") or {}
    return labels.get("ray.io/node-type") or labels.get("app.kubernetes.io/component", "")


def held_workers(cluster: EmulatedCluster, seen: dict[str, str]) -> set[str]:
    """Pod IPs of the worker pods that hold their resources: created and not yet terminated (every
    worker pod's latest phase is recorded in ``seen``)."""
    workers = [pod for pod in cluster.api.list("pods", cluster.namespace) if node_type(pod) == "worker"]
    seen.update((pod["metadata"]["name"], (pod.get("status") or {}).get("phase", "")) for pod in workers)
    return {pod["status"]["podIP"] for pod in workers if (pod.get("status") or {}).get("podIP")
            and pod["status"].get("phase") not in ("Succeeded", "Failed")}


def head_gcs(cluster: EmulatedCluster) -> tuple[str, str] | None:
    """The head's GCS address on this machine and the release's Ray token, once it runs."""
    heads = [pod for pod in cluster.api.list("pods", cluster.namespace) if node_type(pod) == "head"]
    running = [cluster.pods.pods.get((cluster.namespace, pod["metadata"]["name"])) for pod in heads]
    secrets = [s for s in cluster.api.list("secrets", cluster.namespace) if s["metadata"]["name"].endswith("-ray-auth")]
    for pod in running:
        if pod is not None and 6379 in pod.ports and secrets:
            return f"{pod.ip}:{pod.ports[6379]}", base64.b64decode(secrets[0]["data"]["auth_token"]).decode()
    return None


@pytest.mark.parametrize("cluster_backend", ["chart", "kuberay"])
def test_an_asha_search_gives_idle_workers_back_while_it_runs(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster, cluster_backend: str,
    capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3_server.create_bucket(f"idle-{cluster_backend}")
    # ASHA never stops the first trial to reach a rung, so one trial runs all MAX_T epochs while
    # the other eleven mostly stop after 1 or 4 (reduction 4): the search has a tail of idle workers
    directory = remote_experiment(tmp_path, bucket, epochs=MAX_T, ray_worker={
        "replicas": str(WORKERS), "cpus_per_gpu": "1", "memory_per_gpu": "1", "idle_timeout": str(IDLE_TIMEOUT_S)})
    edit_yaml(directory / "tune.yaml", {
        "tune_config.num_samples": 12,
        "tune_config.scheduler.init_args.grace_period": 1,
        "tune_config.scheduler.init_args.reduction_factor": 4,
        "param_space": {"model.learning_rate": "tune.loguniform(1e-4, 1e-1)"},
    })
    worker_pods: dict[str, str] = {}
    with IdleSampler(lambda: held_workers(emulated_cluster, worker_pods), lambda: head_gcs(emulated_cluster)) as sampler:
        result = run_experiment(directory, env=remote_env(emulated_cluster, s3_server), timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    figure = sampler.result()
    with capsys.disabled():
        print(f"\nidle_worker_fraction[{cluster_backend}]: {figure.as_json()}")
    # the long trial's tail: workers went while it still ran
    assert figure.released_early >= 1, figure
    assert figure.fraction <= MAX_IDLE_FRACTION, figure
    if cluster_backend == "kuberay":
        # it was Ray's autoscaler (it speaks HTTP with requests) that patched the RayCluster down, as
        # the head's service account, which RBAC allowed through the Role the operator made
        patches = [r for r in emulated_cluster.api.requests(method="PATCH", path="/rayclusters/")
                   if r.user_agent.startswith("python-requests") and r.status == 200]
        assert patches and all(r.user == f"system:serviceaccount:{emulated_cluster.namespace}:{r.path.rsplit('/', 1)[-1]}"
                               for r in patches), [(r.user, r.path) for r in patches]
    else:
        # workers gave themselves back (only the idle watch ends a worker with success; removing the
        # release deletes running pods), and the Job did not replace them
        assert "Succeeded" in worker_pods.values(), (worker_pods, output[-3000:], emulated_cluster.pods.failure_report()[-4000:])
        assert len(worker_pods) == WORKERS, worker_pods
    assert emulated_cluster.api.forbidden == 0
    assert len(s3_server.keys(bucket, "my-tune/best.json")) == 1
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects() == []
