"""tune.yaml's command trainable: its keys read and checked, every problem at once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from aframe_tune.errors import InvalidInputsError
from aframe_tune.tune.command_spec import MetricSourceKind, TrainableKind, fill, placeholders
from aframe_tune.tune.lightray_config import without_command_keys
from aframe_tune.tune.spec import load_tune_spec

COMMAND = {
    "trainable": "command",
    "trial_command": ["{python}", "train.py", "--lr={lr}", "--hidden={hidden}", "--logdir={trial_dir}"],
    "trial_metrics": {"source": "tensorboard", "path": "{trial_dir}"},
    "stall_timeout": 60,
    "repeat": 2,
    "param_space": {"lr": "tune.loguniform(1e-4, 1e-1)", "hidden": "tune.choice([16, 32])"},
    "tune_config": {"metric": "valid/loss", "mode": "min", "num_samples": 4},
    "run_config": {"name": "cmd"},
}


def write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_a_command_s_keys_are_read_and_it_needs_no_lightning_class(tmp_path: Path) -> None:
    spec = load_tune_spec(write(tmp_path, COMMAND))
    assert spec.trainable is TrainableKind.COMMAND and spec.runs_a_command and spec.lightning_cli_cls == ""
    command = spec.command
    assert command is not None and command.repeat == 2 and command.stall_timeout_s == 60
    assert command.metrics.kind is MetricSourceKind.TENSORBOARD
    argv = command.command_for({"python": sys.executable, "lr": 0.01, "hidden": 16, "trial_dir": "/t"})
    assert argv == [sys.executable, "train.py", "--lr=0.01", "--hidden=16", "--logdir=/t"]


def test_defaults_and_literal_braces() -> None:
    assert placeholders("--x={a}-{{b}}-{c}") == ["a", "c"]
    assert fill("--json={{\"lr\": {lr}}}", {"lr": 0.1}) == '--json={"lr": 0.1}'


def test_every_problem_of_a_command_is_reported_at_once(tmp_path: Path) -> None:
    broken = {**COMMAND, "trial_command": ["no-such-program-xyz", "--lr={lr}", "--out={trail_dir}"],
              "trial_metrics": {"source": "stdout"}, "stall_timeout": 0, "repeat": 1.5}
    with pytest.raises(InvalidInputsError) as raised:
        load_tune_spec(write(tmp_path, broken))
    text = str(raised.value)
    assert "unknown placeholders {trail_dir}; did you mean trial_dir?" in text
    assert "param_space hidden is not used in trial_command" in text
    assert "trial_command's program 'no-such-program-xyz' is not found" in text
    assert "trial_metrics.source is 'stdout'" in text
    assert "stall_timeout = 0 must be a number of seconds above 0" in text
    assert "repeat = 1.5 must be a whole number of at least 1" in text
    assert len(raised.value.problems) == 6


def test_command_keys_without_trainable_command_and_a_wrong_trainable_are_named(tmp_path: Path) -> None:
    stray = {key: value for key, value in COMMAND.items() if key != "trainable"}
    with pytest.raises(InvalidInputsError, match="trial_command, trial_metrics, stall_timeout, repeat are for a "
                                                  "command, but trainable is lightning"):
        load_tune_spec(write(tmp_path, {**stray, "lightning_cli_cls": "x.Y"}))
    with pytest.raises(InvalidInputsError, match="trainable is 'script'; it must be lightning"):
        load_tune_spec(write(tmp_path, {**COMMAND, "trainable": "script"}))
    with pytest.raises(InvalidInputsError, match="trial_command must be a list"):
        load_tune_spec(write(tmp_path, {**COMMAND, "trial_command": "python train.py"}))


def test_lightray_is_shown_tune_yaml_without_the_command_s_keys(tmp_path: Path) -> None:
    text = yaml.safe_dump(COMMAND)
    assert set(yaml.safe_load(without_command_keys(text))) == {"param_space", "tune_config", "run_config"}
    lightning = "# a comment\nlightning_cli_cls: x.Y\n"
    assert without_command_keys(lightning) == lightning


def test_a_model_s_keys_in_a_command_s_tune_yaml_are_named(tmp_path: Path) -> None:
    model = {"lightning_cli_cls": "x.Y", "tune_callback": {"class_path": "ray.tune.integration.pytorch_lightning"}}
    with pytest.raises(InvalidInputsError, match="tune_callback, lightning_cli_cls are for a LightningCLI model, "
                                                  "but trainable is command; remove them"):
        load_tune_spec(write(tmp_path, {**COMMAND, **model}))
