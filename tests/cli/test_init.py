"""aframe-init: what it writes, what it refuses, and that a refusal writes nothing."""

from __future__ import annotations

import configparser
import os
import stat
from pathlib import Path

import pytest
import yaml

from aframe_tune.cli.init import main
from tests.conftest import aframe_init

FILES = {"tune.cfg", "tune.yaml", "train.yaml", "run.sh"}


def test_console_script_writes_the_four_files(tmp_path: Path) -> None:
    directory = tmp_path / "my-first-tune"
    result = aframe_init("offline", "--mode", "tune", "--directory", str(directory))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in directory.iterdir()} == FILES
    assert os.stat(directory / "run.sh").st_mode & stat.S_IXUSR
    assert f"bash {directory / 'run.sh'}" in result.stdout


def test_run_sh_exports_the_local_run_dir_and_law_config(tmp_path: Path) -> None:
    assert main(["offline", "--mode", "tune", "--directory", str(tmp_path / "exp")]) == 0
    run_sh = (tmp_path / "exp" / "run.sh").read_text()
    assert f"export AFRAME_TRAIN_RUN_DIR={tmp_path / 'exp' / 'training'}\n" in run_sh
    assert 'export LAW_CONFIG_FILE="$AFRAME_TUNE_EXPERIMENT_DIR/tune.cfg"' in run_sh
    assert 'exec "$PYTHON" -m aframe_tune.cli.run "$@"' in run_sh


def test_s3_bucket_becomes_the_run_dir(tmp_path: Path) -> None:
    directory = tmp_path / "remote"
    assert main(["offline", "--mode", "tune", "--directory", str(directory),
                 "--s3-bucket", "s3://my-bucket/tunes/first/"]) == 0
    assert "export AFRAME_TRAIN_RUN_DIR=s3://my-bucket/tunes/first\n" in (directory / "run.sh").read_text()
    # the worker pods hold a GPU each (tune.cfg): the trials train on it, where locally on the CPU
    tune, train = (yaml.safe_load((directory / name).read_text()) for name in ("tune.yaml", "train.yaml"))
    assert (tune["gpus_per_trial"], train["trainer"]["accelerator"]) == (1, "gpu")
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(directory / "tune.cfg")
    assert cfg["luigi_ray_worker"]["gpus_per_replica"] == "1"
    assert main(["offline", "--mode", "tune", "--directory", str(tmp_path / "local")]) == 0
    tune, train = (yaml.safe_load((tmp_path / "local" / name).read_text()) for name in ("tune.yaml", "train.yaml"))
    assert (tune["gpus_per_trial"], train["trainer"]["accelerator"]) == (0, "cpu")


def test_templates_are_valid_and_documented(tmp_path: Path) -> None:
    assert main(["offline", "--mode", "tune", "--directory", str(tmp_path)]) == 0
    tune = yaml.safe_load((tmp_path / "tune.yaml").read_text())
    assert {"tune_config", "run_config", "param_space", "tune_callback", "cpus_per_trial",
            "gpus_per_trial", "lightning_cli_cls"} <= set(tune)
    assert set(tune["param_space"]) == {"model.learning_rate", "data.kernel_length"}
    train = yaml.safe_load((tmp_path / "train.yaml").read_text())
    assert {"trainer", "model", "data"} <= set(train)

    cfg = configparser.ConfigParser()
    cfg.read(tmp_path / "tune.cfg")
    for section in ("luigi_core", "luigi_TuneTask", "luigi_ray_head", "luigi_ray_worker",
                    "luigi_ssh", "luigi_TuneRemote"):
        assert cfg.has_section(section), section
    assert {"replicas", "gpus_per_replica", "cpus_per_gpu", "memory_per_gpu",
            "min_gpu_memory"} <= set(cfg["luigi_ray_worker"])
    # every option, set or commented out, is preceded by a comment that ends with its default
    lines = (tmp_path / "tune.cfg").read_text().splitlines()
    for number, line in enumerate(lines):
        option = line.lstrip("# ")
        if "=" in option and not line.startswith("[") and "default" not in line:
            comments = [l for l in lines[max(0, number - 4):number] if l.startswith("#")]
            assert any("default:" in c for c in comments), f"undocumented option: {line}"


def test_existing_experiment_is_not_clobbered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["offline", "--mode", "tune", "--directory", str(tmp_path)]) == 0
    (tmp_path / "train.yaml").write_text("edited: true\n")
    assert main(["offline", "--mode", "tune", "--directory", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "will not overwrite" in error and "--force" in error
    assert (tmp_path / "train.yaml").read_text() == "edited: true\n"

    assert main(["offline", "--mode", "tune", "--directory", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "train.yaml").read_text() != "edited: true\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["offline", "--mode", "train"], "invalid choice: 'train'"),
        (["online", "--mode", "tune"], "invalid choice: 'online'"),
        (["offline", "--mode", "tune", "--s3-bucket", "my-bucket/x"], "must start with s3://"),
        (["offline", "--mode", "tune", "--s3-bucket", "s3:///prefix"], "no valid bucket name"),
        (["offline", "--mode", "tune", "--s3-bucket", "s3://Bad_Bucket"], "no valid bucket name"),
    ],
)
def test_bad_arguments_fail_in_one_line_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    directory = tmp_path / "exp"
    result = aframe_init(*args, "--directory", str(directory))
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not directory.exists()


def test_unwritable_directory_is_refused() -> None:
    # /proc refuses new directories even to root, who may write anywhere else.
    target = Path("/proc/aframe-tune-test/exp")
    result = aframe_init("offline", "--mode", "tune", "--directory", str(target))
    assert result.returncode == 1 and "cannot write" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.parent.exists()


def test_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = aframe_init("offline", "--mode", "tune", "--directory", str(target / "exp"))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert target.read_text() == "x"


def test_trainable_command_writes_an_example_command_and_its_search(tmp_path: Path) -> None:
    directory = tmp_path / "command"
    result = aframe_init("offline", "--mode", "tune", "--trainable", "command", "--directory", str(directory))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in directory.iterdir()} == {"tune.cfg", "tune.yaml", "train.py", "run.sh"}
    assert f"Edit tune.yaml and train.py there, then run:  bash {directory / 'run.sh'}" in result.stdout
    tune = yaml.safe_load((directory / "tune.yaml").read_text())
    assert tune["trainable"] == "command" and "lightning_cli_cls" not in tune
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(directory / "tune.cfg")
    assert "train_config" not in cfg["luigi_TuneTask"]
    # on Kubernetes, train.py goes along (ship_code), to CPU-only workers as its trials ask for no GPU
    assert cfg["luigi_TuneRemote"]["ship_code"] == "$AFRAME_TUNE_EXPERIMENT_DIR"
    assert cfg["luigi_ray_worker"]["gpus_per_replica"] == "0" and tune["gpus_per_trial"] == 0
