"""tune.cfg is read through law into typed luigi.Config objects."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import law
import luigi
import pytest

from aframe_tune.cli.init import main
from aframe_tune.config import check_config_file_syntax, check_quantity, data, paths, ray_head, ray_worker, ssh
from aframe_tune.errors import ConfigError
from aframe_tune.tasks import TuneTask


@pytest.fixture
def load_cfg(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Load a tune.cfg as `law run` does, and restore luigi's global config afterwards."""

    def load(path: Path) -> None:
        parser = luigi.configuration.LuigiConfigParser
        monkeypatch.setattr(parser, "_instance", None)
        monkeypatch.setattr(parser, "_config_paths", [])
        monkeypatch.setattr(law.config.Config, "_instance", None)
        law.config.Config.instance(config_file=str(path))

    yield load
    luigi.configuration.LuigiConfigParser._instance = None
    law.config.Config._instance = None


@pytest.fixture
def scaffolded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert main(["offline", "--mode", "tune", "--directory", str(tmp_path)]) == 0
    monkeypatch.setenv("AFRAME_TUNE_EXPERIMENT_DIR", str(tmp_path))
    return tmp_path


def test_scaffolded_cfg_reads_into_typed_configs(scaffolded: Path, load_cfg) -> None:
    load_cfg(scaffolded / "tune.cfg")
    assert ray_worker().replicas == 1 and isinstance(ray_worker().replicas, int)
    assert ray_worker().memory_per_gpu == 16.0
    assert ray_head().memory == "32G" and ray_head().cpus == 8
    assert ssh().ssh_file == str(Path("~/.ssh/id_rsa").expanduser())  # law expands ~
    assert data().lightning_args() == ["--data.ifos=[H1,L1]", "--data.sample_rate=512.0"]
    ray_worker().validate()
    ray_head().validate()


def test_tune_task_paths_expand_the_experiment_dir(scaffolded: Path, load_cfg) -> None:
    load_cfg(scaffolded / "tune.cfg")
    task = TuneTask()
    assert task.config_file("train_config") == scaffolded / "train.yaml"
    assert task.config_file("tune_config") == scaffolded / "tune.yaml"


def test_edited_cfg_values_win(scaffolded: Path, load_cfg) -> None:
    cfg = scaffolded / "tune.cfg"
    cfg.write_text(cfg.read_text().replace("replicas = 1", "replicas = 4"))
    load_cfg(cfg)
    assert ray_worker().replicas == 4


def test_run_dir_is_read_from_the_environment_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFRAME_TRAIN_RUN_DIR", "/first")
    assert paths().train_run_dir == "/first"
    monkeypatch.setenv("AFRAME_TRAIN_RUN_DIR", "s3://bucket/second")
    assert paths().train_run_dir == "s3://bucket/second"
    assert TuneTask(train_config="a", tune_config="b").resolved_run_dir == "s3://bucket/second"
    assert TuneTask(train_config="a", tune_config="b", run_dir="/x").resolved_run_dir == "/x"


def test_missing_run_dir_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFRAME_TRAIN_RUN_DIR", raising=False)
    with pytest.raises(ConfigError, match="set AFRAME_TRAIN_RUN_DIR"):
        TuneTask(train_config="a", tune_config="b").resolved_run_dir


def test_missing_config_file_names_the_option(tmp_path: Path) -> None:
    task = TuneTask(train_config=str(tmp_path / "nope.yaml"), tune_config="b")
    with pytest.raises(ConfigError, match=r"\[luigi_TuneTask\] train_config = .*nope.yaml: file not found"):
        task.config_file("train_config")


@pytest.mark.parametrize("good", ["32G", "32Gi", "512Mi", "1.5G", "100"])
def test_kubernetes_quantities_accepted(good: str) -> None:
    assert check_quantity(good, "ray_head", "memory") == good


@pytest.mark.parametrize("bad", ["32GB", "lots", "-1G", "1.5.2G", ""])
def test_bad_quantities_rejected_with_section_and_fix(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"\[luigi_ray_head\] memory .* such as 32G"):
        check_quantity(bad, "ray_head", "memory")


def test_zero_replicas_rejected() -> None:
    with pytest.raises(ConfigError, match=r"\[luigi_ray_worker\] replicas = 0 must be greater than zero"):
        ray_worker(replicas=0).validate()
    ray_worker(gpus_per_replica=0).validate()  # CPU-only workers are fine


@pytest.mark.parametrize(
    ("insert", "message"),
    [
        ("[luigi_extra]\nreplicas = 1\nreplicas = 2\n",
         "line {last}: option 'replicas' appears twice in section [luigi_extra]; keep one of them"),
        ("[luigi_ray_head]\ncpus = 2\n", "line {header}: section [luigi_ray_head] appears twice; merge the two"),
        ("[luigi_extra]\n= 2\n", "cannot be parsed (line {last}: '= 2')"),
    ],
    ids=["duplicate-option", "duplicate-section", "option-without-name"],
)
def test_a_cfg_law_cannot_read_is_a_config_error_naming_file_and_line(
    scaffolded: Path, insert: str, message: str
) -> None:
    path = scaffolded / "tune.cfg"
    check_config_file_syntax(path)  # the scaffolded file is fine
    path.write_text(path.read_text() + insert)
    last = len(path.read_text().splitlines())
    header = last - insert.count("\n") + 1
    with pytest.raises(ConfigError, match=re.escape(message.format(last=last, header=header))) as raised:
        check_config_file_syntax(path)
    assert str(raised.value).startswith(str(path))
    # law itself fails on the same file
    with pytest.raises(configparser.Error):
        law.config.Config(config_file=str(path))


def test_an_option_outside_any_section_or_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "tune.cfg"
    path.write_text("replicas = 2\n[luigi_ray_worker]\n")
    with pytest.raises(ConfigError, match=r"line 1: 'replicas = 2' is outside any section"):
        check_config_file_syntax(path)
    with pytest.raises(ConfigError, match=r"missing\.cfg: cannot be read .*check LAW_CONFIG_FILE"):
        check_config_file_syntax(tmp_path / "missing.cfg")


def config_problems(tmp_path: Path, text: str) -> list[str]:
    from aframe_tune.errors import InvalidInputsError
    from aframe_tune.tasks import config_sections

    path = tmp_path / "tune.cfg"
    path.write_text(text)
    try:
        config_sections().check(path)
    except InvalidInputsError as error:
        return [str(problem).removeprefix(f"{path}: ") for problem in error.problems]
    return []


def test_the_scaffolded_tune_cfg_has_no_unknown_sections_or_options(tmp_path: Path) -> None:
    assert main(["offline", "--mode", "tune", "--directory", str(tmp_path / "exp")]) == 0
    assert config_problems(tmp_path, (tmp_path / "exp" / "tune.cfg").read_text()) == []


def test_unknown_sections_options_and_unreadable_values_are_all_reported(tmp_path: Path) -> None:
    problems = config_problems(tmp_path, """
[core]
index_file = /tmp/index
[luigi_core]
rpc-retry-attempts = 5
[luigi_ray_wroker]
replicas = 2
[luigi_ray_worker]
replicas = 2.5
cpus-per-gpu = 4
gpu_per_replica = 1
[luigi_TuneRemote]
keep_cluster = maybe
""")
    assert problems == [
        "section [luigi_ray_wroker] is not one aframe-tune, law or luigi reads; did you mean [luigi_ray_worker] or "
        "[luigi_worker]?",
        "[luigi_ray_worker] replicas = 2.5 is not a whole number; write digits only, such as 2",
        "[luigi_ray_worker] has no option 'gpu_per_replica'; did you mean gpus_per_replica or replicas?",
        "[luigi_TuneRemote] keep_cluster = maybe must be true or false",
    ]


IMPLICIT_BOOLS = """
import aframe_tune.config  # first, as run.sh's entry point imports it: before law
import luigi
from aframe_tune.tasks import DispatchJobs, TuneLocal, TuneRemote, TuneTask

found = {f"{task.__name__}.{name}": param for task in (TuneRemote, TuneLocal, TuneTask, DispatchJobs)
         for name, param in task.get_params() if isinstance(param, luigi.BoolParameter)}
assert "TuneRemote.keep_cluster" in found, found
print(sorted(name for name, param in found.items() if param.parsing != luigi.BoolParameter.EXPLICIT_PARSING))
"""


def test_every_bool_parameter_parses_explicitly() -> None:
    """law makes luigi's BoolParameters parse explicitly, but only those made after it is imported.
    One made before with implicit parsing reads the command line's absent flag as false, which
    then overrides tune.cfg's true (keep_cluster = true was ignored so)."""
    result = subprocess.run([sys.executable, "-c", IMPLICIT_BOOLS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
