"""Search presets: what ``aframe-init --search`` writes into tune.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aframe_tune.errors import ScaffoldError
from aframe_tune.presets import PRESETS, render_tune_yaml
from aframe_tune.scaffold import template_directory

TEMPLATES = template_directory("tune")
TEMPLATE = (TEMPLATES / "tune.yaml").read_text()


def rendered(name: str) -> dict:
    return yaml.safe_load(render_tune_yaml(TEMPLATE, PRESETS[name], TEMPLATES))


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_renders_a_tune_yaml_without_markers(name: str) -> None:
    text = render_tune_yaml(TEMPLATE, PRESETS[name], TEMPLATES)
    assert "# @" not in text
    content = yaml.safe_load(text)
    # everything outside the preset's blocks is the template's
    template = yaml.safe_load(TEMPLATE)
    for key in ("metric", "mode", "num_samples", "reuse_actors"):
        assert content["tune_config"][key] == template["tune_config"][key]
    assert content["lightning_cli_cls"] == template["lightning_cli_cls"]
    assert f'preset "{name}"' in text


def test_the_default_preset_is_the_template_as_written() -> None:
    assert rendered("asha") == yaml.safe_load(TEMPLATE)


def test_presets_set_their_search_algorithm_scheduler_and_space() -> None:
    assert rendered("random")["tune_config"]["scheduler"] is None
    assert rendered("optuna")["tune_config"]["search_alg"]["class_path"] == "ray.tune.search.optuna.OptunaSearch"
    assert rendered("hyperopt")["tune_config"]["search_alg"]["init_args"]["n_initial_points"] <= 8
    bayesopt = rendered("bayesopt")
    assert all(value.startswith("tune.uniform(") for value in bayesopt["param_space"].values())
    pbt = rendered("pbt")
    assert set(pbt["tune_config"]["scheduler"]["init_args"]["hyperparam_mutations"]) <= set(pbt["param_space"])
    assert pbt["run_config"]["checkpoint_config"]["init_args"]["num_to_keep"] is None


def test_a_template_without_its_markers_is_refused() -> None:
    with pytest.raises(ScaffoldError, match="# @search"):
        render_tune_yaml("tune_config: {}\n", PRESETS["optuna"], TEMPLATES)


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_passes_the_search_checks(tmp_path: Path, name: str) -> None:
    from aframe_tune.tune.lightray_config import check_search_libraries, check_search_space, check_with_lightray
    from aframe_tune.tune.spec import load_tune_spec

    path = tmp_path / "tune.yaml"
    path.write_text(render_tune_yaml(TEMPLATE, PRESETS[name], TEMPLATES))
    spec = load_tune_spec(path)
    check_with_lightray(path, {"param_space": spec.param_space})
    check_search_libraries(path)
    check_search_space(path, spec)


COMMAND_TEMPLATES = template_directory("command")


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_fits_the_command_template_and_passes_its_checks(tmp_path: Path, name: str) -> None:
    """The command template shares the model template's preset blocks, with a search space and
    checkpoints of its own where a preset names the model's (bayesopt, pbt)."""
    from aframe_tune.tune.lightray_config import check_search_libraries, check_search_space, check_with_lightray
    from aframe_tune.tune.spec import load_tune_spec

    path = tmp_path / "tune.yaml"
    path.write_text(render_tune_yaml((COMMAND_TEMPLATES / "tune.yaml").read_text(), PRESETS[name], COMMAND_TEMPLATES))
    (tmp_path / "train.py").write_text("")
    spec = load_tune_spec(path)
    assert spec.runs_a_command and f'preset "{name}"' in path.read_text()
    check_with_lightray(path, {"param_space": spec.param_space})
    check_search_libraries(path)
    check_search_space(path, spec)
