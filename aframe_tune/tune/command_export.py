"""The result of a command's search: ``best.json``, and the best trial's last ``{checkpoint_dir}``
as ``best/``. A command has no model for aframe-tune to export as ``best.pt``."""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aframe_tune.errors import TuningError
from aframe_tune.tune.best import BestTrial
from aframe_tune.tune.command_spec import BEST_FOLDER
from aframe_tune.tune.spec import TuneSpec

logger = logging.getLogger(__name__)


def best_model_of(runs_a_command: bool, best: BestTrial) -> str | None:
    """What in the run directory holds the best model: ``best.pt``; for a command, ``best/`` if its
    best trial saved a checkpoint, else nothing."""
    if not runs_a_command:
        return "best.pt"
    return f"{BEST_FOLDER}/" if best.checkpoint else None


def best_step(result: Any, metric: str, mode: str) -> tuple[float, int] | None:
    """A trial's best value of ``metric`` over all its steps, and the step's iteration."""
    frame = result.metrics_dataframe
    if frame is None or metric not in frame:
        return None
    values = frame[metric].astype(float)
    values = values[~values.isna()]
    if values.empty:
        return None
    index = values.idxmax() if mode == "max" else values.idxmin()
    iteration = frame["training_iteration"][index] if "training_iteration" in frame else 0
    return float(values[index]), int(iteration)


def select_best_command_trial(results: Any, spec: TuneSpec) -> tuple[BestTrial, Any]:
    """The trial whose best step has the best metric, and its last checkpoint (None if it saved nothing)."""
    best: tuple[float, BestTrial, Any] | None = None
    sign = 1.0 if spec.mode == "max" else -1.0
    for result in results:
        found = best_step(result, spec.metric, spec.mode)
        if found is None or math.isnan(found[0]):
            continue
        value, iteration = found
        if best is None or sign * value > best[0]:
            checkpoint = result.checkpoint
            trial = BestTrial(trial_id=str(result.metrics.get("trial_id", "")), hyperparameters=dict(result.config or {}),
                              metric=spec.metric, mode=spec.mode, value=value, iteration=iteration,
                              checkpoint=checkpoint.path if checkpoint is not None else "")
            best = (sign * value, trial, checkpoint)
    if best is None:
        raise TuningError(f"No trial reported {spec.metric!r}: check that the command reports it (tune_config.metric "
                          f"in {spec.path}, trial_metrics) and read the trial errors above")
    return best[1], best[2]


def export_best_command_trial(results: Any, spec: TuneSpec, destination: Path) -> BestTrial:
    """Copy the best trial's last checkpoint to ``best/`` (if it has one), then write ``best.json``,
    last, since it marks the search as finished."""
    trial, checkpoint = select_best_command_trial(results, spec)
    destination.mkdir(parents=True, exist_ok=True)
    folder = destination / BEST_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            shutil.copytree(directory, folder)
    partial = destination / "best.json.partial"
    partial.write_text(json.dumps(asdict(trial), indent=2) + "\n")
    partial.replace(destination / "best.json")
    logger.info("Best trial %s: %s = %.4g at iteration %d; written to %s", trial.trial_id, trial.metric, trial.value,
                trial.iteration, destination / "best.json")
    return trial
