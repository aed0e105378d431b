"""A search's arguments, in the form of lightray's command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aframe_tune.tune.command_spec import TrainableKind
from aframe_tune.tune.loggers import SearchLoggers

# appends to run_config.callbacks whatever tune.yaml lists there
STOP_HANDLERS_ARGUMENT = "--run_config.callbacks+=aframe_tune.tune.stop.ReinstallStopHandlers"


@dataclass(frozen=True)
class LightrayArguments:
    """Arguments of one lightray search: ``--config tune.yaml [...] -- --config train.yaml [...]``.

    Args:
        tune_config: the lightray/Ray Tune configuration.
        train_config: the LightningCLI configuration of the model; None for a command's search.
        storage_path: where Ray Tune keeps the experiment (a local directory or ``s3://``).
        tune_overrides: extra lightray arguments, after the config so that they win.
        train_overrides: extra LightningCLI arguments (such as ``--data.ifos``), likewise.
        keep_stop_handlers: add the Tune callback that re-installs aframe-tune's SIGINT/SIGTERM
            handlers (``aframe_tune.tune.stop``); only where this process handles the stop signals
            (a local search; a remote one is stopped through ``aframe-tune stop``).
        cpus_per_trial: CPUs each trial gets (tune.yaml's, checked), fractions included.
        gpus_per_trial: GPUs each trial gets, fractions included (0.25: four trials share a GPU).
        loggers: the experiment trackers (W&B, MLflow) every trial is logged to.
    """

    tune_config: Path
    train_config: Path | None
    storage_path: str
    tune_overrides: tuple[str, ...] = field(default_factory=tuple)
    train_overrides: tuple[str, ...] = field(default_factory=tuple)
    keep_stop_handlers: bool = False
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    loggers: SearchLoggers = field(default_factory=SearchLoggers)

    @property
    def trainable(self) -> TrainableKind:
        """A model's search has a train.yaml; a command's has none."""
        return TrainableKind.COMMAND if self.train_config is None else TrainableKind.LIGHTNING

    def to_argv(self) -> list[str]:
        argv = ["--config", str(self.tune_config), f"--run_config.storage_path={self.storage_path}"]
        if self.keep_stop_handlers:
            argv.append(STOP_HANDLERS_ARGUMENT)
        argv += self.tune_overrides
        if self.train_config is not None:
            argv += ["--", "--config", str(self.train_config), *self.train_overrides]
        return argv
