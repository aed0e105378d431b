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
