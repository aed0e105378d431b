"""A LightningDataModule of simulated two-detector strain, made in memory with no downloads."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from aframe_tune.data_cache import cached_tensors
from aframe_tune.demo.strain import InjectionParameters, StrainSimulator

# Options of the data module that do not change what a window looks like.
NOT_SIMULATION_OPTIONS = ("batch_size", "num_train", "num_valid", "seed", "cache")


class SimulatedStrainDataModule(pl.LightningDataModule):
    """Whitened H1/L1-like strain windows, half of them with a compact-binary inspiral injected.

    Args:
        ifos: detector names; only their number matters to the simulation.
        sample_rate: samples per second.
        kernel_length: window length in seconds.
        snr_range: network optimal SNRs of the injections, drawn log-uniformly.
        chirp_mass_range: chirp masses of the injections in solar masses, drawn uniformly.
        injection_fraction: fraction of windows that carry a signal.
        batch_size: windows per batch.
        num_train: training windows made once per fit.
        num_valid: validation windows; always the same ones, whatever the other options.
        seed: seed of the training set.
        cache: keep the windows in the node's data cache (:mod:`aframe_tune.data_cache`), so
            that later trials of a search load them instead of simulating them again.
    """

    def __init__(
        self,
        ifos: list[str] = ["H1", "L1"],  # noqa: B006 (jsonargparse needs a literal default)
        sample_rate: float = 512.0,
        kernel_length: float = 1.0,
        snr_range: tuple[float, float] = (6.0, 24.0),
        chirp_mass_range: tuple[float, float] = (8.0, 40.0),
        injection_fraction: float = 0.5,
        batch_size: int = 128,
        num_train: int = 4096,
        num_valid: int = 1024,
        seed: int = 0,
        cache: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.simulator = StrainSimulator(
            num_ifos=len(ifos),
            sample_rate=sample_rate,
            kernel_length=kernel_length,
            injections=InjectionParameters(
                chirp_mass_range=tuple(chirp_mass_range), snr_range=tuple(snr_range)
            ),
        )
        self.train_dataset: TensorDataset | None = None
        self.valid_dataset: TensorDataset | None = None

    @property
    def num_ifos(self) -> int:
        return len(self.hparams.ifos)

    def _make(self, name: str, size: int, seed: int) -> TensorDataset:
        def simulate() -> tuple[torch.Tensor, torch.Tensor]:
            generator = torch.Generator().manual_seed(seed)
            return self.simulator.sample(size, self.hparams.injection_fraction, generator)

        if not self.hparams.cache:
            return TensorDataset(*simulate())
        # what the windows depend on: the simulation's options, their number and their seed
        simulation = {key: value for key, value in self.hparams.items() if key not in NOT_SIMULATION_OPTIONS}
        return TensorDataset(*cached_tensors(name, {**simulation, "size": size, "seed": seed}, simulate))

    def setup(self, stage: str) -> None:
        if self.train_dataset is None:
            self.train_dataset = self._make("train", self.hparams.num_train, self.hparams.seed)
        if self.valid_dataset is None:
            # A fixed seed, distinct from any training seed a user is likely to pick.
            self.valid_dataset = self._make("valid", self.hparams.num_valid, seed=2**31 - 1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_dataset, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.valid_dataset, batch_size=self.hparams.batch_size)
