"""The scale benchmark's figures (bench/scale.py), its reading of a driver's peak memory
(bench/driver_memory.py), and the GPU measurement's skip on a machine without a GPU
(bench/gpu.py). No timing is asserted: benchmarks measure, tests check."""

from __future__ import annotations

import math
import os
import subprocess
import sys

from pathlib import Path

import pytest

from bench.driver_memory import DriverMemory, peak_rss_kb
from bench.gpu import gpu_workload, measure_gpu
from bench.scale import ScalePoint, scale_headline, summarise_scale


def test_the_per_trial_cost_leaves_the_start_out_and_the_ratio_compares_the_sizes() -> None:
    points = [ScalePoint("pipeline", 100, wall_s=60.0, time_to_first_trial_s=20.0, driver_peak_rss_mb=500.0),
              ScalePoint("pipeline", 1000, wall_s=470.0, time_to_first_trial_s=20.0, driver_peak_rss_mb=700.0),
              ScalePoint("raw_tune", 100, wall_s=50.0, time_to_first_trial_s=20.0, driver_peak_rss_mb=600.0),
              ScalePoint("raw_tune", 1000, wall_s=320.0, time_to_first_trial_s=20.0, driver_peak_rss_mb=900.0)]
    assert points[0].wall_per_trial_s == 0.4 and points[1].wall_per_trial_s == 0.45
    summary = summarise_scale(points)
    assert math.isclose(summary["pipeline"]["wall_per_trial_ratio"], 0.45 / 0.4)
    assert math.isclose(summary["raw_tune"]["wall_per_trial_ratio"], 0.3 / 0.3)
    assert scale_headline({"summary": summary}) == {
        "scale_1000_wall_per_trial_ratio": summary["pipeline"]["wall_per_trial_ratio"],
        "driver_peak_rss_mb_1000": 700.0, "raw_tune_driver_peak_rss_mb_1000": 900.0}


def holding(megabytes: int) -> str:
    """A Python command that touches ``megabytes`` of memory and holds it a moment."""
    return (f"import time; block = bytearray({megabytes} * 1024 * 1024); block[::4096] = b'x' * len(block[::4096]); "
            "time.sleep(1.5)")


def test_the_driver_peak_is_the_largest_of_its_processes_and_not_rays() -> None:
    # a driver that holds 200 MB, under a process that calls itself a Ray worker and holds 400 MB
    driver = subprocess.Popen(["bash", "-c", f"{sys.executable} -c \"{holding(200)}\" & exec -a ray::IDLE "
                               f"{sys.executable} -c \"{holding(400)}\""])
    with DriverMemory(driver.pid, interval_s=0.1) as memory:
        driver.wait(timeout=60)
    assert 200 <= memory.peak_mb < 300, memory.peak_mb
    assert peak_rss_kb(os.getpid()) > 0 and peak_rss_kb(2 ** 22 + 1) == 0


def test_without_a_gpu_the_gpu_measurement_says_it_was_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    assert measure_gpu(tmp_path, timeout_s=1) == {
        "skipped": "no GPU on this machine (nvidia-smi is missing or lists none)"}
    assert not list(tmp_path.iterdir())  # nothing was started


def test_the_gpu_search_trains_on_the_gpu_with_the_share_given() -> None:
    workload = gpu_workload(0.25)
    assert workload.tune_config()["gpus_per_trial"] == 0.25
    assert workload.train_config()["trainer"]["accelerator"] == "gpu"
