"""Fractions of a CPU or GPU per trial, through lightray 0.2.5, which reads whole numbers only."""

from __future__ import annotations

from pathlib import Path

import lightray.utils
import yaml

from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.handoff import readable_by_lightray, trial_resources
from aframe_tune.tune.lightray_config import check_with_lightray, has_float_resources, with_whole_number_resources

TUNE_YAML = """\
# resources each trial asks for
cpus_per_trial: 1   # a whole CPU
gpus_per_trial: 0.25  # four trials share a GPU
param_space:
  model.learning_rate: tune.loguniform(1e-4, 1e-1)
"""


def test_only_the_resource_values_are_rounded_up() -> None:
    assert with_whole_number_resources(TUNE_YAML) == TUNE_YAML.replace("0.25  #", "1  #")
    assert with_whole_number_resources("gpus_per_trial: 1.0\ncpus_per_trial: 0.5\n") == \
        "gpus_per_trial: 1\ncpus_per_trial: 1\n"
    assert has_float_resources(TUNE_YAML) and has_float_resources("cpus_per_trial: 2.0\n")
    assert not has_float_resources("cpus_per_trial: 2\ngpus_per_trial: 0\nnested:\n  gpus_per_trial: 0.5\n")


def arguments(tune_yaml: Path) -> LightrayArguments:
    return LightrayArguments(tune_yaml, Path("train.yaml"), "/e/training", cpus_per_trial=1, gpus_per_trial=0.25)


def test_lightray_reads_a_copy_only_when_it_must(tmp_path: Path) -> None:
    fractional = tmp_path / "tune.yaml"
    fractional.write_text(TUNE_YAML)
    with readable_by_lightray(arguments(fractional)) as readable:
        copy = readable.tune_config
        assert copy != fractional and copy.name == "tune.yaml"
        assert yaml.safe_load(copy.read_text())["gpus_per_trial"] == 1
        assert copy.parent.stat().st_mode & 0o077 == 0  # a private folder
    assert not copy.exists()
    whole = tmp_path / "whole.yaml"
    whole.write_text("cpus_per_trial: 1\ngpus_per_trial: 1\n")
    with readable_by_lightray(arguments(whole)) as readable:
        assert readable.tune_config == whole


def test_trials_get_the_fraction_and_lightray_is_restored_afterwards() -> None:
    original = lightray.utils.get_trainable
    with trial_resources(1, 0.25):
        trainable = lightray.utils.get_trainable("/e/training", object, "", 1, 1)
    assert lightray.utils.get_trainable is original
    request = trainable._resources.required_resources
    assert request == {"CPU": 1, "GPU": 0.25}
    # without the replacement, lightray asks for what its whole-number options say
    assert original("/e/training", object, "", 1, 1)._resources.required_resources == {"CPU": 1, "GPU": 1}


def test_the_checks_accept_fractional_resources(tmp_path: Path) -> None:
    content = yaml.safe_load((Path(__file__).parents[2] / "configs" / "tune" / "tune.yaml").read_text())
    content.update(gpus_per_trial=0.25, cpus_per_trial=0.5)
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(content))
    check_with_lightray(path)  # raises ConfigError if lightray's parser refuses it
