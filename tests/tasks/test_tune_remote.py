"""TuneRemote end to end on the emulated cluster, with storage on the loopback S3 server."""

from __future__ import annotations

import base64
import configparser
import json
import os
import re
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import (BIN, ArgvSampler, aframe_init, background_run_sh, clean_environment, edit_yaml, run_experiment,
                           wait_while_running)
from tests.emulated_cluster import TOKEN_LIFETIME_S, USER_NAMESPACE, EmulatedCluster
from tests.s3_server import S3Server
from tests.tcp_partition import partition

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


def remote_experiment(tmp_path: Path, bucket: str, epochs: int = 2, command: bool = False,
                      **cfg: dict[str, str]) -> Path:
    """A scaffolded experiment shrunk to 2 trials of ``epochs`` each, tuned into s3://BUCKET/my-tune
    on small CPU-only pods; ``command``: the example command's (train.py) rather than the model's."""
    directory = tmp_path / "remote"
    result = aframe_init("offline", "--mode", "tune", "--directory", str(directory),
                         "--s3-bucket", f"s3://{bucket}/my-tune", *(("--trainable", "command") if command else ()))
    assert result.returncode == 0, result.stderr
    # no early stopping: every trial runs exactly `epochs` iterations
    edit_yaml(directory / "tune.yaml", {
        "tune_config.num_samples": 2,
        "tune_config.scheduler.init_args.max_t": epochs,
        "tune_config.scheduler.init_args.grace_period": epochs,
    })
    if command:
        tune = yaml.safe_load((directory / "tune.yaml").read_text())
        edit_yaml(directory / "tune.yaml", {"trial_command": [
            f"--epochs={epochs}" if argument.startswith("--epochs=") else argument
            for argument in tune["trial_command"]]})
    else:  # CPU-only pods here: trials that train on the CPU (the scaffold's train on the pods' GPUs)
        edit_yaml(directory / "tune.yaml", {"param_space": {"model.learning_rate": "tune.choice([1e-3, 3e-3])"},
                                            "gpus_per_trial": 0})
        edit_yaml(directory / "train.yaml", {"trainer.max_epochs": epochs, "trainer.accelerator": "cpu",
                                             "data.num_train": 512, "data.num_valid": 256})
    settings = {
        "ray_worker": {"replicas": "1", "gpus_per_replica": "0", "cpus_per_gpu": "2", "memory_per_gpu": "2"},
        "ray_head": {"cpus": "1", "memory": "2G"},
        "TuneRemote": {"ready_timeout": "120"},
    }
    for section, options in cfg.items():
        settings.setdefault(section, {}).update(options)
    path = directory / "tune.cfg"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path)
    for section, options in settings.items():
        for option, value in options.items():
            parser[f"luigi_{section}"][option] = value
    with path.open("w") as handle:
        parser.write(handle)
    return directory


def remote_env(cluster: EmulatedCluster, s3_server: S3Server) -> dict[str, str]:
    return clean_environment(**cluster.environment(), **s3_server.environment())


FAKE_SSH_KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAFakeSshKeyBody7LeakCheck"
FAKE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
FAKE_SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEKEY7LEAKCHECK",
    "AWS_SECRET_ACCESS_KEY": "fake-s3-secret-Zq8vLeakCheck",
    "WANDB_API_KEY": "fake-wandb-key-Xr4LeakCheck",
}


@pytest.mark.parametrize("cluster_backend", ["chart", "kuberay"])
def test_tunes_on_the_cluster_exports_best_to_s3_and_leaves_nothing(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster, cluster_backend: str
) -> None:
    bucket = s3_server.create_bucket(f"remote-end-to-end-{cluster_backend}")
    # git-sync on, so that an SSH private key travels too (the simulator runs no init containers)
    ssh_key = tmp_path / "id_ed25519"
    ssh_key.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{FAKE_SSH_KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n")
    ssh_key.chmod(0o600)
    known_hosts = tmp_path / "known_hosts"  # git-sync checks the server's host key against it
    known_hosts.write_text(f"gitlab.com {FAKE_HOST_KEY}\ngithub.com {FAKE_HOST_KEY}\n")
    # the pods reach S3 at an endpoint of their own (an in-cluster address on a real cluster)
    pod_endpoint = s3_server.endpoint_url.replace("127.0.0.1", "localhost")
    directory = remote_experiment(tmp_path, bucket, ssh={"ssh_file": str(ssh_key), "known_hosts": str(known_hosts)},
                                  s3={"pod_endpoint_url": pod_endpoint},
                                  TuneRemote={"git_url": "git@github.com:albert.einstein/aframe.git"})
    # W&B offline: the key turns W&B logging on, the pods must send nothing anywhere
    env = {**remote_env(emulated_cluster, s3_server), **FAKE_SECRETS, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    tokens: set[str] = set()
    started = time.time()

    secret_names: set[str] = set()

    known_hosts_sent: list[tuple[str, str]] = []

    def remember_token(event) -> None:
        secret_names.add(event.name)
        if event.name.endswith("-ray-auth") and event.type == "ADDED":
            tokens.add(base64.b64decode(event.object["data"]["auth_token"]).decode())
        if event.name.endswith("-git-ssh") and event.type == "ADDED":
            known_hosts_sent.append((event.namespace, base64.b64decode(event.object["data"]["known_hosts"]).decode()))

    emulated_cluster.api.subscribe(remember_token, "secrets")
    config_maps: list[str] = []  # the experiment's files travel in one
    emulated_cluster.api.subscribe(lambda event: config_maps.append(json.dumps(event.object.get("data") or {})),
                                   "configmaps")
    specs: list[str] = []  # the workloads' specs: secrets travel in them only by reference
    for kind in ("jobs", "rayjobs") if cluster_backend == "kuberay" else ("jobs",):
        emulated_cluster.api.subscribe(lambda event: specs.append(json.dumps(event.object.get("spec") or {})), kind)
    pod_endpoints: set[str] = set()
    emulated_cluster.api.subscribe(lambda event: pod_endpoints.update(
        e["value"] for c in event.object["spec"]["containers"] for e in c.get("env") or []
        if e["name"] == "AWS_ENDPOINT_URL"), "pods")
    with ArgvSampler() as argv:
        # logs at every level must be free of secrets too
        result = run_experiment(directory, "--log-level", "DEBUG", env=env, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Search finished in" in output
    assert f"Backend {cluster_backend}:" in output  # auto picked KubeRay where the cluster has it
    # lightray's own ray.init reused the client connection instead of starting Ray here
    assert "Started a local Ray instance" not in output

    keys = s3_server.keys(bucket, "my-tune/")
    assert "my-tune/best.pt" in keys and "my-tune/best.json" in keys
    assert any(key.startswith("my-tune/tune/") for key in keys)  # the experiment lives in S3
    best = json.loads(s3_server.client().get_object(Bucket=bucket, Key="my-tune/best.json")["Body"].read())
    assert best["metric"] == "valid_auroc"
    assert "Logging the trials to W&B project aframe" in output

    # the report of a remote run, read from S3
    report = subprocess.run([str(BIN / "aframe-tune"), "report", f"s3://{bucket}/my-tune"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert report.returncode == 0, report.stderr
    assert f"Best: trial {best['trial_id']}, valid_auroc = {best['value']:.4g}" in report.stdout
    assert "my-tune/report/summary.md" in s3_server.keys(bucket, "my-tune/report/")

    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects() == []
    assert all(p.poll() is not None for p in emulated_cluster.pods.processes())
    # everything it deployed followed the platform's rules, in the kube context's namespace
    assert emulated_cluster.policy.denied == []
    assert emulated_cluster.admitted_ray_nodes() == {"head", "worker", "search"}  # KubeRay's pods passed it too
    # the search Job removed its release with its own Role, which allowed all it did
    assert re.search(r"Ray cluster aframe-tune-\w+ removed itself", output)
    assert emulated_cluster.api.forbidden == 0
    assert emulated_cluster.schema_problems == []  # and Kubernetes' own schemas (the CRD's: on create)
    assert known_hosts_sent == [(emulated_cluster.namespace, f"github.com {FAKE_HOST_KEY}\n")]
    assert pod_endpoints == {pod_endpoint}  # the only endpoint the pods have: the head wrote the search through it

    # No secret in any process's arguments, in the run's output, in the pods' output or in the
    # head's Ray logs. (Ray Tune copies AWS_* variables of its driver onto trial workers' command
    # lines; the chart gives the pods a credentials file instead.)
    assert len(tokens) == 1 and len(argv.seen) > 20
    secrets = [*FAKE_SECRETS.values(), *tokens, FAKE_SSH_KEY_BODY]
    assert any(name.endswith("-git-ssh") for name in secret_names)  # the key did travel to the cluster
    # (the simulator copies a head's Ray logs once its processes are gone)
    emulated_cluster.api.wait_for(lambda: list(emulated_cluster.pods.log_dir.glob("*-ray/raylet.out")), timeout=30)
    logs = [p for p in emulated_cluster.pods.log_dir.rglob("*") if p.is_file() and "volumes" not in p.parts]
    pod_logs = "".join(p.read_text(errors="replace") for p in logs)
    assert any("train.yaml" in data for data in config_maps)
    assert any("search_job" in spec for spec in specs)  # the search's Job or RayJob was seen
    for secret in secrets:
        assert not [data for data in config_maps if secret in data]
        assert not [spec for spec in specs if secret in spec]
        assert secret not in output
        assert secret not in pod_logs
        leaks = [line for line in argv.seen if secret in line]
        assert not leaks, [leak[max(0, leak.index(secret) - 300):leak.index(secret) + 40] for leak in leaks[:2]]
    # Files written during the run that hold a secret are private to their owner (the pods' Secret
    # volumes are the cluster's, and the key file is the user's own).
    cluster_files = emulated_cluster.pods.log_dir / "volumes"
    written = files_written_since(started, tmp_path, Path(tempfile.gettempdir()))
    assert len(written) > 10  # the scan saw the run's files
    exposed = [f"{path} ({oct(mode)})" for path, (mode, content) in written.items()
               if path != ssh_key and cluster_files not in path.parents and mode & 0o077
               and any(secret.encode() in content for secret in secrets)]
    assert not exposed, exposed


def files_written_since(started: float, *roots: Path) -> dict[Path, tuple[int, bytes]]:
    """Permission bits and content of the regular files under ``roots`` modified after
    ``started`` (symbolic links not followed; files removed meanwhile skipped)."""
    found = {}
    for root in roots:
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                try:
                    status = path.lstat()
                    if stat.S_ISREG(status.st_mode) and status.st_mtime >= started and status.st_size < 64 << 20:
                        found[path] = (status.st_mode & 0o777, path.read_bytes())
                except OSError:
                    continue
    return found


def s3_trial_states(s3_server: S3Server, bucket: str, prefix: str) -> dict[str, str]:
    """Trial statuses in the newest experiment state Tune has synced to S3."""
    client = s3_server.client()
    states = sorted(k for k in s3_server.keys(bucket, prefix) if "/experiment_state-" in k)
    if not states:
        return {}
    content = json.loads(client.get_object(Bucket=bucket, Key=states[-1])["Body"].read())
    trials = [json.loads(entry[0]) for entry in content["trial_data"]]
    return {trial["trial_id"]: trial["status"] for trial in trials}


def s3_reports(s3_server: S3Server, bucket: str, prefix: str) -> dict[str, list[int]]:
    client = s3_server.client()
    found = {}
    for key in s3_server.keys(bucket, prefix):
        if key.endswith("/result.json"):
            lines = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
            found[key.split("/")[-2]] = [json.loads(line)["training_iteration"] for line in lines if line]
    return found


def test_a_lost_head_fails_the_search_cleanly_and_run_sh_resumes_it_on_a_fresh_cluster(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    bucket = s3_server.create_bucket("remote-resume")
    directory = remote_experiment(tmp_path, bucket, epochs=3, ray_worker={"cpus_per_gpu": "1"})
    # one trial at a time; Tune syncs its state to S3 every ~10 s, in which more trials can finish,
    # so enough trials that some are always left when the head goes
    edit_yaml(directory / "tune.yaml", {"tune_config.num_samples": 4})
    env = remote_env(emulated_cluster, s3_server)
    log = tmp_path / "first.log"
    with background_run_sh(directory, log, env) as driver:
        # finished as far as S3 knows: its state and its reports synced (Tune uploads them one after
        # the other, so the state can say TERMINATED before the reports are all there)
        wait_while_running(driver, log,
                           lambda: "TERMINATED" in s3_trial_states(s3_server, bucket, "my-tune/tune/").values()
                           and any(len(r) == 3 for r in s3_reports(s3_server, bucket, "my-tune/tune/").values()),
                           300, "a first trial to finish")
        (first_release,) = helm_releases(emulated_cluster)
        (head,) = [pod["metadata"]["name"] for pod in emulated_cluster.api.list("pods")
                   if pod["metadata"]["name"].startswith(f"{first_release}-head")]
        emulated_cluster.api.delete("pods", emulated_cluster.namespace, head)
        code = driver.wait(300)
    first = log.read_text()
    assert code == 30, first[-4000:]
    assert "The search in the cluster failed: the Ray head was lost" in first, first[-4000:]
    assert f"Ray cluster {first_release} removed itself" in first
    assert "Traceback" not in first
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects() == []
    finished = {trial: iterations for trial, iterations in s3_reports(s3_server, bucket, "my-tune/tune/").items()
                if len(iterations) == 3}
    assert 1 <= len(finished) < 4, finished

    result = run_experiment(directory, env=env, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert first_release not in output  # a fresh cluster
    after = s3_reports(s3_server, bucket, "my-tune/tune/")
    assert len(after) == 4 and all(iterations[-1] == 3 for iterations in after.values())
    for trial, iterations in finished.items():
        assert after[trial] == iterations  # not trained again
    assert "my-tune/best.pt" in s3_server.keys(bucket, "my-tune/")
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects() == []


SHIPPED_CLI = '''
"""A LightningCLI that exists only in this directory, never on the pods' own PYTHONPATH."""
from aframe_tune.demo.cli import DemoCLI


class ShippedCLI(DemoCLI):
    pass
'''


def test_ship_code_sends_local_code_with_the_runtime_environment(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    code = tmp_path / "my_code"
    code.mkdir()
    (code / "shipped_cli_module.py").write_text(SHIPPED_CLI)
    bucket = s3_server.create_bucket("ship-code")
    directory = remote_experiment(tmp_path, bucket, TuneRemote={"ship_code": str(code)})
    edit_yaml(directory / "tune.yaml", {"lightning_cli_cls": "shipped_cli_module.ShippedCLI",
                                        "tune_config.num_samples": 1})
    started = time.time()
    result = run_experiment(directory, env=remote_env(emulated_cluster, s3_server), timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "my-tune/best.pt" in s3_server.keys(bucket, "my-tune/")
    # at the default level: the plan, the cluster's start, the live view made on the head and sent
    # back, the result; no HTTP requests, Ray Client warnings, or the trials' or Tune's own output
    # (known, left for the next issue: after the client disconnects, a ray.init in one of Ray's
    # threads warns once that it cannot set a SIGTERM handler)
    known = "SIGTERM handler is not set because current thread is not the main thread."
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert [line for line in result.stderr.splitlines() if line.strip() and line != known and
            "reuse_actors is true" not in line] == [], result.stderr
    assert lines[0].startswith("Tuning on Kubernetes through ") and lines[1].startswith("Deploying Ray cluster ")
    assert any(re.fullmatch(r"\S+ \| 1/1 trials done, 0 running, 0 pending \| best valid_auroc .*", line)
               for line in lines), output
    assert f"Best model: s3://{bucket}/my-tune/best.pt (its summary: s3://{bucket}/my-tune/best.json)" in lines
    assert lines[-1] == f"  aws s3 sync s3://{bucket}/my-tune/tune ./tune && tensorboard --logdir ./tune"
    noise = re.compile(r"HTTP Request|httpx|Unauthorized|dataclient|reconnect|Ray Client|\(_Tuner|\(trainable|pid=|[╭│]"
                       r"|INFO")
    assert [line for line in lines if noise.search(line)] == [], output
    # it outlived several kube credentials, which helm, kr8s and the run lock renewed
    assert time.time() - started > 2 * TOKEN_LIFETIME_S and emulated_cluster.api.tokens_issued >= 3
    # the pods could only import it from the shipped package
    assert not any("my_code" in arg for argv in emulated_cluster.pods.argv_history() for arg in argv)


def test_worker_pod_killed_mid_run_is_replaced_and_its_trial_retried(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    bucket = s3_server.create_bucket("worker-killed")
    directory = remote_experiment(tmp_path, bucket, epochs=3, ray_worker={"cpus_per_gpu": "1"})
    log = tmp_path / "driver.log"
    with background_run_sh(directory, log, remote_env(emulated_cluster, s3_server)) as driver:
        wait_while_running(driver, log, lambda: any(s3_reports(s3_server, bucket, "my-tune/tune/").values()),
                           300, "a first report")
        killed = emulated_cluster.pods.kill_pod("worker")
        code = driver.wait(600)
    output = log.read_text()
    assert code == 0, output[-6000:]
    # a search release's worker runs `ray start` in a shell script, beside its idle watch
    started = [" ".join(argv) for argv in emulated_cluster.pods.argv_history()]
    workers = [line for line in started if " start " in line and "--address=" in line and "--head" not in line]
    assert len(workers) == 2, started  # the worker Job replaced the killed pod
    assert killed not in [p["metadata"]["name"] for p in emulated_cluster.api.list("pods")]
    reports = s3_reports(s3_server, bucket, "my-tune/tune/")
    assert len(reports) == 2 and all(iterations[-1] == 3 for iterations in reports.values())
    assert "my-tune/best.pt" in s3_server.keys(bucket, "my-tune/")


def helm_releases(cluster: EmulatedCluster) -> set[str]:
    """Releases helm has records of (its Secrets, one per revision)."""
    return {s["metadata"]["labels"]["name"] for s in cluster.api.list("secrets", label_selector={"owner": "helm"})}


def search_status(s3_server: S3Server, bucket: str) -> dict | None:
    keys = s3_server.keys(bucket, "my-tune/search-status.json")
    if not keys:
        return None
    return json.loads(s3_server.client().get_object(Bucket=bucket, Key=keys[0])["Body"].read())


def test_the_search_outlives_run_sh_which_attaches_again_detaches_and_finds_it_done(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    """The laptop goes away (SIGKILL) mid-search; a second run.sh attaches to the same search and
    detaches on Ctrl-C; with no one watching, the search finishes, exports, and its release
    removes itself; a last run.sh has nothing to do."""
    bucket = s3_server.create_bucket("remote-outlives")
    # trials of several seconds, one at a time, so that the search is still running when run.sh
    # is killed and when the second one attaches
    directory = remote_experiment(tmp_path, bucket, epochs=4, ray_worker={"cpus_per_gpu": "1"})
    edit_yaml(directory / "train.yaml", {"data.num_train": 4096})
    env = remote_env(emulated_cluster, s3_server)
    installed: set[str] = set()
    emulated_cluster.api.subscribe(lambda event: installed.add(event.object["metadata"]["labels"]["name"])
                                   if (event.object["metadata"].get("labels") or {}).get("owner") == "helm" else None,
                                   "secrets")
    log = tmp_path / "first.log"
    with background_run_sh(directory, log, env) as driver:
        wait_while_running(driver, log, lambda: any(s3_reports(s3_server, bucket, "my-tune/tune/").values()),
                           300, "a first report")
        (release,) = helm_releases(emulated_cluster)
        driver.send_signal(signal.SIGKILL)  # the laptop is gone: no clean-up, no goodbye
        driver.wait(30)
    # run.sh, then the search's pod, made the search Job the owner of the release, helm's record included
    adopters = {record.user for record in emulated_cluster.api.requests(
        "PATCH", path=rf"/secrets/sh\.helm\.release\.v1\.{release}\.v1$") if record.status == 200}
    assert len(adopters) == 2 and f"system:serviceaccount:{USER_NAMESPACE}:{release}-search" in adopters, adopters

    log = tmp_path / "second.log"
    with background_run_sh(directory, log, env) as second:
        wait_while_running(second, log, lambda: "trials done" in log.read_text(), 300, "the search's progress")
        assert f"is running in the cluster (Ray cluster {release}); following it" in log.read_text()
        second.send_signal(signal.SIGINT)
        assert second.wait(60) == 130, log.read_text()[-4000:]
    output = log.read_text()
    assert f"Detached: the search goes on in the cluster (Ray cluster {release})" in output
    assert "Follow it again: bash run.sh" in output and "Traceback" not in output

    # no one watching: the search finishes and the release removes itself within a minute of the end
    ended = emulated_cluster.api.wait_for(
        lambda: (status := search_status(s3_server, bucket)) and status["state"] == "succeeded" and status, timeout=600, interval=1.0)
    emulated_cluster.api.wait_for(lambda: emulated_cluster.release_objects() == [], timeout=60, interval=0.5)
    assert time.time() - ended["updated_at"] < 60
    assert installed == {release}  # one cluster, one search
    assert "my-tune/best.pt" in s3_server.keys(bucket, "my-tune/")
    reports = s3_reports(s3_server, bucket, "my-tune/tune/")
    # never interrupted: every trial reported 1, 2, 3, 4 once
    assert sorted(reports.values()) == [[1, 2, 3, 4], [1, 2, 3, 4]], reports
    assert ended["progress"]["done"] == 2 and ended["progress"]["best_value"] is not None

    last = run_experiment(directory, env=env, timeout=300)
    assert last.returncode == 0, (last.stdout + last.stderr)[-4000:]
    assert installed == {release}  # finished: nothing deployed again


def aframe_tune_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "aframe-tune"), *args], capture_output=True, text=True, env=env, timeout=600)


def test_status_logs_and_stop_of_a_search_in_the_cluster_and_run_sh_resumes_it(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    bucket = s3_server.create_bucket("remote-stop")
    directory = remote_experiment(tmp_path, bucket, epochs=6, ray_worker={"cpus_per_gpu": "1"})
    edit_yaml(directory / "train.yaml", {"data.num_train": 4096})
    env = remote_env(emulated_cluster, s3_server)
    run_dir = f"s3://{bucket}/my-tune"
    log = tmp_path / "first.log"
    with background_run_sh(directory, log, env) as driver:
        wait_while_running(driver, log, lambda: (status := search_status(s3_server, bucket))
                           and (status.get("progress") or {}).get("best_value") is not None, 300, "a best metric")
        (release,) = helm_releases(emulated_cluster)

        status = aframe_tune_command("status", env=env)
        assert status.returncode == 0, status.stderr
        assert f"{run_dir}  (Ray cluster {release})" in status.stdout
        assert "search: running since" in status.stdout and "best valid_auroc" in status.stdout, status.stdout
        assert "head Running, ready | workers 1/1 ready" in status.stdout

        logs = aframe_tune_command("logs", run_dir, env=env)
        assert logs.returncode == 0, logs.stderr
        assert f"Submitted the search {release} to the Ray head" in logs.stdout
        assert "trials done" in logs.stdout  # the search's own progress lines

        stop = aframe_tune_command("stop", run_dir, env=env)
        assert stop.returncode == 0, stop.stderr
        assert f"Ray cluster {release} removed itself" in stop.stdout, stop.stdout
        assert driver.wait(120) == 30  # run.sh, following, reports the stopped search
    output = log.read_text()
    assert "The search in the cluster stopped" in output and "run run.sh again to resume" in output, output[-3000:]
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects() == []
    assert "No search is running" in aframe_tune_command("status", env=env).stdout
    saved = aframe_tune_command("logs", run_dir, env=env)  # the output it saved, the release gone
    assert saved.returncode == 0 and "trials done" in saved.stdout, saved.stderr
    assert f"No search for {run_dir} is running; the output of its last one:" in saved.stderr
    before = s3_reports(s3_server, bucket, "my-tune/tune/")

    again = run_experiment(directory, env=env, timeout=900)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    after = s3_reports(s3_server, bucket, "my-tune/tune/")
    # resumed: what was reported before the stop is not reported again from the start; a trial
    # goes on from its last checkpoint, so at most the epoch it was in when stopped is trained
    # again (its report may have reached S3 before its checkpoint did: seen once, in a full run)
    for trial, iterations in before.items():
        assert after[trial][:len(iterations)] == iterations, (trial, after[trial])
        resumed = after[trial][len(iterations):]
        if resumed:
            assert resumed[0] in (iterations[-1], iterations[-1] + 1), (trial, after[trial])
            assert resumed == list(range(resumed[0], resumed[0] + len(resumed))), (trial, after[trial])
    assert set(s3_trial_states(s3_server, bucket, "my-tune/tune/").values()) == {"TERMINATED"}


def test_a_partition_from_the_api_server_leaves_the_search_alone_and_run_sh_follows_on(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    """The API server is unreachable from this machine for 60 s mid-search (the pods still reach it)."""
    bucket = s3_server.create_bucket("remote-partition")
    directory = remote_experiment(tmp_path, bucket, epochs=5, ray_worker={"cpus_per_gpu": "1"})
    edit_yaml(directory / "tune.yaml", {"tune_config.num_samples": 3})
    edit_yaml(directory / "train.yaml", {"data.num_train": 4096})
    with partition(emulated_cluster.api.port) as route:
        config = yaml.safe_load(emulated_cluster.kubeconfig.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{route.port}"
        kubeconfig = tmp_path / "through-the-partition"
        kubeconfig.write_text(yaml.safe_dump(config))
        kubeconfig.chmod(0o600)
        env = {**remote_env(emulated_cluster, s3_server), "KUBECONFIG": str(kubeconfig)}
        log = tmp_path / "run.log"
        with background_run_sh(directory, log, env) as driver:
            wait_while_running(driver, log, lambda: "trials done" in log.read_text(), 300, "the search's progress")
            route.sever()
            cut_at = time.monotonic()
            before = search_status(s3_server, bucket)
            wait_while_running(driver, log, lambda: time.monotonic() - cut_at > 60, 90, "60 s of partition")
            during = search_status(s3_server, bucket)
            route.heal()
            assert driver.wait(600) == 0, log.read_text()[-4000:]
    output = log.read_text()
    assert route.refused > 0  # run.sh kept trying through the partition
    assert during["updated_at"] > before["updated_at"]  # the search went on meanwhile
    assert output.count("Lost contact with the search") == 1 and "In contact with the search again" in output
    assert "Search finished in" in output and "removed itself" in output and "Traceback" not in output
    reports = s3_reports(s3_server, bucket, "my-tune/tune/")
    assert sorted(reports.values()) == [[1, 2, 3, 4, 5]] * 3, reports  # nothing interrupted or repeated
    emulated_cluster.api.flush()
    assert emulated_cluster.release_objects() == []
