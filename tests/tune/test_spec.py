"""Reading the parts of tune.yaml that aframe-tune acts on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aframe_tune.errors import ConfigError
from aframe_tune.scaffold import template_directory
from aframe_tune.tune.spec import load_tune_spec

TEMPLATE = template_directory("tune") / "tune.yaml"


def write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


def test_template_spec() -> None:
    spec = load_tune_spec(TEMPLATE)
    assert (spec.metric, spec.mode, spec.experiment_name) == ("valid_auroc", "max", "tune")
    assert spec.num_samples == 8
    assert spec.import_cli_class().__name__ == "DemoCLI"
    assert spec.param_space == {"model.learning_rate": "tune.loguniform(0.0001, 0.1)",
                                "data.kernel_length": "tune.choice([1.0, 2.0])"}
    assert spec.lightray_overrides() == (
        '--param_space={"model.learning_rate": "tune.loguniform(0.0001, 0.1)", '
        '"data.kernel_length": "tune.choice([1.0, 2.0])"}',
    )


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ("tune_config", "metric", "tune_config.metric is not set"),
        ("tune_config", "mode", "tune_config.mode is not set"),
        ("run_config", "name", "run_config.name is not set"),
        (None, "lightning_cli_cls", "lightning_cli_cls is not set"),
    ],
)
def test_missing_keys_are_named(tmp_path: Path, section: str | None, key: str, message: str) -> None:
    content = template()
    del (content[section] if section else content)[key]
    with pytest.raises(ConfigError, match=message):
        load_tune_spec(write(tmp_path, content))


def test_bad_mode(tmp_path: Path) -> None:
    content = template()
    content["tune_config"]["mode"] = "maximum"
    with pytest.raises(ConfigError, match="'maximum'; it must be min or max"):
        load_tune_spec(write(tmp_path, content))


def test_unimportable_cli_class(tmp_path: Path) -> None:
    content = template()
    content["lightning_cli_cls"] = "my_project.cli.NoSuchCLI"
    spec = load_tune_spec(write(tmp_path, content))
    with pytest.raises(ConfigError, match="lightning_cli_cls 'my_project.cli.NoSuchCLI' cannot be imported"):
        spec.import_cli_class()


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tune.yaml"
    path.write_text("tune_config:\n  metric: [unclosed\n")
    with pytest.raises(ConfigError, match=r"tune.yaml \(line \d+\): not valid YAML"):
        load_tune_spec(path)
