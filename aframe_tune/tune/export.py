"""Turning the best trial of a finished search into ``best.pt`` and ``best.json``."""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from aframe_tune.errors import TuningError
from aframe_tune.tune.best import BestTrial
from aframe_tune.tune.spec import TuneSpec

logger = logging.getLogger(__name__)

# Lightning saves its checkpoint under this name inside each Ray Tune checkpoint directory.
LIGHTNING_CHECKPOINT_FILE = "checkpoint"


def select_best_trial(results: Any, spec: TuneSpec) -> tuple[BestTrial, Any]:
    """Pick the trial whose best checkpoint has the best metric; return it and its checkpoint.

    Args:
        results: the ``ray.tune.ResultGrid`` of the search.
        spec: the search's metric and mode.
    """
    best: tuple[float, BestTrial, Any] | None = None
    sign = 1.0 if spec.mode == "max" else -1.0
    for result in results:
        for checkpoint, metrics in result.best_checkpoints or []:
            value = metrics.get(spec.metric)
            if value is None or math.isnan(value):
                continue
            if best is None or sign * value > best[0]:
                trial = BestTrial(
                    trial_id=str(metrics.get("trial_id", "")),
                    # the hyperparameters the checkpoint was trained with: under Population Based
                    # Training a trial's final ones may have come later, from another trial
                    hyperparameters=dict(metrics.get("config") or result.config or {}),
                    metric=spec.metric,
                    mode=spec.mode,
                    value=float(value),
                    iteration=int(metrics.get("training_iteration", 0)),
                    checkpoint=checkpoint.path,
                )
                best = (sign * value, trial, checkpoint)
    if best is None:
        raise TuningError(
            f"No trial reported a checkpoint with metric {spec.metric!r}: check that the model "
            f"logs {spec.metric!r} (tune_config.metric in {spec.path}) and read the trial errors "
            "above"
        )
    return best[1], best[2]


def build_model(cli_class: type, train_config: Path, overrides: Sequence[str]) -> Any:
    """Instantiate the LightningModule exactly as a trial's LightningCLI would, without fitting."""
    from aframe_tune.tune.train_config import fit_parser

    parser = fit_parser(cli_class)
    config = parser.parse_args(["--config", str(train_config), *overrides])
    return parser.instantiate_classes(config).model


def to_torchscript(model: torch.nn.Module) -> torch.jit.ScriptModule:
    """Script the model's ``inference_module()`` if it has one, else the LightningModule itself."""
    model.eval()
    if hasattr(model, "inference_module"):
        return torch.jit.script(model.inference_module())
    with warnings.catch_warnings():
        # Lightning deprecates to_torchscript in favour of torch.export, but best.pt is
        # promised as TorchScript; models that want control define inference_module().
        warnings.simplefilter("ignore", category=DeprecationWarning)
        return model.to_torchscript()


def export_best_trial(
    results: Any,
    spec: TuneSpec,
    train_config: Path,
    train_overrides: Sequence[str],
    destination: Path,
) -> BestTrial:
    """Write the best trial's best checkpoint as TorchScript ``best.pt`` and its summary ``best.json``.

    Args:
        results: the ``ray.tune.ResultGrid`` of the search.
        spec: the search's tune.yaml.
        train_config: the model's train.yaml.
        train_overrides: the LightningCLI arguments every trial got besides its hyperparameters.
        destination: the directory that receives ``best.pt`` and ``best.json``.
    """
    trial, checkpoint = select_best_trial(results, spec)
    overrides = [*train_overrides, *(f"--{key}={value}" for key, value in trial.hyperparameters.items())]
    model = build_model(spec.import_cli_class(), train_config, overrides)
    with checkpoint.as_directory() as directory:
        state = torch.load(Path(directory) / LIGHTNING_CHECKPOINT_FILE, map_location="cpu", weights_only=False)
    model.load_state_dict(state["state_dict"])
    scripted = to_torchscript(model)

    destination.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so an interrupted export never leaves a best.pt
    # that law would take for a finished run.
    (destination / "best.json").write_text(json.dumps(asdict(trial), indent=2) + "\n")
    partial = destination / "best.pt.partial"
    torch.jit.save(scripted, str(partial))
    partial.replace(destination / "best.pt")
    logger.info(
        "Best trial %s: %s = %.4g at iteration %d; exported to %s",
        trial.trial_id, trial.metric, trial.value, trial.iteration, destination / "best.pt",
    )
    return trial
