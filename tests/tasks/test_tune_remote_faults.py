"""Pod faults and signals while TuneRemote waits: a clear error and a clean cluster, every time."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aframe_tune.cluster.chart_backend import ChartBackend
from aframe_tune.cluster.dashboard import forwarded_dashboard
from aframe_tune.cluster.kuberay_backend import KubeRayBackend
from aframe_tune.cluster.names import LOCK_PREFIX
from aframe_tune.cluster.session import deployed_ray_cluster
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.cluster.values import HeadResources, RayClusterValues, S3Credentials, WorkerResources, new_ray_token
from tests.conftest import background_run_sh, clean_environment, run_experiment
from tests.emulated_cluster import EmulatedCluster
from tests.s3_server import S3Server
from tests.tasks.test_tune_remote import remote_env, remote_experiment

pytestmark = pytest.mark.cluster


# every fault on the chart backend, one of head and of workers on kuberay (whose pods the operator makes)
@pytest.mark.parametrize(
    ("cluster_backend", "component", "fault", "messages"),
    [
        ("chart", "worker", "image_pull", ["ImagePullBackOff in container ray-worker", "was not ready after 15 s"]),
        ("chart", "worker", "unschedulable", ["Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu",
                                              "workers 0/1 ready (1 Pending)"]),
        ("chart", "head", "crash_loop", ["CrashLoopBackOff in container ray-head", "was not ready after 15 s"]),
        ("chart", "head", "never_ready", ["was not ready after 15 s", "head Running |"]),
        ("kuberay", "worker", "image_pull", ["ImagePullBackOff in container ray-worker", "was not ready after 15 s"]),
        ("kuberay", "head", "crash_loop", ["CrashLoopBackOff in container ray-head", "was not ready after 15 s"]),
    ],
)
def test_pod_fault_ends_in_a_clear_error_and_a_clean_cluster(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster,
    component: str, fault: str, messages: list[str], cluster_backend: str,
) -> None:
    emulated_cluster.pods.inject(component, fault)
    bucket = s3_server.create_bucket(f"fault-{fault.replace('_', '-')}-{cluster_backend}")
    directory = remote_experiment(tmp_path, bucket, TuneRemote={"ready_timeout": "15"})
    result = run_experiment(directory, env=remote_env(emulated_cluster, s3_server), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 30, output[-4000:]
    for message in messages:
        assert message in output, output[-4000:]
    assert "Traceback" not in output
    assert "Uninstalled Ray cluster release" in output
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects() == []
    # no trial ran (the search in the cluster may have started, and written its status, meanwhile)
    assert not [key for key in s3_server.keys(bucket) if key.endswith(("result.json", "best.pt"))]


@pytest.mark.parametrize(("cluster_backend", "signum"), [("chart", signal.SIGTERM), ("kuberay", signal.SIGINT)],
                         ids=["SIGTERM", "kuberay-SIGINT"])
def test_a_signal_while_waiting_detaches_and_the_search_s_cluster_stays(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster, signum: int, cluster_backend: str
) -> None:
    emulated_cluster.pods.inject("worker", "never_ready")
    bucket = s3_server.create_bucket(f"signal-{signum}-{cluster_backend}")
    directory = remote_experiment(tmp_path, bucket, TuneRemote={"ready_timeout": "300"})
    log = tmp_path / "driver.log"
    with background_run_sh(directory, log, remote_env(emulated_cluster, s3_server)) as driver:
        # deployed: the run lock was handed over to the search Job (or RayJob), and run.sh waits for the pods
        emulated_cluster.api.wait_for(lambda: [lock for lock in emulated_cluster.api.list("configmaps")
                                               if lock["metadata"]["name"].startswith(LOCK_PREFIX)
                                               and lock["metadata"].get("ownerReferences")], timeout=120)
        time.sleep(2)
        driver.send_signal(signum)
        try:
            code = driver.wait(120)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"run.sh did not end within 120 s of the signal:\n{log.read_text()[-4000:]}") from None
    output = log.read_text()
    assert code == 128 + signum, output[-4000:]  # 143 for SIGTERM, 130 for SIGINT, as a shell reports them
    release = re.search(r"Detached: the search goes on in the cluster \(Ray cluster (aframe-tune-\w+)\)", output)
    assert release, output[-4000:]
    assert f"Stop it: aframe-tune stop s3://{bucket}/my-tune" in output
    assert "Traceback" not in output and "Uninstalled" not in output
    assert emulated_cluster.search_object(release.group(1)) in emulated_cluster.release_objects()  # it goes on


def test_keep_cluster_leaves_the_release_of_a_failed_start_and_says_how_to_remove_it(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    emulated_cluster.pods.inject("worker", "never_ready")
    directory = remote_experiment(tmp_path, s3_server.create_bucket(f"keep-cluster-{emulated_cluster.backend}"),
                                  TuneRemote={"ready_timeout": "10", "keep_cluster": "true"})
    result = run_experiment(directory, env=remote_env(emulated_cluster, s3_server), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 30, output[-4000:]
    release = re.search(r"Keeping Ray cluster (aframe-tune-[0-9a-f]+) as asked; remove it with: "
                        r"helm uninstall \1 -n gw-albert", output)
    assert release, output[-4000:]
    left = emulated_cluster.release_objects()
    assert emulated_cluster.head_workload(release.group(1)) in left
    assert f"secrets/{release.group(1)}-ray-auth" in left


# what dispatch does first with a deployed cluster: connect to its Jobs API (waiting for the
# dashboard, which may answer a few seconds after the head pod is ready) and list the jobs
LIST_JOBS_AS_DISPATCH = """
import sys
from aframe_tune.dispatch.ray_jobs import RayJobsClient
print("jobs:", len(RayJobsClient(sys.argv[1], {}, "", []).states()))
"""
# Ray's own client, with whatever token (or none) its environment gives it
LIST_JOBS = """
import sys
from ray.job_submission import JobSubmissionClient
print("jobs:", len(JobSubmissionClient(sys.argv[1]).list_jobs()))
"""


def test_a_dispatch_cluster_s_jobs_api_is_reached_by_a_port_forward_and_refuses_requests_without_the_token(
    tmp_path: Path, emulated_cluster: EmulatedCluster
) -> None:
    """A release without a search in it (a dispatch's) exposes nothing outside the cluster: this
    machine reaches the head's dashboard through the Kubernetes API, and the dashboard wants the
    cluster's token."""
    token = new_ray_token()
    target = KubeTarget(namespace=emulated_cluster.namespace, kubeconfig=emulated_cluster.kubeconfig)
    backend = KubeRayBackend(target) if emulated_cluster.backend == "kuberay" else ChartBackend(target)
    values = RayClusterValues(
        backend=emulated_cluster.backend, head=HeadResources(cpus=1, memory="2Gi"),
        worker=WorkerResources(replicas=1, gpus=0, cpus=1, memory="2Gi", min_gpu_memory=0),
        s3=S3Credentials("http://127.0.0.1:9", "token-test-key-id", "token-test-secret"), auth_token=token)
    release = "aframe-dispatch-token0"
    with deployed_ray_cluster(backend, release, values, 180), forwarded_dashboard(target, release) as dashboard:
        assert dashboard.startswith("http://127.0.0.1:")
        services = [obj for obj in emulated_cluster.api.list("services")
                    if obj["metadata"]["name"].startswith(release)]
        assert services and all(obj["spec"].get("type", "ClusterIP") == "ClusterIP" for obj in services)
        check_the_token(dashboard, token)
    assert emulated_cluster.api.requests(path=r"/pods/[^/]+/portforward$")


def check_the_token(address: str, token: str) -> None:
    def connect(script: str = LIST_JOBS, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", script, address], capture_output=True, text=True,
                              timeout=180, env=clean_environment(**env))

    # The address answers with the token...
    right = connect(LIST_JOBS_AS_DISPATCH, RAY_AUTH_TOKEN=token)
    assert right.returncode == 0, right.stderr[-3000:]
    assert "jobs: 0" in right.stdout
    # ...and turns away requests without it, or with another
    for refused in (connect(), connect(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)):
        assert refused.returncode != 0 and "jobs:" not in refused.stdout, refused.stdout
        assert "auth" in refused.stderr.lower(), refused.stderr[-3000:]


def test_a_head_that_never_starts_with_no_one_watching_is_given_up_and_the_release_removed(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    """The safety net of a search in the cluster when run.sh is gone: its search Job waits
    ready_timeout seconds for the head (and a grace, so that a watching run.sh reports first),
    then records the failure and removes the release."""
    emulated_cluster.pods.inject("head", "image_pull")
    bucket = s3_server.create_bucket("head-never-starts")
    directory = remote_experiment(tmp_path, bucket, TuneRemote={"ready_timeout": "15"})
    log = tmp_path / "driver.log"
    with background_run_sh(directory, log, remote_env(emulated_cluster, s3_server)) as driver:
        emulated_cluster.api.wait_for(lambda: [job for job in emulated_cluster.api.list("jobs")
                                               if job["metadata"]["name"].endswith("-search")], timeout=120)
        driver.send_signal(signal.SIGKILL)  # no one watching
        driver.wait(30)
    emulated_cluster.api.wait_for(lambda: emulated_cluster.release_objects() == [], timeout=240, interval=1.0)
    (key,) = s3_server.keys(bucket, "my-tune/search-status.json")
    status = json.loads(s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read())
    assert status["state"] == "failed" and status["message"] == "the Ray head did not start within 45 s", status


def test_a_search_job_whose_pods_all_fail_with_no_one_watching_goes_with_its_whole_release(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    """An image without aframe-tune, and run.sh killed once it installed the release: no pod of the
    search Job lives to remove the release. The Job fails, Kubernetes deletes it
    ttlSecondsAfterFinished (30 s) later, and the garbage collector the release it owns."""
    emulated_cluster.pods.inject("search", "broken_image")
    bucket = s3_server.create_bucket("search-job-fails-alone")
    directory = remote_experiment(tmp_path, bucket)
    log = tmp_path / "driver.log"
    api = emulated_cluster.api
    with background_run_sh(directory, log, remote_env(emulated_cluster, s3_server)) as driver:
        records = api.wait_for(lambda: [s for s in api.list("secrets") if (s["metadata"].get("labels") or {})
                                        .get("owner") == "helm" and s["metadata"].get("ownerReferences")], timeout=120)
        driver.send_signal(signal.SIGKILL)  # no one watching
        driver.wait(30)
    assert records[0]["metadata"]["ownerReferences"][0]["kind"] == "Job"
    failed = api.wait_for(lambda: [c["lastTransitionTime"] for job in api.list("jobs") for c in
                                   (job.get("status") or {}).get("conditions") or [] if c["type"] == "Failed"],
                          timeout=300, interval=1.0)
    assert emulated_cluster.release_objects() != []  # failed: still there until its TTL has passed
    api.wait_for(lambda: emulated_cluster.release_objects() == [], timeout=90, interval=1.0)
    assert failed


@pytest.mark.parametrize("cluster_backend", ["kuberay"])
def test_a_rayjob_that_fails_before_its_cluster_is_ready_is_reported_at_once(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    """KubeRay fails the RayJob while run.sh waits for the cluster (here: a deadline an admin set,
    on a head that never gets ready): run.sh says why within seconds, not at ready_timeout, and
    removes the release."""
    emulated_cluster.pods.inject("head", "never_ready")
    bucket = s3_server.create_bucket("rayjob-fails-early")
    directory = remote_experiment(tmp_path, bucket, TuneRemote={"ready_timeout": "600"})
    log = tmp_path / "driver.log"
    api = emulated_cluster.api
    with background_run_sh(directory, log, remote_env(emulated_cluster, s3_server)) as driver:
        (rayjob,) = api.wait_for(lambda: api.list("rayjobs"), timeout=120)
        api.wait_for(lambda: "waiting for its head and a worker" in log.read_text(), timeout=60)
        started = time.monotonic()
        api.patch("rayjobs", rayjob["metadata"]["namespace"], rayjob["metadata"]["name"],
                  {"spec": {"activeDeadlineSeconds": 1}}, "application/merge-patch+json")
        assert driver.wait(120) == 30, log.read_text()[-4000:]
    output = log.read_text()
    assert time.monotonic() - started < 60, output[-4000:]
    assert (f"The search in the cluster failed: the search's RayJob {rayjob['metadata']['name']} failed: "
            "DeadlineExceeded: The RayJob has passed the activeDeadlineSeconds") in output, output[-4000:]
    assert "Traceback" not in output and "was not ready after" not in output
    api.flush()
    assert emulated_cluster.release_objects() == []


def test_a_search_job_that_fails_is_reported_with_its_output_and_run_sh_removes_the_release(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    """An image without aframe-tune: the search Job's pods exit at once, the Job gives up, and no
    one in the cluster is left to remove the release; run.sh, following, does."""
    emulated_cluster.pods.inject("search", "broken_image")
    bucket = s3_server.create_bucket("search-job-fails")
    directory = remote_experiment(tmp_path, bucket)
    result = run_experiment(directory, env=remote_env(emulated_cluster, s3_server), timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 30, output[-4000:]
    assert "The search in the cluster failed: the search Job failed (is aframe-tune installed in the image?)" in output
    assert "No module named aframe_tune (the image's)" in output  # its own last words
    assert "Traceback" not in output
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects() == []
