"""What the trials themselves measure: when they start, their first training step, and their compute.

Every contender's trials run the same model with :class:`StepTimer` among the Lightning callbacks.
Each trial process appends one JSON line per event to ``$AFRAME_BENCH_EVENTS/<pid>.jsonl``:

- ``start``: the trial's code began (the LightningCLI, or the raw trainable, was entered);
- ``first_step``: its first training step began;
- ``end``: training ended, with ``compute_s``: the trial's training loop, from its first
  training step to its end (every training and validation batch, data loading and metrics
  included), less the time its reports and checkpoints to Ray Tune took. That is the work the
  same training costs without any tuning framework, which an ideal orchestrator could not avoid.
  ``steps_s`` (the training and validation steps alone) and ``reports_s`` are recorded too;
- ``progress``: before each report, the ``compute_s`` so far, for a trial that a scheduler stops
  (or pauses) at a report and so never ends its training.

The reports are timed by the ``tune_callback`` classes below, thin timed versions of lightray's
and Ray Tune's own reporting callbacks, which every contender's configuration names.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightray.callbacks import LightRayReportCheckpointCallback
from ray.tune.integration.pytorch_lightning import TuneReportCheckpointCallback

EVENTS_VARIABLE = "AFRAME_BENCH_EVENTS"


class _ReportClock:
    """Seconds this process's current trial has spent reporting to Ray Tune."""

    total_s = 0.0

    @classmethod
    def timed(cls, report, *args: Any) -> None:
        started = time.perf_counter()
        try:
            report(*args)
        finally:
            cls.total_s += time.perf_counter() - started


class TimedLightRayReport(LightRayReportCheckpointCallback):
    """lightray's reporting callback (pipeline and lightray contenders), timed."""

    def _handle(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _ReportClock.timed(super()._handle, trainer, pl_module)


class TimedTuneReport(TuneReportCheckpointCallback):
    """Ray Tune's reporting callback (raw Ray Tune contender), timed."""

    def _handle(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _ReportClock.timed(super()._handle, trainer, pl_module)


def trial_id() -> str | None:
    """Ray Tune's id of the trial this process is running, or ``None`` outside a search (such as
    the pipeline's checks, which build the CLI class in the driver)."""
    from ray import tune

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ray warns when asked outside a trial
        return tune.get_context().get_trial_id()


def record(event: str, **fields: Any) -> None:
    """Append one event of this process's current trial to the events directory, if one is set."""
    directory = os.environ.get(EVENTS_VARIABLE)
    trial = trial_id() if directory else None
    if trial is None:
        return
    line = json.dumps({"event": event, "trial": trial, "pid": os.getpid(), "t": time.time(), **fields})
    with (Path(directory) / f"{os.getpid()}.jsonl").open("a") as handle:
        handle.write(line + "\n")


class StepTimer(pl.Callback):
    """Times a trial's training loop, its steps and its reports, and records the events above."""

    def __init__(self) -> None:
        self.steps_s = 0.0
        self.steps = 0
        self._loop_started: float | None = None
        self._step_started: float | None = None

    def _begin(self) -> None:
        self._step_started = time.perf_counter()

    def _finish(self) -> None:
        if self._step_started is not None:
            self.steps_s += time.perf_counter() - self._step_started
            self.steps += 1
            self._step_started = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._loop_started is None:
            self._loop_started = time.perf_counter()
            _ReportClock.total_s = 0.0  # a reused process: this trial's reports only
            record("first_step", global_step=trainer.global_step)
        self._begin()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._finish()

    def on_validation_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                                  batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self._begin()

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self._finish()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # before the reporting callback's on_validation_end, where a scheduler may stop the trial
        if not trainer.sanity_checking and self._loop_started is not None:
            record("progress", compute_s=time.perf_counter() - self._loop_started - _ReportClock.total_s)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loop_s = time.perf_counter() - (self._loop_started or time.perf_counter())
        record("end", compute_s=loop_s - _ReportClock.total_s, steps_s=self.steps_s,
               reports_s=_ReportClock.total_s, steps=self.steps)
