"""The search aframe-tune runs with lightray's parser and trainable: fractions of a CPU or GPU per
trial (lightray 0.2.5 reads whole numbers only) and the configuration each trial starts from."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.handoff import parse_search, trial_config
from aframe_tune.tune.lightray_config import (
    check_with_lightray,
    has_float_resources,
    readable_by_lightray,
    with_whole_number_resources,
)

TEMPLATES = Path(__file__).parents[2] / "configs" / "tune"
COMMAND_TEMPLATES = TEMPLATES.parent / "command"
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


def test_lightray_reads_a_private_copy_only_when_it_must(tmp_path: Path) -> None:
    fractional = tmp_path / "tune.yaml"
    fractional.write_text(TUNE_YAML)
    with readable_by_lightray(fractional) as copy:
        assert copy != fractional and copy.name == "tune.yaml"
        assert yaml.safe_load(copy.read_text())["gpus_per_trial"] == 1
        assert copy.parent.stat().st_mode & 0o077 == 0
    assert not copy.exists()
    whole = tmp_path / "whole.yaml"
    whole.write_text("cpus_per_trial: 1\ngpus_per_trial: 1\n")
    with readable_by_lightray(whole) as path:
        assert path == whole


def fractional_template(tmp_path: Path) -> Path:
    content = yaml.safe_load((TEMPLATES / "tune.yaml").read_text())
    content.update(gpus_per_trial=0.25, cpus_per_trial=0.5)
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_the_checks_accept_fractional_resources(tmp_path: Path) -> None:
    check_with_lightray(fractional_template(tmp_path))  # raises ConfigError if lightray's parser refuses it


def test_each_trial_starts_from_train_yaml_with_the_reporting_callback_first(tmp_path: Path) -> None:
    arguments = LightrayArguments(fractional_template(tmp_path), TEMPLATES / "train.yaml", str(tmp_path / "run"),
                                  train_overrides=("--data.sample_rate=256",), cpus_per_trial=0.5,
                                  gpus_per_trial=0.25)
    parsed = parse_search(arguments)
    assert parsed.run_config.storage_path == str(tmp_path / "run")
    config = yaml.safe_load(trial_config(parsed.lightning_cli_cls, parsed.lightning_args, parsed.tune_callback))
    assert config["data"]["sample_rate"] == 256.0
    first = config["trainer"]["callbacks"][0]
    assert first["class_path"] == "lightray.callbacks.LightRayReportCheckpointCallback"
    # linked by lightray's parser from the checkpoint settings
    assert first["init_args"]["metric"] == "valid_auroc" and first["init_args"]["mode"] == "max"


@pytest.mark.parametrize("template", ["tune", "command"])
def test_the_search_gets_ray_tunes_own_config_classes_without_a_deprecation_warning(tmp_path: Path,
                                                                                   template: str) -> None:
    import warnings

    from ray import tune

    from aframe_tune.tune.lightray_config import instantiate_search

    folder, train = TEMPLATES if template == "tune" else COMMAND_TEMPLATES, TEMPLATES / "train.yaml"
    text = (folder / "tune.yaml").read_text()
    assert "class_path: ray.tune.CheckpointConfig" in text
    for old_style in (False, True):  # experiments scaffolded earlier name ray.air's CheckpointConfig
        path = tmp_path / f"tune-{old_style}.yaml"
        path.write_text(text.replace("ray.tune.CheckpointConfig", "ray.air.config.CheckpointConfig") if old_style
                        else text)
        check_with_lightray(path)
        arguments = LightrayArguments(path, train if template == "tune" else None, str(tmp_path))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            search = instantiate_search(parse_search(arguments), arguments.trainable)
        assert [str(w.message) for w in caught if "deprecat" in str(w.message).lower()] == []
        assert type(search.run_config) is tune.RunConfig
        assert type(search.run_config.checkpoint_config) is tune.CheckpointConfig
        assert type(search.run_config.failure_config) is tune.FailureConfig
        assert search.run_config.checkpoint_config.num_to_keep == 2
        assert search.run_config.checkpoint_config.checkpoint_score_attribute == \
            ("valid_auroc" if template == "tune" else "valid/accuracy")
        assert search.run_config.failure_config.max_failures == 1
