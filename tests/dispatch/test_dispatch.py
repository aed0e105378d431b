"""``aframe-tune dispatch`` and ``DispatchJobs`` end to end on real Ray: resources and GPU
isolation on a loopback head with (counted) GPUs, failures, re-runs, stop signals, training
and tune jobs on a local instance, and jobs spread over two loopback heads."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, TINY_TRAIN, TINY_TUNE, aframe_init, clean_environment, edit_yaml
from tests.ray_head import free_port, loopback_ray_head

pytestmark = pytest.mark.e2e

# prints what the job sees, and when it ran, for the test to compare
REPORT = ("import json, os, sys, time; start = time.time(); time.sleep({sleep}); "
          "print(json.dumps({{'gpus': os.environ.get('CUDA_VISIBLE_DEVICES'), 'start': start, 'end': time.time(), "
          "'pid': os.getpid(), 'ray_address': os.environ.get('RAY_ADDRESS')}})); sys.exit({code})")


def reporting_job(name: str, sleep: float = 2, code: int = 0, **resources) -> dict:
    return {"name": name, "command": [sys.executable, "-c", REPORT.format(sleep=sleep, code=code)], **resources}


def seen(log_dir: Path, name: str) -> dict:
    return json.loads((log_dir / f"{name}.log").read_text().splitlines()[-1])


def dispatch(jobs_file: Path, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "aframe-tune"), "dispatch", str(jobs_file), *args], capture_output=True,
                          text=True, env=env or clean_environment(), timeout=timeout, cwd=jobs_file.parent)


def write_jobs(path: Path, jobs: list[dict], **top) -> Path:
    path.write_text(yaml.safe_dump({**top, "jobs": jobs}))
    return path


@pytest.fixture(scope="module")
def gpu_cluster():
    """A Ray head on loopback that counts two GPUs (Ray hands out their ids as for real ones)."""
    with loopback_ray_head(num_gpus=2) as address:
        yield clean_environment(RAY_ADDRESS=address, RAY_AUTH_MODE="token")


def test_parallel_jobs_get_their_own_gpus_a_failure_stops_no_other_and_a_rerun_skips_the_done(
        tmp_path: Path, gpu_cluster: dict) -> None:
    # a quarter CPU each: GPUs, not the head's two CPUs, decide what runs together
    jobs_file = write_jobs(tmp_path / "jobs.yaml", [
        reporting_job("one-gpu-a", gpus=1, cpus=0.25), reporting_job("one-gpu-b", gpus=1, cpus=0.25),
        reporting_job("half-gpu", gpus=0.5, cpus=0.25), reporting_job("no-gpu", cpus=0.25),
        reporting_job("broken", sleep=0, code=3, cpus=0.25),
    ])
    result = dispatch(jobs_file, env=gpu_cluster)
    assert result.returncode == 1, result.stdout + result.stderr
    logs = tmp_path / "jobs-logs"
    assert result.stdout.splitlines()[-1] == (
        "1 of 5 jobs failed: broken (exit status 3, log jobs-logs/broken.log). Run the same command again to rerun "
        "them; jobs that succeeded are skipped.")
    # the live table showed jobs running, and the last one every job's end
    assert "one-gpu-a  command  running" in result.stdout
    final = result.stdout.splitlines()[-7:-1]
    assert final[0].split() == ["JOB", "KIND", "STATE", "TIME", "ASKS", "FOR", "GPUS", "LOG"]
    assert [line.split()[2] for line in final[1:]] == ["succeeded"] * 4 + ["failed"]

    a, b, half, none = (seen(logs, name) for name in ("one-gpu-a", "one-gpu-b", "half-gpu", "no-gpu"))
    # each GPU job saw one GPU, the job without GPUs none
    assert {a["gpus"], b["gpus"], half["gpus"]} <= {"0", "1"} and none["gpus"] == ""

    def overlap(x: dict, y: dict) -> bool:
        return min(x["end"], y["end"]) > max(x["start"], y["start"]) + 0.1

    # a whole GPU is nobody else's while its job runs
    for whole in (a, b):
        for other in (a, b, half):
            if other is not whole and other["gpus"] == whole["gpus"]:
                assert not overlap(whole, other), (whole, other)
    assert any(overlap(none, other) for other in (a, b, half))  # parallel: jobs ran at the same time

    done_before = {path.name: path.stat().st_mtime_ns for path in logs.glob("*.log")}
    again = dispatch(jobs_file, env=gpu_cluster)
    assert again.returncode == 1
    assert again.stdout.count("done earlier") >= 4
    rerun = {path.name for path in logs.glob("*.log") if path.stat().st_mtime_ns != done_before[path.name]}
    assert rerun == {"broken.log"}

    fixed = write_jobs(jobs_file, [
        reporting_job("one-gpu-a", gpus=1, cpus=0.25), reporting_job("one-gpu-b", gpus=1, cpus=0.25),
        reporting_job("half-gpu", gpus=0.5, cpus=0.25), reporting_job("no-gpu", cpus=0.25),
        reporting_job("broken", sleep=0, code=0, cpus=0.25),  # changed: runs again, and succeeds
    ])
    last = dispatch(fixed, env=gpu_cluster)
    assert last.returncode == 0, last.stdout + last.stderr
    assert last.stdout.splitlines()[-1] == "All 5 jobs succeeded (4 done earlier, skipped)."


def test_a_job_no_node_can_run_is_refused_before_any_job_starts(tmp_path: Path, gpu_cluster: dict) -> None:
    jobs_file = write_jobs(tmp_path / "jobs.yaml", [reporting_job("fits", gpus=1),
                                                    reporting_job("greedy", gpus=3, memory="100Ti")])
    result = dispatch(jobs_file, env=gpu_cluster)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"aframe-tune: error: {jobs_file}: job 'greedy' asks for 3 GPUs (largest node: 2), 102,400 GiB of memory "
        f"(largest node: {result.stderr.split('(largest node: ')[2].split(' GiB')[0]} GiB); no node of the Ray "
        "cluster could run it. Lower its cpus/gpus/memory in jobs.yaml, or use a bigger cluster")
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "jobs-logs").glob("*.log"))


def test_sequential_training_and_tune_jobs_on_a_local_instance_then_the_law_task_is_complete(tmp_path: Path) -> None:
    experiment = tmp_path / "search"
    assert aframe_init("offline", "--mode", "tune", "--directory", str(experiment)).returncode == 0
    edit_yaml(experiment / "tune.yaml", TINY_TUNE)
    edit_yaml(experiment / "train.yaml", TINY_TRAIN)
    jobs_file = write_jobs(tmp_path / "jobs.yaml", mode="sequential", log_dir="logs", jobs=[
        {"name": "fit", "train": "search/train.yaml", "overrides": {"trainer.max_epochs": 1, "data.num_train": 256}},
        {"name": "search", "tune": "search", "cpus": 2},
        reporting_job("after", sleep=0),
    ])
    result = dispatch(jobs_file)
    assert result.returncode == 0, result.stdout + result.stderr + "".join(
        path.read_text()[-3000:] for path in (tmp_path / "logs").glob("*.log"))
    logs = tmp_path / "logs"
    assert "`Trainer.fit` stopped: `max_epochs=1` reached." in (logs / "fit.log").read_text()
    assert list((logs / "fit").glob("**/metrics.csv"))  # the CSVLogger wrote into the job's folder
    assert (experiment / "training" / "best.pt").is_file()
    assert "--TuneLocal-cpus 2" in (logs / "search.log").read_text().splitlines()[0]
    # one after another
    records = {name: json.loads((logs / f"{name}.done.json").read_text()) for name in ("fit", "search", "after")}
    assert all(record["gpus"] == "" for record in records.values())
    assert (logs / "fit.done.json").stat().st_mtime <= seen(logs, "after")["start"]

    law = subprocess.run([str(BIN / "law"), "run", "aframe_tune.tasks.DispatchJobs", "--jobs-file", str(jobs_file), "--local-scheduler"],
                         capture_output=True, text=True, env=clean_environment(), timeout=300, cwd=tmp_path)
    assert law.returncode == 0, law.stdout + law.stderr
    assert "complete ones were encountered" in law.stdout + law.stderr


def test_sigterm_stops_the_jobs_and_exits_143(tmp_path: Path) -> None:
    jobs_file = write_jobs(tmp_path / "jobs.yaml", [
        {"name": "long", "command": [sys.executable, "-c",
                                     "import os, time; print(os.getpid(), flush=True); time.sleep(600)"]}])
    driver = subprocess.Popen([str(BIN / "aframe-tune"), "dispatch", str(jobs_file)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=clean_environment(), cwd=tmp_path)
    log = tmp_path / "jobs-logs" / "long.log"
    deadline = time.monotonic() + 120
    while not (log.is_file() and len(log.read_text().splitlines()) >= 3):
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
        time.sleep(0.3)
    pid = int(log.read_text().splitlines()[2])
    driver.send_signal(signal.SIGTERM)
    out, err = driver.communicate(timeout=60)
    assert driver.returncode == 143, out + err
    assert "Stopped by SIGTERM; the jobs still running were stopped." in err
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not Path(f"/proc/{pid}").exists(), "the job's process outlived the dispatch"
    assert not (tmp_path / "jobs-logs" / "long.done.json").exists()


def test_through_a_ray_client_the_logs_come_back_to_the_dispatcher(tmp_path: Path) -> None:
    port = free_port()
    jobs_file = write_jobs(tmp_path / "jobs.yaml", [reporting_job("remote-one", sleep=0, cpus=0.5)],
                           ray_address=f"ray://127.0.0.1:{port}")
    with loopback_ray_head(client_port=port):
        result = dispatch(jobs_file, env=clean_environment(RAY_AUTH_MODE="token"))
    assert result.returncode == 0, result.stdout + result.stderr
    log = (tmp_path / "jobs-logs" / "remote-one.log").read_text()
    assert log.startswith(f"# {sys.executable} -c ")  # written where the job ran, copied here at its end
    assert json.loads(log.splitlines()[-1])["gpus"] == ""


def test_through_ray_s_jobs_api_each_job_gets_its_resources_and_its_log_comes_back(tmp_path: Path) -> None:
    """A Jobs API address (a head's dashboard, as a deployed cluster's is reached) runs each job as
    a Ray job: its entrypoint asks for the job's CPUs and GPUs, and sees only its own GPUs."""
    port = free_port()
    (tmp_path / "data.txt").write_text("shipped")
    jobs_file = write_jobs(tmp_path / "jobs.yaml", [
        reporting_job("with-gpu", sleep=1, gpus=1, cpus=0.5), reporting_job("without-gpu", sleep=1, cpus=0.5),
        {"name": "reads", "command": ["{python}", "-c", "print(open('data.txt').read())"], "cpus": 0.5},
        reporting_job("broken", sleep=0, code=3, cpus=0.5),
    ], ray_address=f"http://127.0.0.1:{port}")
    with loopback_ray_head(num_gpus=1, dashboard_port=port):
        result = dispatch(jobs_file, env=clean_environment(RAY_AUTH_MODE="token"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 of 4 jobs failed: broken (exit status 3" in result.stdout.splitlines()[-1]
    assert " INFO " not in result.stderr  # Ray's job client's word on each upload is for --verbose
    logs = tmp_path / "jobs-logs"
    log = (logs / "with-gpu.log").read_text()
    # the header, as a Ray task writes it, with no lines of Ray's before it
    assert log.startswith("# ") and " -c " in log.splitlines()[0] and log.splitlines()[1] == "# CUDA_VISIBLE_DEVICES=0"
    assert seen(logs, "with-gpu")["gpus"] == "0" and seen(logs, "without-gpu")["gpus"] == ""
    assert (logs / "reads.log").read_text().splitlines()[-1] == "shipped"  # the folder travelled
    assert {path.name for path in logs.glob("*.done.json")} == {"with-gpu.done.json", "without-gpu.done.json",
                                                               "reads.done.json"}


@dataclass(frozen=True)
class TwoHeads:
    """Two Ray heads on loopback, each serving Ray's Jobs API.

    Args:
        gpu_jobs_api: the Jobs API of the head that counts one GPU.
        gpu_gcs: that head's GCS address (what a job's ``RAY_ADDRESS`` is there).
        cpu_gcs: the GCS address of the head without GPUs, which Ray's job client resolves to its Jobs API.
    """

    gpu_jobs_api: str
    gpu_gcs: str
    cpu_gcs: str


@pytest.fixture(scope="module")
def two_heads() -> Iterator[TwoHeads]:
    """The two heads, started and stopped side by side: each takes seconds, mostly spent waiting."""
    gpu_port, cpu_port = free_port(), free_port()
    heads = [loopback_ray_head(num_gpus=1, dashboard_port=gpu_port), loopback_ray_head(dashboard_port=cpu_port)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = [pool.submit(head.__enter__) for head in heads]
        try:
            gpu_gcs, cpu_gcs = (future.result() for future in started)
            yield TwoHeads(f"http://127.0.0.1:{gpu_port}", gpu_gcs, cpu_gcs)
        finally:
            stopping = [pool.submit(head.__exit__, None, None, None)
                        for head, future in zip(heads, started) if future.exception() is None]
            for future in stopping:
                future.result()


def final_rows(stdout: str, jobs: int) -> dict[str, list[str]]:
    """The last status table's rows, by job name (a row's ASKS FOR has one to three words)."""
    return {line.split()[0]: line.split() for line in stdout.splitlines()[-jobs - 1:-1]}


def test_jobs_spread_over_two_clusters_a_gpu_job_where_the_gpu_is_and_a_rerun_skips_the_done(
        tmp_path: Path, two_heads: TwoHeads) -> None:
    clusters_file = tmp_path / "cluster_config"
    clusters_file.write_text(f"# Isaac Lab's format\nname: gpu address: {two_heads.gpu_jobs_api}\n\n"
                             f"name: cpu address: {two_heads.cpu_gcs}\n")

    def jobs(broken_code: int) -> list[dict]:
        return [reporting_job("with-gpu", sleep=1, gpus=1, cpus=0.5),
                *(reporting_job(name, sleep=1, cpus=0.5) for name in ("a", "b", "c")),
                reporting_job("broken", sleep=0, code=broken_code, cpus=0.5)]

    jobs_file = write_jobs(tmp_path / "jobs.yaml", jobs(broken_code=3))
    env = clean_environment(RAY_AUTH_MODE="token")
    result = dispatch(jobs_file, "--clusters-file", str(clusters_file), env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 of 5 jobs failed: broken (exit status 3" in result.stdout.splitlines()[-1]
    assert result.stdout.splitlines()[-7].split() == ["JOB", "KIND", "STATE", "TIME", "ASKS", "FOR", "CLUSTER",
                                                      "GPUS", "LOG"]
    rows = final_rows(result.stdout, 5)
    # placement.py's rule: the GPU job where the GPU is, the others where the fewest CPUs are booked
    # (a tie: the cluster listed first)
    where = {name: row[-3] for name, row in rows.items()}
    assert where == {"with-gpu": "gpu", "a": "cpu", "b": "gpu", "c": "cpu", "broken": "gpu"}
    logs = tmp_path / "jobs-logs"
    gcs = {"gpu": two_heads.gpu_gcs, "cpu": two_heads.cpu_gcs}
    for name in ("with-gpu", "a", "b", "c"):
        assert seen(logs, name)["ray_address"] == gcs[where[name]], name  # it ran where the table says
        assert seen(logs, name)["gpus"] == ("0" if name == "with-gpu" else "")
        assert json.loads((logs / f"{name}.done.json").read_text())["cluster"] == where[name]
    assert (logs / "broken.log").read_text().startswith("# ") and not (logs / "broken.done.json").exists()

    done_before = {path.name: path.stat().st_mtime_ns for path in logs.glob("*.log")}
    write_jobs(jobs_file, jobs(broken_code=0))  # fixed: runs again, on a cluster that ran it before
    again = dispatch(jobs_file, "--clusters-file", str(clusters_file), env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[-1] == "All 5 jobs succeeded (4 done earlier, skipped)."
    assert final_rows(again.stdout, 5)["broken"][-3] == "gpu"
    assert {path.name for path in logs.glob("*.log") if path.stat().st_mtime_ns != done_before[path.name]} == {
        "broken.log"}


def test_a_job_no_cluster_can_run_is_refused_before_any_job_starts(tmp_path: Path, two_heads: TwoHeads) -> None:
    jobs_file = write_jobs(tmp_path / "jobs.yaml", [reporting_job("fits", sleep=0, cpus=0.5),
                                                    reporting_job("greedy", sleep=0, gpus=2)],
                           clusters=[{"name": "gpu", "address": two_heads.gpu_jobs_api},
                                     {"name": "cpu", "address": two_heads.cpu_gcs}])
    result = dispatch(jobs_file, env=clean_environment(RAY_AUTH_MODE="token"))
    assert result.returncode == 1, result.stdout + result.stderr
    refusal = result.stderr.strip().splitlines()[-1]
    assert refusal.startswith(f"aframe-tune: error: {jobs_file}: job 'greedy' asks for 1 CPU 2 GPU on one node; no "
                              "cluster has such a node: 'gpu' has 1 node, the largest 2 CPU 1 GPU "), refusal
    assert "; 'cpu' has 1 node, the largest 2 CPU 0 GPU " in refusal
    assert refusal.endswith(". Lower its cpus/gpus/memory in jobs.yaml, or add a cluster with a bigger node")
    assert "Traceback" not in result.stderr and "running" not in result.stdout
    assert not (tmp_path / "jobs-logs").exists()


def test_a_listed_cluster_that_does_not_answer_is_named_in_seconds_not_minutes(tmp_path: Path,
                                                                              two_heads: TwoHeads) -> None:
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    jobs_file = write_jobs(tmp_path / "jobs.yaml", [reporting_job("a", sleep=0, cpus=0.5)],
                           clusters=[{"name": "gpu", "address": two_heads.gpu_jobs_api},
                                     {"name": "gone", "address": gone}])
    started = time.monotonic()
    result = dispatch(jobs_file, env=clean_environment(RAY_AUTH_MODE="token"))
    assert result.returncode == 1, result.stdout + result.stderr
    refusal = result.stderr.strip().splitlines()[-1]
    assert refusal.startswith(f"aframe-tune: error: {jobs_file}: no job was started, as not every cluster answered; "
                              f"check their addresses (clusters: or --clusters-file): cluster 'gone': connecting to "
                              f"Ray's Jobs API at {gone} failed (no answer within 10 s): "), refusal
    assert time.monotonic() - started < 60  # a listed cluster is running: no wait for one being deployed (120 s)
    assert not (tmp_path / "jobs-logs").exists()


def test_a_job_the_cluster_at_a_jobs_api_address_cannot_run_is_refused_before_any_job_starts(
        tmp_path: Path, two_heads: TwoHeads) -> None:
    jobs_file = write_jobs(tmp_path / "jobs.yaml", [reporting_job("fits", sleep=0, cpus=0.5),
                                                    reporting_job("greedy", sleep=0, gpus=2)],
                           ray_address=two_heads.gpu_jobs_api)
    result = dispatch(jobs_file, env=clean_environment(RAY_AUTH_MODE="token"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"aframe-tune: error: {jobs_file}: job 'greedy' asks for 2 GPUs (largest node: 1); no node of the Ray cluster "
        "could run it. Lower its cpus/gpus/memory in jobs.yaml, or use a bigger cluster")
    assert "running" not in result.stdout and not (tmp_path / "jobs-logs").exists()
