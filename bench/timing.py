"""What the trials themselves measure: when they start, their first training step, and their compute.

Every contender's trials run the same model with :class:`StepTimer` among the Lightning callbacks.
Each trial process appends one JSON line per event to ``$AFRAME_BENCH_EVENTS/<pid>.jsonl``:

- ``start``: the trial's code began (the LightningCLI, or the raw trainable, was entered);
- ``first_step``: its first training step began;
- ``end``: training ended, with ``compute_s``, the summed wall time of its training and
  validation steps: the work an ideal orchestrator could not avoid.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

EVENTS_VARIABLE = "AFRAME_BENCH_EVENTS"


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
    """Times each training and validation step of a trial and records the events above."""

    def __init__(self) -> None:
        self.compute_s = 0.0
        self.steps = 0
        self._step_started: float | None = None
        self._first_step_seen = False

    def _begin(self) -> None:
        self._step_started = time.perf_counter()

    def _finish(self) -> None:
        if self._step_started is not None:
            self.compute_s += time.perf_counter() - self._step_started
            self.steps += 1
            self._step_started = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if not self._first_step_seen:
            self._first_step_seen = True
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

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record("end", compute_s=self.compute_s, steps=self.steps)
