"""The command line aframe-tune hands to lightray."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# appends to run_config.callbacks whatever tune.yaml lists there
STOP_HANDLERS_ARGUMENT = "--run_config.callbacks+=aframe_tune.tune.stop.ReinstallStopHandlers"


@dataclass(frozen=True)
class LightrayArguments:
    """Arguments of one lightray search: ``--config tune.yaml [...] -- --config train.yaml [...]``.

    Args:
        tune_config: the lightray/Ray Tune configuration.
        train_config: the LightningCLI configuration of the model.
        storage_path: where Ray Tune keeps the experiment (a local directory or ``s3://``).
        ray_address: the ``ray://`` address the driver has already connected to, or ``None``
            for the local instance it started or joined. lightray calls ``ray.init`` itself; without
            the address, that call would start a new local Ray instance even while a Ray client
            connection is open (Ray only reuses a client connection for a ``ray://`` address).
        tune_overrides: extra lightray arguments, after the config so that they win.
        train_overrides: extra LightningCLI arguments (such as ``--data.ifos``), likewise.
        keep_stop_handlers: add the Tune callback that re-installs aframe-tune's SIGINT/SIGTERM
            handlers (``aframe_tune.tune.stop``); only where Tune's loop runs in this process, since
            the callback is imported wherever the loop runs (a remote image may lack aframe-tune).
        cpus_per_trial: CPUs each trial gets (tune.yaml's, checked), fractions included.
        gpus_per_trial: GPUs each trial gets, fractions included (0.25: four trials share a GPU).
    """

    tune_config: Path
    train_config: Path
    storage_path: str
    ray_address: str | None = None
    tune_overrides: tuple[str, ...] = field(default_factory=tuple)
    train_overrides: tuple[str, ...] = field(default_factory=tuple)
    keep_stop_handlers: bool = False
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0

    def to_argv(self) -> list[str]:
        argv = ["--config", str(self.tune_config), f"--run_config.storage_path={self.storage_path}"]
        # The driver has already started, joined or connected to Ray; lightray's ray.init reuses it.
        argv.append("--ray_init.ignore_reinit_error=true")
        if self.ray_address is not None:
            argv.append(f"--ray_init.address={self.ray_address}")
        if self.keep_stop_handlers:
            argv.append(STOP_HANDLERS_ARGUMENT)
        argv += self.tune_overrides
        argv += ["--", "--config", str(self.train_config), *self.train_overrides]
        return argv
