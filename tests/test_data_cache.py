"""The per-node data cache: made once, loaded after, keyed by the data's configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from aframe_tune.data_cache import CACHE_VARIABLE, cache_directory, cached_tensors
from aframe_tune.demo.data import SimulatedStrainDataModule


class Maker:
    """Makes two tensors from a seed and counts its calls."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.calls = 0

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        generator = torch.Generator().manual_seed(self.seed)
        return torch.randn(8, 2, generator=generator), torch.arange(8.0)


def test_made_once_then_loaded_equal(tmp_path: Path) -> None:
    make = Maker()
    first = cached_tensors("train", {"size": 8}, make, directory=tmp_path)
    second = cached_tensors("train", {"size": 8}, make, directory=tmp_path)
    assert make.calls == 1
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not list(tmp_path.glob("*.partial"))  # written beside and renamed


def test_another_configuration_gets_its_own_entry(tmp_path: Path) -> None:
    make = Maker()
    cached_tensors("train", {"size": 8, "kernel_length": 1.0}, make, directory=tmp_path)
    cached_tensors("train", {"size": 8, "kernel_length": 2.0}, make, directory=tmp_path)
    cached_tensors("valid", {"size": 8, "kernel_length": 1.0}, make, directory=tmp_path)
    assert make.calls == 3
    assert len(list(tmp_path.glob("*.pt"))) == 3


def test_a_damaged_entry_is_made_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make = Maker()
    cached_tensors("train", {"size": 8}, make, directory=tmp_path)
    entry = next(tmp_path.glob("*.pt"))
    entry.write_bytes(entry.read_bytes()[:40])
    tensors = cached_tensors("train", {"size": 8}, make, directory=tmp_path)
    assert make.calls == 2 and torch.equal(tensors[1], torch.arange(8.0))
    assert "cannot be read" in caplog.text
    assert cached_tensors("train", {"size": 8}, make, directory=tmp_path) and make.calls == 2


def test_an_unusable_directory_only_costs_the_caching(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    make = Maker()
    tensors = cached_tensors("train", {"size": 8}, make, directory=blocker / "cache")
    assert make.calls == 1 and len(tensors) == 2
    assert f"set {CACHE_VARIABLE}" in caplog.text


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the directory to another user")
def test_a_directory_of_another_user_is_not_trusted(tmp_path: Path) -> None:
    make = Maker()
    cached_tensors("train", {"size": 8}, make, directory=tmp_path / "cache")
    os.chown(tmp_path / "cache", 12345, -1)
    cached_tensors("train", {"size": 8}, make, directory=tmp_path / "cache")
    assert make.calls == 2


def test_processes_that_start_together_make_the_data_once(tmp_path: Path) -> None:
    # each process appends a line to `made` when it makes the data, slowly
    script = textwrap.dedent(f"""
        import time, torch
        from pathlib import Path
        from aframe_tune.data_cache import cached_tensors
        def make():
            with open({str(tmp_path / "made")!r}, "a") as made:
                made.write("made\\n")
            time.sleep(1.0)
            return (torch.ones(4),)
        print(cached_tensors("train", {{"size": 4}}, make, directory=Path({str(tmp_path / "cache")!r}))[0].sum().item())
    """)
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
                 for _ in range(3)]
    outputs = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert outputs == ["4.0"] * 3
    assert (tmp_path / "made").read_text() == "made\n"


def test_cache_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "here"))
    assert cache_directory() == tmp_path / "here"
    monkeypatch.delenv(CACHE_VARIABLE)
    assert cache_directory().name == f"aframe-tune-data-{os.getuid()}"


def test_demo_data_module_reuses_its_windows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path))
    options = {"num_train": 64, "num_valid": 32, "kernel_length": 0.5}
    first = SimulatedStrainDataModule(**options)
    first.setup("fit")
    assert len(list(tmp_path.glob("*.pt"))) == 2  # training and validation windows
    second = SimulatedStrainDataModule(**options, batch_size=16)  # batch size does not change the data
    second.setup("fit")
    assert len(list(tmp_path.glob("*.pt"))) == 2
    assert torch.equal(first.train_dataset.tensors[0], second.train_dataset.tensors[0])
    other = SimulatedStrainDataModule(**{**options, "seed": 1})
    other.setup("fit")
    assert not torch.equal(first.train_dataset.tensors[0], other.train_dataset.tensors[0])
    # the same windows whether they come from the cache or not
    uncached = SimulatedStrainDataModule(**options, cache=False)
    uncached.setup("fit")
    assert torch.equal(first.train_dataset.tensors[0], uncached.train_dataset.tensors[0])
    assert len(list(tmp_path.glob("*.pt"))) == 3  # seed 1's training windows; validation shared
