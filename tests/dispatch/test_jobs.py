"""jobs.yaml read and checked before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aframe_tune.dispatch.jobs import PYTHON, load_jobs, parse_memory
from aframe_tune.errors import ConfigError, InvalidInputsError


def write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_a_plan_of_the_three_kinds(tmp_path: Path) -> None:
    (tmp_path / "train.yaml").write_text("trainer: {}\n")
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "run.sh").write_text("")
    plan = load_jobs(write(tmp_path, {"mode": "sequential", "jobs": [
        {"name": "fit", "train": "train.yaml", "overrides": {"model.width": 8}, "gpus": 0.5, "memory": "2Gi"},
        {"name": "search", "tune": "search", "cpus": 2},
        {"name": "script", "command": ["python", "evaluate.py", 3], "env": {"SEED": 1}},
    ]}))
    assert plan.mode == "sequential" and plan.ray_address is None
    assert plan.log_dir == tmp_path / "jobs-logs"
    fit, search, script = plan.jobs
    assert fit.argv == (PYTHON, "-m", "aframe_tune.dispatch.train", "aframe_tune.demo.cli.DemoCLI", "fit",
                        "--config", str(tmp_path / "train.yaml"), "--model.width=8")
    assert (fit.resources.cpus, fit.resources.gpus, fit.resources.memory_bytes) == (1, 0.5, 2 * 2**30)
    assert search.argv == ("bash", str(tmp_path / "search" / "run.sh")) and search.resources.cpus == 2
    assert script.argv == ("python", "evaluate.py", "3") and script.env == (("SEED", "1"),)


@pytest.mark.parametrize("text, expected", [("4Gi", 4 * 2**30), ("512MiB", 512 * 2**20), ("2G", 2 * 10**9),
                                            ("1.5Gi", int(1.5 * 2**30)), (1024, 1024)])
def test_memory_amounts(text, expected) -> None:
    assert parse_memory(text, "m") == expected


def test_every_mistake_is_reported_at_once_naming_the_job_and_key(tmp_path: Path) -> None:
    (tmp_path / "not-an-experiment").mkdir()
    path = write(tmp_path, {"mode": "both", "job": [], "jobs": [
        {"name": "a", "train": "missing.yaml"},
        {"name": "b", "tune": "not-an-experiment"},
        {"name": "c", "command": ["true"], "train": "x.yaml"},
        {"name": "d e", "command": ["true"]},
        {"name": "f", "command": ["true"], "cpus": 0, "gpus": -1},
        {"name": "g", "command": ["true"], "memory": "lots"},
        {"name": "h", "command": ["true"], "gpu": 1},
        {"name": "i", "command": ["true"]},
        {"name": "i", "command": ["true"]},
    ]})
    with pytest.raises(InvalidInputsError) as raised:
        load_jobs(path)
    lines = [str(problem) for problem in raised.value.problems]
    expected = [
        f"{path}: unknown keys job; jobs.yaml takes cluster, clusters, jobs, log_dir, mode, ray_address",
        f"{path}: mode = 'both' must be parallel or sequential",
        f"{path}: job 'a'.train = missing.yaml: {tmp_path / 'missing.yaml'} does not exist; give a LightningCLI config (a train.yaml)",
        f"{path}: job 'b'.tune = not-an-experiment: {tmp_path / 'not-an-experiment'} holds no run.sh; give the directory of an experiment made with aframe-init",
        f"{path}: job 'c' must have exactly one of train (a train.yaml), tune (an experiment directory) or command (a list of arguments); it has train, command",
        f"{path}: job 'd e': name 'd e' must be 1-63 letters, digits, '.', '_' or '-' (it names the job's log file)",
        f"{path}: job 'f'.cpus = 0 must be a number, more than 0",
        f"{path}: job 'g'.memory = 'lots' is not an amount of memory; write e.g. 4Gi or 512Mi",
        f"{path}: job 'h' has unknown keys gpu; did you mean gpus? (a job takes cli, command, cpus, env, gpus, memory, name, overrides, train, tune)",
        f"{path}: job name 'i' is used more than once; names must be unique",
    ]
    assert lines == expected


def test_a_file_without_jobs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="jobs must be a list of one or more jobs"):
        load_jobs(write(tmp_path, {"mode": "parallel"}))
