"""The LightningCLI trainable: the arguments lightray gives each trial, and a parser built once per
trial process that changes nothing a trial sees."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

import lightray.utils
import pytest
from ray import tune

from aframe_tune.demo.cli import DemoCLI
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.handoff import parse_search, trial_config
from aframe_tune.tune.lightning_trainable import lightning_trainable, reusing_parser

TEMPLATES = Path(__file__).parents[2] / "configs" / "tune"
# one trial after another in the same process: a key set by one and not by the next must be back
# to train.yaml's value; the same trial twice must see the same thing
TRIALS: list[dict[str, Any]] = [
    {"model.learning_rate": 0.0123, "model.width": 8, "data.batch_size": 32},
    {"model.learning_rate": 1e-05},
    {"model.depth": 2, "model.weight_decay": 0.001},
    {"model.learning_rate": 0.0123, "model.width": 8, "data.batch_size": 32},
]


class Built(Exception):
    """Stops a CLI once its classes are built, before it fits."""

    def __init__(self, cli: Any) -> None:
        super().__init__()
        self.cli = cli


class StopBeforeFit(DemoCLI):
    def after_instantiate_classes(self) -> None:
        raise Built(self)


def build(cli_cls: type, arguments: list[str]) -> Any:
    with patch.object(sys, "argv", ["", *arguments]), pytest.raises(Built) as built:
        cli_cls()
    return built.value.cli


def seen_by_the_trial(cli: Any) -> tuple:
    """What a trial's training depends on: its whole configuration, the model's hyperparameters,
    the data's settings and the trainer's callbacks and logger."""
    return (cli.parser.dump(cli.config, skip_link_targets=False), dict(cli.model.hparams),
            dict(cli.datamodule.hparams), [type(c).__name__ for c in cli.trainer.callbacks],
            cli.trainer.logger.save_dir, cli.config.fit.ckpt_path)


@pytest.fixture(scope="module")
def base_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("trainable")
    arguments = LightrayArguments(TEMPLATES / "tune.yaml", TEMPLATES / "train.yaml", str(folder / "run"))
    parsed = parse_search(arguments)
    return trial_config(StopBeforeFit, parsed.lightning_args, parsed.tune_callback)


def test_a_reused_parser_gives_each_trial_what_a_new_one_gives(base_config: str, tmp_path: Path) -> None:
    reusing = reusing_parser(StopBeforeFit)
    first_parser = None
    for number, hyperparameters in enumerate(TRIALS):
        trial_dir = str(tmp_path / f"trial_{number}")
        arguments = [f"--config={base_config}", *[f"--{k}={v}" for k, v in hyperparameters.items()],
                     f"--trainer.logger.save_dir={trial_dir}"]
        fresh = build(StopBeforeFit, ["fit", *arguments])
        reused = build(reusing, ["fit", *arguments])
        assert seen_by_the_trial(reused) == seen_by_the_trial(fresh)
        assert reused.model.hparams["learning_rate"] == hyperparameters.get("model.learning_rate", 1e-3)
        first_parser = first_parser or reused.parser
        assert reused.parser is first_parser  # built once, by the first trial
    assert type(reused).__name__ == "StopBeforeFit" and isinstance(reused, StopBeforeFit)


class Checkpoint:
    path = "bucket/run/tune/trainable_1/checkpoint_000002"


class Context:
    def get_trial_dir(self) -> str:
        return "/runs/tune/trainable_1"


@pytest.mark.parametrize("storage_path", ["/runs", "s3://bucket/run"])
@pytest.mark.parametrize("checkpoint", [None, Checkpoint()])
def test_each_trial_gets_the_arguments_lightray_gives_it(storage_path: str, checkpoint: Any) -> None:
    argv: list[list[str]] = []

    class Recorder:
        def __init__(self) -> None:
            argv.append(list(sys.argv))

    hyperparameters = {"model.learning_rate": 0.002, "data.batch_size": 16, "model.activation": "relu"}
    with patch.object(tune, "get_checkpoint", return_value=checkpoint), \
            patch.object(tune, "get_context", return_value=Context()):
        lightray.utils.get_trainable(storage_path, Recorder, "seed_everything: 1\n", 1, 0)(hyperparameters)
        lightning_trainable(storage_path, Recorder, "seed_everything: 1\n")(hyperparameters)
    assert argv[0] == argv[1]
    assert argv[1][-1].startswith("--ckpt_path=s3://" if checkpoint and storage_path.startswith("s3://")
                                  else "--ckpt_path=bucket" if checkpoint else "--trainer.logger.save_dir=")
