"""GPU: trials per hour when four trials share a GPU (``gpus_per_trial: 0.25``) against one trial
per GPU (``1``), for the demo model at a GPU-sized batch, and how busy the GPU was.

The pipeline runs the same 8-trial search twice, once per setting. The GPU's utilisation is
sampled once a second with ``nvidia-smi`` from the first trial's first step to the search's end,
and averaged. Without a GPU (no ``nvidia-smi``, or one that lists no GPU) the measurement is
skipped, and the report says so.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.contenders import Launch
from bench.searches import run_search
from bench.workload import Workload

logger = logging.getLogger("bench")
GPU_SHARES = (1.0, 0.25)
NVIDIA_SMI = "nvidia-smi"


def gpu_workload(gpus_per_trial: float) -> Workload:
    """8 trials of the demo model at a batch that keeps a GPU busy."""
    return Workload(trials=8, epochs=4, num_train=65536, num_valid=8192, batch_size=1024, width=64,
                    accelerator="gpu", gpus_per_trial=gpus_per_trial)


def gpus_here() -> list[str]:
    """The GPUs ``nvidia-smi`` lists; none without it."""
    if shutil.which(NVIDIA_SMI) is None:
        return []
    listed = subprocess.run([NVIDIA_SMI, "--list-gpus"], capture_output=True, text=True, check=False)
    return [line for line in listed.stdout.splitlines() if line.startswith("GPU ")] if listed.returncode == 0 else []


@dataclass
class Utilisation:
    """``utilization.gpu`` of the first GPU, once a second, with the time of each sample."""

    samples: list[tuple[float, float]] = field(default_factory=list)

    def __enter__(self) -> Utilisation:
        self._process = subprocess.Popen(
            [NVIDIA_SMI, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0", "-l", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, name="gpu-utilisation", daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.kill()
        self._process.wait()
        self._reader.join(timeout=5)

    def _read(self) -> None:
        for line in self._process.stdout or []:
            if line.strip().isdigit():
                self.samples.append((time.time(), float(line)))

    def mean_since(self, start: float) -> float:
        values = [value for t, value in self.samples if t >= start]
        return statistics.mean(values) if values else float("nan")


@dataclass(frozen=True)
class GpuSearch:
    """One search on the GPU.

    Args:
        gpus_per_trial: the GPU share of each trial.
        trials: trials run.
        wall_s: from starting the search to its end.
        trials_per_hour: ``trials / wall_s``, per hour.
        utilisation_percent: the GPU's mean utilisation from the first training step to the end.
    """

    gpus_per_trial: float
    trials: int
    wall_s: float
    trials_per_hour: float
    utilisation_percent: float

    def as_json(self) -> dict:
        return {"gpus_per_trial": self.gpus_per_trial, "trials": self.trials, "wall_s": self.wall_s,
                "trials_per_hour": self.trials_per_hour, "utilisation_percent": self.utilisation_percent}


def measure_gpu(workdir: Path, timeout_s: float) -> dict:
    """The pipeline's GPU search at each share, or why it was skipped."""
    gpus = gpus_here()
    if not gpus:
        return {"skipped": "no GPU on this machine (nvidia-smi is missing or lists none)"}
    searches = []
    for share in GPU_SHARES:
        workload = gpu_workload(share)
        with Utilisation() as utilisation:
            run = run_search(Launch("pipeline", workload, workdir / f"gpu-{share}"), int(1 / share), timeout_s)
        first_step = run.launched + run.time_to_first_trial_s
        search = GpuSearch(share, len(run.trials), run.wall_s, len(run.trials) * 3600 / run.wall_s,
                           utilisation.mean_since(first_step))
        logger.info("gpu %.2f per trial: %.0f trials per hour, GPU %.0f%% busy", share, search.trials_per_hour,
                    search.utilisation_percent)
        searches.append(search)
    shared, whole = searches[-1], searches[0]
    return {"gpus": gpus, "runs": [s.as_json() for s in searches],
            "shared_over_whole_trials_per_hour": shared.trials_per_hour / whole.trials_per_hour}
