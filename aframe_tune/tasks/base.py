"""Parameters every tune task shares, read from the tune task's section of ``tune.cfg``."""

from __future__ import annotations

from pathlib import Path

import law
import luigi

from aframe_tune.config import paths
from aframe_tune.errors import ConfigError


def is_remote(run_dir: str) -> bool:
    """True when the run directory is an S3 URL, which means tuning on Kubernetes."""
    return run_dir.startswith("s3://")


class TuneParameters(law.Task):
    """What a search needs: its two configuration files and where its results go."""

    train_config = luigi.Parameter(
        description="the LightningCLI configuration of the model (train.yaml)",
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
