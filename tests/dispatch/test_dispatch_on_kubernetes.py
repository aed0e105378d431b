"""``aframe-tune dispatch`` onto a Ray cluster it deploys on the emulated Kubernetes cluster
(jobs.yaml's ``cluster:``): the jobs run in the worker pods, on the folder shipped to them, and
the cluster is gone afterwards."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import BIN, TINY_TRAIN, aframe_init, clean_environment, edit_yaml
from tests.dispatch.test_dispatch import dispatch, write_jobs
from tests.emulated_cluster import EmulatedCluster

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

# one worker pod of 2 CPUs and no GPU, a small head: what the emulated cluster's machine can hold
SMALL_CLUSTER = {
    "head": {"cpus": 1, "memory": "2G"},
    "worker": {"replicas": 1, "gpus_per_replica": 0, "cpus_per_gpu": 2, "memory_per_gpu": 2, "min_gpu_memory": 0},
    "ready_timeout": 120,
}
ALL_KINDS = ("deployments", "jobs", "pods", "services", "secrets", "configmaps")
# a script in the shipped folder that says where it runs and what it can see
WHERE = """import json, os, sys
print(json.dumps({"cwd": os.getcwd(), "python": sys.executable, "data": open("data.txt").read(),
                  "old_logs_shipped": os.path.exists("jobs-logs/old-output.bin"),
                  "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}))
"""


def jobs_folder(tmp_path: Path) -> Path:
    root = tmp_path / "jobs"
    experiment = root / "model"
    assert aframe_init("offline", "--mode", "tune", "--directory", str(experiment)).returncode == 0
    edit_yaml(experiment / "train.yaml", TINY_TRAIN)
    (root / "where.py").write_text(WHERE)
    (root / "data.txt").write_text("shipped")
    # an earlier dispatch's output, which must stay here
    (root / "jobs-logs").mkdir()
    (root / "jobs-logs" / "old-output.bin").write_bytes(b"\0" * 1024)
    return root


@pytest.mark.parametrize("cluster_backend", ["chart", "kuberay"])
def test_jobs_run_in_the_pods_of_a_deployed_cluster_which_is_removed_afterwards(
    tmp_path: Path, emulated_cluster: EmulatedCluster
) -> None:
    root = jobs_folder(tmp_path)
    jobs_file = write_jobs(root / "jobs.yaml", cluster=SMALL_CLUSTER, jobs=[
        {"name": "fit", "train": "model/train.yaml", "overrides": {"trainer.max_epochs": 1, "data.num_train": 256}},
        {"name": "where", "command": ["python", "where.py"]},
    ])
    result = dispatch(jobs_file, env=clean_environment(**emulated_cluster.environment()), timeout=600)
    output = result.stdout + result.stderr
    logs = root / "jobs-logs"
    assert result.returncode == 0, output + "".join(path.read_text()[-3000:] for path in logs.glob("*.log"))
    assert "Deploying Ray cluster aframe-dispatch-" in output
    assert "is ready; its dashboard is at http://127.0.0.1:" in output  # forwarded over the API server
    assert "All 2 jobs succeeded." in output

    # the logs came back from the pod
    fit_log = (logs / "fit.log").read_text()
    assert "`Trainer.fit` stopped: `max_epochs=1` reached." in fit_log
    assert str(root) not in fit_log.splitlines()[0]  # it read the pod's copy of train.yaml
    where = json.loads((logs / "where.log").read_text().splitlines()[-1])
    assert where["data"] == "shipped"  # the folder's files travelled
    assert not where["cwd"].startswith(str(root))  # ... to the pod's own copy of it
    assert where["old_logs_shipped"] is False
    assert where["gpus"] == ""
    assert {path.name for path in logs.glob("*.done.json")} == {"fit.done.json", "where.done.json"}
    started = [" ".join(argv) for argv in emulated_cluster.pods.argv_history()]
    assert len([line for line in started if "ray start" in line and "--head" not in line]) == 1  # one worker

    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects(ALL_KINDS) == []  # the run lock too
    # what it deployed followed the platform's rules, in the kube context's namespace
    assert emulated_cluster.policy.denied == []
    assert emulated_cluster.admitted_ray_nodes() == {"head", "worker"}
    assert emulated_cluster.schema_problems == []

    # done is done: a second dispatch deploys nothing
    again = dispatch(jobs_file, env=clean_environment(**emulated_cluster.environment()), timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Deploying" not in again.stdout + again.stderr
    assert len(emulated_cluster.pods.argv_history()) == len(started)


def test_a_job_no_worker_pod_could_run_is_refused_before_a_cluster_is_deployed(
    tmp_path: Path, emulated_cluster: EmulatedCluster
) -> None:
    jobs_file = write_jobs(tmp_path / "jobs.yaml", cluster=SMALL_CLUSTER,
                           jobs=[{"name": "greedy", "command": ["true"], "gpus": 1}])
    result = dispatch(jobs_file, env=clean_environment(**emulated_cluster.environment()), timeout=120)
    assert result.returncode == 1
    assert "job 'greedy' asks for 1 GPUs (largest node: 0); no node of the Ray cluster could run it" in result.stderr
    assert "Traceback" not in result.stderr
    assert emulated_cluster.api.list("jobs") == [] and emulated_cluster.pods.argv_history() == []


HOLD = "import os, time\nwhile os.path.exists(os.environ['HOLD']): time.sleep(0.2)\nprint('released')"


def held_job(tmp_path: Path) -> tuple[Path, Path]:
    """A jobs.yaml on the small cluster whose one job runs until the returned file is removed."""
    hold = tmp_path / "hold"
    hold.touch()
    jobs_file = write_jobs(tmp_path / "jobs.yaml", cluster=SMALL_CLUSTER, jobs=[
        {"name": "held", "command": ["python", "-c", HOLD], "env": {"HOLD": str(hold)}}])
    return jobs_file, hold


@contextmanager
def background_dispatch(jobs_file: Path, log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """``aframe-tune dispatch`` running in the background, its output in ``log``; killed at the
    end of the block if it is still running."""
    with log.open("w") as output:
        dispatcher = subprocess.Popen([str(BIN / "aframe-tune"), "dispatch", str(jobs_file)], stdout=output,
                                      stderr=subprocess.STDOUT, text=True, cwd=jobs_file.parent, env=env)
    try:
        yield dispatcher
    finally:
        dispatcher.kill()


def wait_until_a_job_runs(dispatcher: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while "1 running" not in log.read_text():
        assert dispatcher.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.5)


def test_sigterm_while_the_cluster_starts_removes_it_and_exits_143(
    tmp_path: Path, emulated_cluster: EmulatedCluster
) -> None:
    emulated_cluster.pods.inject("worker", "never_ready")
    jobs_file = write_jobs(tmp_path / "jobs.yaml", cluster={**SMALL_CLUSTER, "ready_timeout": 300},
                           jobs=[{"name": "a", "command": ["true"]}])
    log = tmp_path / "dispatch.log"
    with background_dispatch(jobs_file, log, clean_environment(**emulated_cluster.environment())) as dispatcher:
        emulated_cluster.api.wait_for(lambda: emulated_cluster.api.list("jobs"), timeout=120)
        time.sleep(2)
        dispatcher.send_signal(signal.SIGTERM)
        code = dispatcher.wait(120)
    output = log.read_text()
    assert code == 143, output[-4000:]
    assert "Stopped by SIGTERM" in output and "Traceback" not in output
    assert "Uninstalled Ray cluster release aframe-dispatch-" in output
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects(ALL_KINDS) == []  # the run lock too


def test_one_dispatcher_per_jobs_file_and_a_killed_one_s_cluster_is_removed_by_the_next(
    tmp_path: Path, emulated_cluster: EmulatedCluster
) -> None:
    jobs_file, hold = held_job(tmp_path)
    env = clean_environment(**emulated_cluster.environment())
    with background_dispatch(jobs_file, tmp_path / "first.log", env) as first:
        wait_until_a_job_runs(first, tmp_path / "first.log")
        (release,) = {d["metadata"]["labels"]["app.kubernetes.io/instance"] for d in emulated_cluster.api.list("jobs")}

        listing = subprocess.run([str(BIN / "aframe-tune"), "cleanup"], capture_output=True, text=True, env=env,
                                 timeout=60)
        assert f"dispatch of process {first.pid} on" in listing.stdout, listing.stdout + listing.stderr

        second = dispatch(jobs_file, env=env, timeout=120)
        assert second.returncode == 1
        assert f"is already being dispatched by process {first.pid}" in second.stderr, second.stderr
        assert "Deploying" not in second.stdout + second.stderr

        first.kill()  # the dispatcher dies without removing its cluster
        first.wait(30)
    assert any(d["metadata"]["labels"]["app.kubernetes.io/instance"] == release
               for d in emulated_cluster.api.list("jobs"))

    hold.unlink()
    third = dispatch(jobs_file, env=env, timeout=300)
    output = third.stdout + third.stderr
    assert third.returncode == 0, output[-4000:]
    assert f"Removing Ray cluster {release}, left behind by process {first.pid}" in output
    assert (tmp_path / "jobs-logs" / "held.log").read_text().splitlines()[-1] == "released"
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects(ALL_KINDS) == []  # the run lock too


def test_sigterm_while_the_jobs_run_stops_them_removes_the_cluster_and_exits_143(
    tmp_path: Path, emulated_cluster: EmulatedCluster
) -> None:
    jobs_file, _ = held_job(tmp_path)
    log = tmp_path / "dispatch.log"
    with background_dispatch(jobs_file, log, clean_environment(**emulated_cluster.environment())) as dispatcher:
        wait_until_a_job_runs(dispatcher, log)
        dispatcher.send_signal(signal.SIGTERM)
        code = dispatcher.wait(120)
    output = log.read_text()
    assert code == 143, output[-4000:]
    assert "Stopped by SIGTERM; the jobs still running were stopped" in output and "Traceback" not in output
    assert not (tmp_path / "jobs-logs" / "held.done.json").exists()
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects(ALL_KINDS) == []
