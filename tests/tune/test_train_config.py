"""train.yaml against the model's LightningCLI parser: what the metric check can know."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LightningCLI

from aframe_tune.demo.cli import DemoCLI
from aframe_tune.demo.model import Detector
from aframe_tune.errors import ConfigError
from aframe_tune.scaffold import template_directory
from aframe_tune.tune.spec import load_tune_spec
from aframe_tune.tune.train_config import TrainConfig, check_train_config, logged_metric_names

TEMPLATES = template_directory("tune")


class DynamicNames(LightningModule):
    def validation_step(self, batch, index):
        for name in ("a", "b"):
            self.log(f"valid_{name}", 0.0)


class BothSteps(LightningModule):
    def training_step(self, batch, index):
        self.log("loss", 0.0, on_step=True, on_epoch=True)
        self.log_dict({"lr": 0.1})


def test_literal_metric_names_are_found_and_computed_ones_make_it_unknown() -> None:
    assert logged_metric_names(Detector) == {"train_loss", "valid_loss", "valid_auroc"}
    assert logged_metric_names(DynamicNames) is None
    assert logged_metric_names(BothSteps) == {"loss", "loss_step", "loss_epoch", "lr"}


class BrokenCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        raise RuntimeError("no such option group")


def test_a_cli_class_that_cannot_build_its_parser_is_a_clear_error(tmp_path: Path) -> None:
    spec = load_tune_spec(TEMPLATES / "tune.yaml")
    with pytest.raises(ConfigError, match=r"fails while building its argument parser \(RuntimeError: no such"):
        check_train_config(BrokenCLI, TrainConfig(TEMPLATES / "train.yaml"), spec)


def test_the_scaffolded_train_yaml_passes(tmp_path: Path) -> None:
    spec = load_tune_spec(TEMPLATES / "tune.yaml")
    check_train_config(DemoCLI, TrainConfig(TEMPLATES / "train.yaml", ("--data.ifos=[H1,L1]",)), spec)
