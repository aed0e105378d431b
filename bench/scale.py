"""Scale: what a search of many tiny trials costs per trial and in the driver's memory, at two sizes.

Each trial is one training step and one validation, so the search is nearly all orchestration:
Ray Tune's own bookkeeping, the trial's set-up, its report and checkpoint, and the driver's
handling of each result. Only the pipeline and raw Ray Tune run it (the issue compares those two).

- **wall per trial**: ``(wall - time to the first trial) / trials``, the steady cost of one more
  trial, without the fixed start-up that a small search would otherwise spread over few trials.
- **ratio**: the wall per trial at the largest size over that at the smallest (1.0 is flat).
- **driver peak memory**: ``bench.driver_memory``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bench.contenders import Launch
from bench.searches import SearchRun, run_search
from bench.workload import Workload

logger = logging.getLogger("bench")
SCALE_CONTENDERS = ("pipeline", "raw_tune")


def tiny_trials(trials: int) -> Workload:
    """One training step and one validation batch per trial."""
    return Workload(trials=trials, epochs=1, num_train=64, num_valid=64)


@dataclass(frozen=True)
class ScalePoint:
    """One contender's search at one size.

    Args:
        contender: who ran it.
        trials: trials in the search.
        wall_s: from starting the process to its exit.
        time_to_first_trial_s: from starting it to the first training step.
        driver_peak_rss_mb: the driver's peak resident memory.
    """

    contender: str
    trials: int
    wall_s: float
    time_to_first_trial_s: float
    driver_peak_rss_mb: float

    @property
    def wall_per_trial_s(self) -> float:
        return (self.wall_s - self.time_to_first_trial_s) / self.trials

    @classmethod
    def of(cls, run: SearchRun) -> ScalePoint:
        return cls(run.contender, len(run.trials), run.wall_s, run.time_to_first_trial_s, run.driver_peak_rss_mb)

    def as_json(self) -> dict:
        return {"contender": self.contender, "trials": self.trials, "wall_s": self.wall_s,
                "time_to_first_trial_s": self.time_to_first_trial_s, "wall_per_trial_s": self.wall_per_trial_s,
                "driver_peak_rss_mb": self.driver_peak_rss_mb}


def measure_scale(sizes: tuple[int, ...], workdir: Path, timeout_s: float) -> dict:
    """Each scale contender's search of tiny trials at each size, smallest first."""
    concurrency = os.cpu_count() or 1
    points = []
    for trials in sorted(sizes):
        for name in SCALE_CONTENDERS:
            run = run_search(Launch(name, tiny_trials(trials), workdir / f"scale-{trials}-{name}"),
                             min(concurrency, trials), timeout_s)
            point = ScalePoint.of(run)
            logger.info("scale %s %d trials: %.1f s wall, %.3f s per trial, driver peak %.0f MB", name, trials,
                        point.wall_s, point.wall_per_trial_s, point.driver_peak_rss_mb)
            points.append(point)
    return {"runs": [p.as_json() for p in points], "summary": summarise_scale(points)}


def summarise_scale(points: list[ScalePoint]) -> dict:
    """Per contender: each size's figures, and the per-trial ratio of the largest size to the smallest."""
    summary: dict = {}
    for name in SCALE_CONTENDERS:
        mine = sorted((p for p in points if p.contender == name), key=lambda p: p.trials)
        if not mine:
            continue
        summary[name] = {str(p.trials): p.as_json() for p in mine}
        summary[name]["wall_per_trial_ratio"] = mine[-1].wall_per_trial_s / mine[0].wall_per_trial_s
    return summary


def scale_headline(scale: dict) -> dict:
    """``scale_N_wall_per_trial_ratio``, ``driver_peak_rss_mb_N`` and raw Tune's, N the largest size."""
    summary = scale.get("summary", {})
    figures: dict = {}
    for name, prefix in (("pipeline", ""), ("raw_tune", "raw_tune_")):
        if name not in summary:
            continue
        largest = max(int(key) for key in summary[name] if key.isdigit())
        if name == "pipeline":
            figures[f"scale_{largest}_wall_per_trial_ratio"] = summary[name]["wall_per_trial_ratio"]
        figures[f"{prefix}driver_peak_rss_mb_{largest}"] = summary[name][str(largest)]["driver_peak_rss_mb"]
    return figures
