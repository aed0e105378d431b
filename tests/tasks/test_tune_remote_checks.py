"""TuneRemote checks everything before it creates anything: run through run.sh."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from tests.conftest import clean_environment, run_experiment
from tests.s3_server import S3Server, free_port


def point_at(directory: Path, run_dir: str) -> None:
    run_sh = directory / "run.sh"
    run_sh.write_text(run_sh.read_text().replace(
        f"export AFRAME_TRAIN_RUN_DIR={directory / 'training'}", f"export AFRAME_TRAIN_RUN_DIR={run_dir}"))


def set_cfg(directory: Path, section: str, option: str, value: str) -> None:
    path = directory / "tune.cfg"
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.optionxform = str  # keep the case of options, as law does
    cfg.read(path)
    cfg[f"luigi_{section}"][option] = value
    with path.open("w") as handle:
        cfg.write(handle)


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: gone, cluster: {{server: "http://127.0.0.1:{free_port()}"}}}}]
users: [{{name: me, user: {{token: not-a-secret}}}}]
contexts: [{{name: gone, context: {{cluster: gone, user: me, namespace: default}}}}]
current-context: gone
""")
    return path


def expect_refusal(result, message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 30, output[-3000:]
    assert message in output, output[-3000:]
    assert "Traceback" not in output
    assert "Installed Ray cluster" not in output


def test_missing_s3_credentials(experiment) -> None:
    directory = experiment()
    point_at(directory, "s3://bucket/run")
    expect_refusal(run_experiment(directory, timeout=120), "AWS_ACCESS_KEY_ID is not set")


def test_missing_bucket(experiment, s3_server: S3Server) -> None:
    directory = experiment()
    point_at(directory, "s3://no-such-bucket/run")
    result = run_experiment(directory, env=clean_environment(**s3_server.environment()), timeout=120)
    expect_refusal(result, "bucket 'no-such-bucket' does not exist")


@pytest.mark.parametrize(("key", "message"), [
    (None, "[luigi_ssh] ssh_file = {path}: no such file"),
    ("ssh-ed25519 AAAAC3Nza... me@laptop\n", "is not a private key"),
])
def test_git_sync_needs_a_private_key(experiment, s3_server: S3Server, tmp_path: Path,
                                      key: str | None, message: str) -> None:
    directory = experiment()
    bucket = s3_server.create_bucket("ssh-key-checks")
    point_at(directory, f"s3://{bucket}/run")
    key_file = tmp_path / "id_ed25519.pub"
    if key is not None:
        key_file.write_text(key)
    set_cfg(directory, "ssh", "ssh_file", str(key_file))
    set_cfg(directory, "TuneRemote", "git_url", "git@github.com:albert.einstein/aframe.git")
    result = run_experiment(directory, env=clean_environment(**s3_server.environment()), timeout=120)
    expect_refusal(result, message.format(path=key_file))
    assert s3_server.keys(bucket) == []


def test_unreachable_kube_context(experiment, s3_server: S3Server, tmp_path: Path) -> None:
    directory = experiment()
    bucket = s3_server.create_bucket("kube-context-check")
    point_at(directory, f"s3://{bucket}/run")
    env = clean_environment(**s3_server.environment(), KUBECONFIG=str(unreachable_kubeconfig(tmp_path)))
    result = run_experiment(directory, env=env, timeout=120)
    expect_refusal(result, "cannot reach the API server")
    assert s3_server.keys(bucket) == []


def test_a_remote_search_starts_a_process_per_trial(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from aframe_tune.tasks.remote import remote_tune_overrides
    from aframe_tune.tune.spec import TuneSpec

    spec = TuneSpec(tmp_path / "tune.yaml", "valid_auroc", "max", "tune", 2, "aframe_tune.demo.cli.DemoCLI",
                    reuse_actors=True)
    assert remote_tune_overrides(spec) == ("--tune_config.reuse_actors=false",)
    assert "a trial whose pod is lost is retried on another one" in caplog.text
    assert remote_tune_overrides(TuneSpec(**{**spec.__dict__, "reuse_actors": False})) == ()


@pytest.mark.parametrize(("gpus_per_trial", "cpus_per_trial", "worker_gpus", "worker_cpus", "unused"), [
    (0, 1, 0, 8, 0),      # CPU-only trials on CPU-only workers
    (0, 1, 1, 8, 1),      # CPU-only trials on GPU workers: every GPU idle
    (1, 1, 4, 32, 0),     # four trials a worker, a GPU each
    (0.5, 1, 1, 8, 0),    # two trials share the GPU
    (0.3, 1, 1, 8, 0),    # three trials share it (0.9 of it)
    (1, 8, 4, 16, 2),     # the CPUs fit two trials: two GPUs idle
    (0.25, 4, 2, 8, 1),   # the CPUs fit two trials, which share one GPU: the other idle
])
def test_the_gpus_a_worker_holds_that_no_trial_would_use_are_counted(
    tmp_path: Path, gpus_per_trial: float, cpus_per_trial: float, worker_gpus: int, worker_cpus: int, unused: int
) -> None:
    from aframe_tune.cluster.values import WorkerResources
    from aframe_tune.tasks.remote import unused_gpus_per_worker
    from aframe_tune.tune.spec import TuneSpec

    spec = TuneSpec(tmp_path / "tune.yaml", "valid_auroc", "max", "tune", 2, cpus_per_trial=cpus_per_trial,
                    gpus_per_trial=gpus_per_trial)
    worker = WorkerResources(replicas=1, gpus=worker_gpus, cpus=worker_cpus, memory="16Gi", min_gpu_memory=0)
    assert unused_gpus_per_worker(spec, worker) == unused


def test_worker_gpus_that_no_trial_uses_are_refused_with_the_fix(tmp_path: Path) -> None:
    from aframe_tune.cluster.values import WorkerResources
    from aframe_tune.errors import ConfigError
    from aframe_tune.tasks.remote import check_trials_fit_the_workers
    from aframe_tune.tune.spec import TuneSpec

    worker = WorkerResources(replicas=1, gpus=4, cpus=16, memory="64Gi", min_gpu_memory=0)
    cpu_trials = TuneSpec(tmp_path / "tune.yaml", "valid_auroc", "max", "tune", 2, gpus_per_trial=0)
    with pytest.raises(ConfigError, match=r"each worker pod holds 4 GPUs .* but no trial asks for one, so 4 would sit "
                                          r"idle .*set gpus_per_trial .* or gpus_per_replica = 0"):
        check_trials_fit_the_workers(cpu_trials, worker)
    cpu_bound = TuneSpec(tmp_path / "tune.yaml", "valid_auroc", "max", "tune", 2, cpus_per_trial=8, gpus_per_trial=1)
    with pytest.raises(ConfigError, match=r"the 2 trials its 16 CPUs fit \(cpus_per_trial = 8\) use 2, so 2 would sit "
                                          r"idle .*lower cpus_per_trial, raise cpus_per_gpu, or lower gpus_per_replica"):
        check_trials_fit_the_workers(cpu_bound, worker)
    check_trials_fit_the_workers(TuneSpec(tmp_path / "tune.yaml", "valid_auroc", "max", "tune", 2, cpus_per_trial=4,
                                          gpus_per_trial=1), worker)
