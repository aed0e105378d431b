"""The fixed-work search every contender runs: the built-in detector, fixed data, a fixed number
of training steps, the same reports and checkpoints.

The pipeline and plain lightray train it through :class:`BenchCLI`; raw Ray Tune through
:func:`raw_trainable`, which builds the same model, data and Trainer in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aframe_tune.demo.cli import DemoCLI

from bench.timing import StepTimer, TimedTuneReport, record

METRIC = "valid_auroc"
MODE = "max"
PRESETS = Path(__file__).resolve().parent.parent / "configs" / "tune" / "searches"
# the pipeline's hyperparameter and raw Ray Tune's name for it
RAW_NAMES = {"model.learning_rate": "learning_rate"}
DEFAULT_CHECKPOINTS = {"class_path": "ray.air.config.CheckpointConfig",
                       "init_args": {"num_to_keep": 2, "checkpoint_score_attribute": METRIC,
                                     "checkpoint_score_order": MODE}}


def preset_block(preset: str, key: str) -> Any:
    """``key`` of the search preset's own tune.yaml block (``scheduler`` from NAME.yaml,
    ``checkpoint_config`` from NAME.checkpoints.yaml), or None where the preset has none."""
    path = PRESETS / (f"{preset}.yaml" if key == "scheduler" else f"{preset}.checkpoints.yaml")
    return yaml.safe_load(path.read_text()).get(key) if path.is_file() else None


@dataclass(frozen=True)
class Workload:
    """How much work each trial does.

    Args:
        trials: number of trials (``num_samples``).
        epochs: training epochs per trial; each ends in a validation, a report and a checkpoint.
        num_train: training windows; steps per epoch are ``num_train / batch_size``.
        num_valid: validation windows.
        batch_size: windows per step.
        width: channels of the model's first layer (the work per step).
        accelerator: Lightning's accelerator for the pipeline and lightray (``gpu`` on a GPU).
        gpus_per_trial: GPUs Ray gives each trial (fractions share a GPU).
        preset: the search preset (configs/tune/searches) whose scheduler, and checkpoint
            settings if it has its own, the search uses; None: no scheduler. Its search
            algorithm is not used: every contender samples at random.
    """

    trials: int
    epochs: int
    num_train: int
    num_valid: int
    batch_size: int = 64
    width: int = 16
    accelerator: str = "cpu"
    gpus_per_trial: float = 0
    preset: str | None = None

    @property
    def scheduler(self) -> dict[str, Any] | None:
        """The preset's ``scheduler`` block, as tune.yaml takes it."""
        return preset_block(self.preset, "scheduler") if self.preset else None

    @property
    def checkpoints(self) -> dict[str, Any]:
        """``run_config.checkpoint_config``: the preset's own, else the template's."""
        own = preset_block(self.preset, "checkpoint_config") if self.preset else None
        return own or DEFAULT_CHECKPOINTS

    def train_config(self) -> dict[str, Any]:
        """train.yaml: the demo model, CPU, fixed data, and the bench's step timer."""
        return {
            "seed_everything": 42,
            "trainer": {
                "max_epochs": self.epochs,
                "accelerator": self.accelerator,
                "devices": 1,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "log_every_n_steps": 8,
                "num_sanity_val_steps": 0,
                "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger",
                           "init_args": {"save_dir": ".", "name": ""}},
                "enable_checkpointing": False,
                "callbacks": [{"class_path": "bench.timing.StepTimer"}],
            },
            "model": {"width": self.width, "depth": 3, "learning_rate": 1.0e-3, "weight_decay": 0.0},
            "data": {"ifos": ["H1", "L1"], "sample_rate": 512.0, "kernel_length": 1.0,
                     "batch_size": self.batch_size, "num_train": self.num_train, "num_valid": self.num_valid},
        }

    def tune_config(self) -> dict[str, Any]:
        """tune.yaml: random search; without a preset no early stopping, so that every trial does
        the same work, and with one the preset's scheduler."""
        return {
            "tune_config": {"metric": METRIC, "mode": MODE, "num_samples": self.trials,
                            "max_concurrent_trials": None, "scheduler": self.scheduler, "search_alg": None,
                            "reuse_actors": True},
            "run_config": {
                "name": "tune",
                "failure_config": {"max_failures": 0},
                "checkpoint_config": self.checkpoints,
                "verbose": 0,
            },
            "tune_callback": {"class_path": "bench.timing.TimedLightRayReport",
                              "init_args": {"on": "validation_end", "checkpoint_every": 1}},
            "cpus_per_trial": 1,
            "gpus_per_trial": self.gpus_per_trial,
            "lightning_cli_cls": "bench.workload.BenchCLI",
            "param_space": {"model.learning_rate": "tune.loguniform(1e-4, 1e-1)"},
        }


@dataclass(frozen=True)
class RemoteSearch:
    """An ASHA search on the emulated cluster (bench/remote.py), its trials of the scaffold's model.

    Args:
        workers: worker replicas, one trial each at a time.
        trials: ``num_samples``.
        max_t: epochs of a trial ASHA never stops (each epoch is one report).
        grace_period: ASHA's first rung, in reports.
        reduction_factor: ASHA's reduction factor.
        idle_timeout_s: how long a worker may stay idle before it is given back.
    """

    workers: int
    trials: int
    max_t: int
    grace_period: int = 1
    reduction_factor: int = 4
    idle_timeout_s: int = 5


class BenchCLI(DemoCLI):
    """The demo's LightningCLI, recording when the trial's code starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        record("start")
        super().__init__(*args, **kwargs)


def raw_trainable(config: dict[str, Any], workload: Workload) -> None:
    """A Ray Tune function trainable as a raw Ray Tune user writes it: the same model, data and
    Trainer as the CLI builds, reporting (with a checkpoint) after each validation."""
    record("start")
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger
    from ray import tune

    from aframe_tune.demo.data import SimulatedStrainDataModule
    from aframe_tune.demo.model import Detector

    pl.seed_everything(42)
    settings = workload.train_config()
    data = SimulatedStrainDataModule(**settings["data"])
    model = Detector(n_ifos=2, **{**settings["model"], "learning_rate": config["learning_rate"]})
    trainer = pl.Trainer(
        max_epochs=workload.epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
        enable_model_summary=False, log_every_n_steps=8, num_sanity_val_steps=0,
        enable_checkpointing=False, logger=CSVLogger(tune.get_context().get_trial_dir(), name=""),
        # the reporting callback first, as lightray orders them
        callbacks=[TimedTuneReport(on="validation_end"), StepTimer()],
    )
    checkpoint = tune.get_checkpoint()
    ckpt_path = None
    if checkpoint is not None:
        ckpt_path = f"{checkpoint.path}/checkpoint"
    trainer.fit(model, datamodule=data, ckpt_path=ckpt_path)
