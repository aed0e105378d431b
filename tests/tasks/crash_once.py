"""A Lightning callback that kills its trial's process once, as an out-of-memory kill or a
segfault would: imported by the trials of the fault tests (through train.yaml)."""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer


class CrashOnce(Callback):
    """Exit the process abruptly at the start of ``epoch``, the first time any trial gets there.

    Args:
        marker: a file created (atomically) by the one crash; its presence disarms every trial.
        epoch: the (0-based) epoch at whose start the process dies.
    """

    def __init__(self, marker: str, epoch: int = 1) -> None:
        self.marker = Path(marker)
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch != self.epoch:
            return
        try:
            self.marker.open("x").close()
        except FileExistsError:
            return
        os._exit(137)
