"""tune.yaml's parser: lightray's arguments for a model's search, and for a command's the same but
the model's two, so that a command's search never imports Lightning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightray.utils
import numpy as np
import pytest
import yaml
from jsonargparse import capture_parser
from lightray.cli import cli

from aframe_tune.tune.lightray_config import as_lightray_reads

from aframe_tune.presets import PRESETS, render_tune_yaml
from aframe_tune.scaffold import template_directory
from aframe_tune.tune.command_spec import TrainableKind
from aframe_tune.tune.param_space import normalize_param_space, tune_domains
from aframe_tune.tune.search_parser import MODEL_ONLY_ARGUMENTS, search_parser

CONFIGS = Path(__file__).parents[2] / "configs"


def arguments(parser) -> dict[str, str]:
    """Each argument's destination, with its type as jsonargparse reads values for it."""
    return {action.dest: repr(getattr(action, "_typehint", type(action))) for action in parser._actions
            # help and shell-completion actions (--print_shtab, added once shtab is imported) read no config
            if not action.dest.endswith(".help") and not action.dest.startswith("print_")}


def test_a_model_s_parser_has_lightray_s_arguments_and_a_command_s_all_but_the_model_s() -> None:
    lightray = arguments(capture_parser(cli))
    model_only = {dest for dest in lightray if dest.split(".")[0] in MODEL_ONLY_ARGUMENTS}
    assert model_only and {dest.split(".")[0] for dest in model_only} == set(MODEL_ONLY_ARGUMENTS)
    assert arguments(search_parser(TrainableKind.LIGHTNING)) == lightray
    assert arguments(search_parser(TrainableKind.COMMAND)) == {
        dest: kind for dest, kind in lightray.items() if dest not in model_only}


@pytest.mark.parametrize("template", ["command", *PRESETS])
def test_the_templates_parse_as_lightray_parses_them(template: str, tmp_path: Path) -> None:
    """Every preset's tune.yaml and the command's, links included: the checkpoints' metric and
    mode reach the model's reporting callback."""
    path = tmp_path / "tune.yaml"
    if template == "command":
        path = CONFIGS / "command" / "tune.yaml"
    else:
        path.write_text(render_tune_yaml((template_directory("tune") / "tune.yaml").read_text(), PRESETS[template],
                                         template_directory("tune")))
    trainable = TrainableKind.COMMAND if template == "command" else TrainableKind.LIGHTNING
    read = as_lightray_reads(path, None)
    ours = search_parser(trainable).parse_object(read)
    theirs = capture_parser(cli)
    theirs.exit_on_error = False
    by_lightray = theirs.parse_object(read)
    if trainable is TrainableKind.COMMAND:
        by_lightray = {key: value for key, value in by_lightray.as_dict().items() if key not in MODEL_ONLY_ARGUMENTS}
        assert ours.as_dict() == by_lightray
    else:
        assert ours.as_dict() == by_lightray.as_dict()
        checkpoints = ours.run_config.checkpoint_config.init_args
        assert ours.tune_callback.init_args.metric == checkpoints.checkpoint_score_attribute


def test_the_search_space_is_what_lightray_evaluates() -> None:
    param_space = normalize_param_space({
        "lr": "tune.loguniform(1e-4, 1e-1)", "width": "tune.choice([8, 16, 32])", "x": "tune.uniform(0, 1),",
        "depth": "tune.randint(1, 4)", "q": "tune.qloguniform(1e-3, 1, 5e-4)", "g": "tune.grid_search([1, 2])",
    }, Path("tune.yaml"))
    by_lightray = dict(param_space)
    lightray.utils.eval_tune_run_config(by_lightray)
    ours = tune_domains(param_space)
    assert ours.keys() == by_lightray.keys()
    for key, domain in ours.items():
        if isinstance(domain, dict):  # grid_search
            assert domain == by_lightray[key]
            continue
        assert type(domain) is type(by_lightray[key]) and type(domain.sampler) is type(by_lightray[key].sampler)
        samples = [d.sample(size=8, random_state=np.random.default_rng(3)) for d in (domain, by_lightray[key])]
        assert list(samples[0]) == list(samples[1]), key


CHECK_AND_PARSE_A_COMMAND_SEARCH = f"""
import sys
from pathlib import Path
from aframe_tune.tune.local_ray import prepare_ray_environment
prepare_ray_environment()
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.handoff import parse_search
from aframe_tune.tune.inputs import check_search_inputs
from aframe_tune.tune.lightray_config import instantiate_search
from aframe_tune.tune.param_space import tune_domains
import aframe_tune.tune.command_trainable  # the trainable's class, which the driver hands to Ray Tune
path = Path({str(CONFIGS / "command" / "tune.yaml")!r})
spec = check_search_inputs(path, None)
arguments = LightrayArguments(path, None, "/tmp/unused", tune_overrides=spec.lightray_overrides())
search = instantiate_search(parse_search(arguments), arguments.trainable)
assert search.tune_config.scheduler is not None and set(tune_domains(spec.param_space)) == {{"lr", "hidden"}}
print(sorted(name for name in sys.modules if name.split(".")[0] in ("lightning", "pytorch_lightning", "torch",
                                                                     "tensorboardX")))
"""


def test_a_command_s_search_is_checked_and_parsed_without_importing_lightning_or_torch() -> None:
    """The checks, the parsed search and the trainable's class of a command's search, in a process of their own."""
    result = subprocess.run([sys.executable, "-c", CHECK_AND_PARSE_A_COMMAND_SEARCH], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
