"""The built-in model and its simulated data."""

from __future__ import annotations

import math

import torch

from aframe_tune.demo.data import SimulatedStrainDataModule
from aframe_tune.demo.model import Detector
from aframe_tune.demo.strain import InjectionParameters, StrainSimulator, aligo_psd


def test_psd_has_the_aligo_bucket() -> None:
    frequencies = torch.tensor([20.0, 100.0, 250.0, 1000.0], dtype=torch.float64)
    psd = aligo_psd(frequencies)
    assert (psd > 0).all()
    # most sensitive in the bucket around 100-300 Hz, worse at both ends
    assert psd[0] > psd[1] and psd[3] > psd[2]
    assert 1e-48 < psd[2] < 1e-46


def test_whitened_noise_is_unit_variance_and_snr_is_as_requested() -> None:
    simulator = StrainSimulator(2, 512.0, 1.0, InjectionParameters(snr_range=(10.0, 10.0)))
    generator = torch.Generator().manual_seed(0)
    windows, labels = simulator.sample(2000, 0.5, generator)
    assert windows.shape == (2000, 2, 512)
    noise = windows[labels == 0]
    assert abs(noise.std().item() - 1) < 0.02 and abs(noise.mean().item()) < 0.01
    # with unit-variance noise, signal windows carry SNR^2 more energy on average
    excess = windows[labels == 1].square().sum((1, 2)).mean() - noise.square().sum((1, 2)).mean()
    assert math.isclose(excess.item(), 100.0, rel_tol=0.15)


def test_signals_differ_between_detectors() -> None:
    simulator = StrainSimulator(2, 512.0, 1.0, InjectionParameters(snr_range=(1000.0, 1000.0)))
    windows, _ = simulator.sample(4, 1.0, torch.Generator().manual_seed(1))
    h1, l1 = windows[:, 0], windows[:, 1]
    assert not torch.allclose(h1, l1) and not torch.allclose(h1, -l1)
    # ...but they are the same source: strongly (anti-)correlated at some lag within the
    # 10 ms light travel time between the sites (6 samples at 512 Hz)
    def correlation(lag: int) -> torch.Tensor:
        shifted = torch.roll(l1, lag, dims=-1)
        return ((h1 * shifted).sum(-1) / (h1.norm(dim=-1) * shifted.norm(dim=-1))).abs()

    best = torch.stack([correlation(lag) for lag in range(-6, 7)]).max(dim=0).values
    assert (best > 0.5).all(), best


def test_validation_set_is_the_same_whatever_the_training_seed() -> None:
    first = SimulatedStrainDataModule(num_train=64, num_valid=32, seed=1)
    second = SimulatedStrainDataModule(num_train=64, num_valid=32, seed=2)
    first.setup("fit")
    second.setup("fit")
    assert torch.equal(first.valid_dataset.tensors[0], second.valid_dataset.tensors[0])
    assert not torch.equal(first.train_dataset.tensors[0], second.train_dataset.tensors[0])


def test_detector_maps_windows_to_one_logit_and_scripts() -> None:
    model = Detector(n_ifos=2, width=8, depth=2).eval()
    batch = torch.randn(5, 2, 1024)
    assert model(batch).shape == (5, 1)
    scripted = torch.jit.script(model.inference_module())
    assert torch.allclose(scripted(batch), model(batch))
    assert scripted(torch.randn(3, 2, 512)).shape == (3, 1)


def test_a_resumed_detector_trains_with_its_own_optimizer_settings_not_the_checkpoints(tmp_path) -> None:
    # Population Based Training resumes a trial from another's checkpoint with a mutated
    # learning rate; the checkpoint's optimizer state must not put the old one back.
    import lightning.pytorch as pl

    class RecordLearningRate(pl.Callback):
        seen: list[tuple[float, float]] = []

        def on_train_epoch_start(self, trainer, module) -> None:
            group = trainer.optimizers[0].param_groups[0]
            self.seen.append((group["lr"], group["weight_decay"]))

    def fit(learning_rate: float, weight_decay: float, epochs: int, ckpt_path=None) -> None:
        trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False,
                             callbacks=[RecordLearningRate()], default_root_dir=tmp_path)
        data = SimulatedStrainDataModule(num_train=64, num_valid=32, batch_size=32, cache=False)
        trainer.fit(Detector(width=4, depth=1, learning_rate=learning_rate, weight_decay=weight_decay), data,
                    ckpt_path=ckpt_path)
        trainer.save_checkpoint(tmp_path / "last.ckpt")

    fit(1e-3, 0.0, epochs=1)
    fit(0.25, 0.01, epochs=2, ckpt_path=tmp_path / "last.ckpt")
    assert RecordLearningRate.seen == [(1e-3, 0.0), (0.25, 0.01)]
