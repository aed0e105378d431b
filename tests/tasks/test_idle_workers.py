"""Nothing holds GPUs for nothing: a worker that has no trial left to run is given back while
another still runs one (backend chart: the worker drains itself; kuberay: Ray's autoscaler in the
head pod). The idle fraction of a larger ASHA search is the benchmark's (bench/remote.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.idle_workers import IdleSampler
from bench.remote import head_gcs, held_workers
from tests.conftest import edit_yaml, run_experiment
from tests.emulated_cluster import EmulatedCluster
from tests.s3_server import S3Server
from tests.tasks.test_tune_remote import remote_env, remote_experiment

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

WORKERS = 2
IDLE_TIMEOUT_S = 5
# the long trial must outlast, by a margin, the short one's worker being idle for IDLE_TIMEOUT_S and
# then given back (~10 s in all): 12 epochs of this small model took ~11 s on a fast day, too few
LONG_EPOCHS = 40


@pytest.mark.parametrize("cluster_backend", ["chart", "kuberay"])
def test_a_worker_with_no_trial_left_is_given_back_while_another_still_runs_one(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster, cluster_backend: str
) -> None:
    bucket = s3_server.create_bucket(f"idle-{cluster_backend}")
    # two trials on two workers, one of 1 epoch and one of LONG_EPOCHS, neither stopped early
    # (grace period = max_t): the short one's worker is idle, and given back, while the long one runs
    directory = remote_experiment(tmp_path, bucket, epochs=LONG_EPOCHS, ray_worker={
        "replicas": str(WORKERS), "cpus_per_gpu": "1", "memory_per_gpu": "1", "idle_timeout": str(IDLE_TIMEOUT_S)})
    edit_yaml(directory / "tune.yaml", {
        "tune_config.num_samples": 1,
        "param_space": {"model.learning_rate": "tune.choice([1e-3])",
                        "trainer.max_epochs": f"tune.grid_search([{LONG_EPOCHS}, 1])"},
    })
    worker_pods: dict[str, str] = {}
    with IdleSampler(lambda: held_workers(emulated_cluster, worker_pods), lambda: head_gcs(emulated_cluster)) as sampler:
        result = run_experiment(directory, env=remote_env(emulated_cluster, s3_server), timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    figure = sampler.result()
    assert figure.released_early >= 1, (figure, worker_pods)
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
