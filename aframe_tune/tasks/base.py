"""Parameters every tune task shares, read from the tune task's section of ``tune.cfg``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import law
import luigi

from aframe_tune.config import mlflow, paths, wandb
from aframe_tune.console import is_interactive
from aframe_tune.errors import ConfigError
from aframe_tune.tune.loggers import SearchLoggers, wandb_enabled
from aframe_tune.tune.command_spec import TrainableKind, trainable_kind
from aframe_tune.tune.spec import TuneSpec, read_yaml_mapping


def is_remote(run_dir: str) -> bool:
    """True when the run directory is an S3 URL, which means tuning on Kubernetes."""
    return run_dir.startswith("s3://")


class TuneParameters(law.Task):
    """What a search needs: its two configuration files and where its results go."""

    train_config = luigi.Parameter(
        default="",
        description="the LightningCLI configuration of the model (train.yaml), needed unless tune.yaml's "
        "trainable is command; default: none",
    )
    tune_config = luigi.Parameter(
        description="the lightray/Ray Tune configuration of the search (tune.yaml)",
    )
    run_dir = luigi.Parameter(
        default="",
        description="where results, checkpoints and best.pt go; a local path tunes locally, an "
        "s3:// URL on Kubernetes; default: [luigi_paths] train_run_dir, i.e. $AFRAME_TRAIN_RUN_DIR",
    )

    @property
    def resolved_run_dir(self) -> str:
        """``run_dir``, else ``$AFRAME_TRAIN_RUN_DIR``; an error when both are empty."""
        run_dir = self.run_dir or paths().train_run_dir
        if not run_dir:
            raise ConfigError(
                "No run directory: set AFRAME_TRAIN_RUN_DIR (run.sh does) or pass --run-dir"
            )
        return run_dir

    def trainable(self) -> TrainableKind | None:
        """What tune.yaml's trials run; None when it cannot be read or names no known trainable
        (the checks say why)."""
        try:
            path = self.config_file("tune_config")
            return trainable_kind(read_yaml_mapping(path), path)
        except ConfigError:
            return None

    def config_file(self, name: str) -> Path:
        """The absolute path of ``train_config`` or ``tune_config``, checked to exist."""
        raw = getattr(self, name)
        path = Path(raw).expanduser()
        if not path.is_file():
            hint = " (is AFRAME_TUNE_EXPERIMENT_DIR set? run.sh sets it)" if "$" in raw else ""
            raise ConfigError(
                f"tune.cfg [luigi_TuneTask] {name} = {raw}: file not found{hint}; point it at "
                "an existing file"
            )
        return path.resolve()


def search_loggers(experiment_name: str) -> SearchLoggers:
    """The trackers of tune.cfg's [luigi_wandb] (when WANDB_API_KEY is set) and [luigi_mlflow]
    (when it has a tracking_uri); raises ConfigError for a tracker whose library is missing."""
    tracking = mlflow()
    tracking.validate()
    weights = wandb()
    return SearchLoggers(
        wandb_project=weights.project if wandb_enabled() else None, wandb_entity=weights.entity,
        mlflow_tracking_uri=tracking.tracking_uri, mlflow_experiment=tracking.experiment, group=experiment_name,
    )


def progress_view(spec: TuneSpec) -> Any:
    """The live view of the search (a ``SearchProgressReporter``) that shows its lines on the console."""
    # imported when a search starts: it imports Ray, which the checks must find unimported
    from aframe_tune.tune.progress_reporter import SearchProgressReporter

    return SearchProgressReporter(spec.metric, spec.mode, spec.num_samples, is_interactive())
