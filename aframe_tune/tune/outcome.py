"""What ``run.sh`` tells the user before a search and after it: the plan, the result, what next."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aframe_tune.tune.best import BestTrial
from aframe_tune.tune.progress import format_value, short_duration
from aframe_tune.tune.spec import TuneSpec


def plural(count: float, noun: str) -> str:
    """``1 trial``, ``8 trials``, ``0.5 GPUs``."""
    return f"{format_value(count)} {noun}{'' if count == 1 else 's'}"


def trials_planned(spec: TuneSpec) -> str:
    """``8 trials of 1 CPU and 0.5 GPUs each``."""
    gpus = f" and {plural(spec.gpus_per_trial, 'GPU')}" if spec.gpus_per_trial else ""
    return f"{plural(spec.num_samples, 'trial')} of {plural(spec.cpus_per_trial, 'CPU')}{gpus} each"


@dataclass(frozen=True)
class SearchOutcome:
    """A finished search, as the user is told of it.

    Args:
        best: the exported trial (best.json).
        run_dir: the run directory (a path or an ``s3://`` URL).
        experiment_name: the experiment's folder in it (``run_config.name``).
        trials: trials the search ran, when known.
        failed: trials whose retries were spent, when known.
        elapsed_s: seconds the search took in this run, when it ran in this run.
        model: what in the run directory holds the best model: ``best.pt``, a command's ``best/``
            (its last ``{checkpoint_dir}``), or None when a command saved nothing.
    """

    best: BestTrial
    run_dir: str
    experiment_name: str
    trials: int | None = None
    failed: int = 0
    elapsed_s: float | None = None
    model: str | None = "best.pt"

    @classmethod
    def of_search(cls, best: BestTrial, run_dir: str, experiment_name: str, results: Iterable[Any],
                  elapsed_s: float, model: str | None = "best.pt") -> SearchOutcome:
        """The outcome of a search that ran in this run, from its ``ray.tune.ResultGrid``."""
        results = list(results)
        return cls(best, run_dir, experiment_name, trials=len(results),
                   failed=sum(result.error is not None for result in results), elapsed_s=elapsed_s, model=model)

    def lines(self) -> list[str]:
        """The result, where it is, and the next commands."""
        run_dir = self.run_dir.rstrip("/")
        lines = []
        if self.trials is not None and self.elapsed_s is not None:
            failed = f" ({self.failed} failed; their errors are in their trial folders)" if self.failed else ""
            lines.append(f"Search finished in {short_duration(self.elapsed_s)}: {plural(self.trials, 'trial')}{failed}.")
        best = self.best
        lines.append(f"Best trial {best.trial_id}: {best.metric} = {format_value(best.value)} "
                     f"(at report {best.iteration})")
        lines += [f"  {key} = {format_value(value)}" for key, value in best.hyperparameters.items()]
        if self.model == "best.pt":
            lines.append(f"Best model: {run_dir}/best.pt (its summary: {run_dir}/best.json)")
        elif self.model:
            lines.append(f"Its checkpoint: {run_dir}/{self.model} (its summary: {run_dir}/best.json)")
        else:
            lines.append(f"Its summary: {run_dir}/best.json")
        lines.append("Next:")
        lines.append(f"  aframe-tune report {run_dir}")
        experiment = f"{run_dir}/{self.experiment_name}"
        if run_dir.startswith("s3://"):
            lines.append(f"  aws s3 sync {experiment} ./{self.experiment_name} && "
                         f"tensorboard --logdir ./{self.experiment_name}")
        else:
            lines.append(f"  tensorboard --logdir {experiment}")
        return lines
