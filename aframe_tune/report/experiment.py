"""A Ray Tune experiment (finished, interrupted or still running) read into plain records.

Ray Tune's own ``ExperimentAnalysis`` reads the trials and their results; what the search was
(metric, mode, scheduler, search algorithm) comes from the ``tuner.pkl`` Ray Tune writes to
restore the search, or from the run's ``best.json``, or from the caller.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aframe_tune.errors import AframeTuneError

logger = logging.getLogger(__name__)


class ReportError(AframeTuneError):
    """The run directory holds no experiment that can be reported on."""


@dataclass(frozen=True)
class SearchDescription:
    """What a search optimised and how.

    Args:
        metric: the metric trials are ranked by.
        mode: ``"min"`` or ``"max"``.
        num_samples: trials the search runs in all, if known.
        scheduler: the scheduler's class name, if known.
        search_alg: the search algorithm's class name (``None``: random or grid search).
    """

    metric: str
    mode: str
    num_samples: int | None = None
    scheduler: str | None = None
    search_alg: str | None = None

    def better(self, value: float, than: float) -> bool:
        return value > than if self.mode == "max" else value < than


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the report shows it.

    Args:
        trial_id: Ray Tune's id of the trial.
        status: Ray Tune's status (TERMINATED, ERROR, RUNNING, PENDING, PAUSED).
        hyperparameters: the sampled values, by ``param_space`` key.
        iterations: reports made (validation epochs under lightray's callback).
        history: ``(training_iteration, metric value)`` for each iteration, in order; where a
            resumed trial reported an iteration again, its last report.
        losses: the other logged series (``train_loss``, ``valid_loss``, …) by name.
        stop_reason: why it ended, or what it is doing, in words.
    """

    trial_id: str
    status: str
    hyperparameters: dict[str, Any]
    iterations: int
    history: list[tuple[int, float]] = field(default_factory=list)
    losses: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    stop_reason: str = ""

    @property
    def final(self) -> float | None:
        return self.history[-1][1] if self.history else None

    def best(self, search: SearchDescription) -> tuple[int, float] | None:
        """The report with the best metric value, ``(iteration, value)``."""
        best = None
        for iteration, value in self.history:
            if best is None or search.better(value, best[1]):
                best = (iteration, value)
        return best

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason.startswith("stopped early")


@dataclass(frozen=True)
class ExperimentRecord:
    """A search's trials and what it optimised.

    Args:
        path: where the experiment was read from (a local path or an s3:// URL).
        search: metric, mode and method of the search.
        trials: every trial the search has started, in order of their ids.
    """

    path: str
    search: SearchDescription
    trials: list[TrialRecord]

    def best_trial(self) -> TrialRecord | None:
        best = None
        for trial in self.trials:
            value = trial.best(self.search)
            if value is not None and (best is None or self.search.better(value[1], best[1][1])):
                best = (trial, value)
        return best[0] if best else None

    def counts(self) -> dict[str, int]:
        """How many trials completed, were stopped early, failed, or have not ended."""
        counts = {"completed": 0, "stopped early": 0, "failed": 0, "not ended": 0}
        for trial in self.trials:
            if trial.status == "ERROR":
                counts["failed"] += 1
            elif trial.status != "TERMINATED":
                counts["not ended"] += 1
            elif trial.stopped_early:
                counts["stopped early"] += 1
            else:
                counts["completed"] += 1
        return counts


def find_experiment(run_dir: Path, name: str | None = None) -> Path:
    """The experiment folder in a run directory: ``name`` if given, else the only folder that
    holds Ray Tune's experiment state."""
    if name:
        folder = run_dir / name
        if not any(folder.glob("experiment_state-*.json")):
            raise ReportError(f"{folder} holds no Ray Tune experiment (no experiment_state-*.json); "
                              "check --name (run_config.name in tune.yaml)")
        return folder
    found = sorted({path.parent for path in run_dir.glob("*/experiment_state-*.json")})
    if not found:
        raise ReportError(f"{run_dir} holds no Ray Tune experiment yet (no */experiment_state-*.json); "
                          "give the run directory (AFRAME_TRAIN_RUN_DIR in run.sh), once the search has started")
    if len(found) > 1:
        names = ", ".join(folder.name for folder in found)
        raise ReportError(f"{run_dir} holds several experiments ({names}); pick one with --name")
    return found[0]


def describe_search(experiment: Path, run_dir: Path, metric: str | None, mode: str | None) -> SearchDescription:
    """What the search optimised: the caller's choice, else Ray Tune's record of the search
    (``tuner.pkl``), else the run's ``best.json``."""
    recorded: dict[str, Any] = {}
    try:
        with (experiment / "tuner.pkl").open("rb") as file:
            tune_config = pickle.load(file)["_tune_config"]
        recorded = {
            "metric": tune_config.metric, "mode": tune_config.mode, "num_samples": tune_config.num_samples,
            "scheduler": _class_name(tune_config.scheduler), "search_alg": _class_name(tune_config.search_alg),
        }
    except Exception as error:  # a missing file, or a search algorithm whose library is not here
        logger.info("Cannot read the search's settings from %s: %s", experiment / "tuner.pkl", error)
    best = run_dir / "best.json"
    if best.is_file() and not recorded.get("metric"):
        content = json.loads(best.read_text())
        recorded.update(metric=content.get("metric"), mode=content.get("mode"))
    metric = metric or recorded.get("metric")
    mode = mode or recorded.get("mode")
    if not metric or mode not in ("min", "max"):
        raise ReportError(f"cannot tell which metric {experiment} optimised; give --metric and --mode "
                          "(tune_config.metric and tune_config.mode in tune.yaml)")
    return SearchDescription(metric=metric, mode=mode, num_samples=recorded.get("num_samples"),
                             scheduler=recorded.get("scheduler"), search_alg=recorded.get("search_alg"))


def _class_name(value: Any) -> str | None:
    if value is None:
        return None
    # Tuner wraps a search algorithm in SearchGenerator and, with a concurrency limit, ConcurrencyLimiter
    while hasattr(value, "searcher") or hasattr(value, "_searcher"):
        value = getattr(value, "searcher", None) or getattr(value, "_searcher")
    return type(value).__name__


def _series(frame: Any, column: str) -> list[tuple[int, float]]:
    if column not in frame.columns:
        return []
    rows = frame[["training_iteration", column]].dropna()
    # A resumed trial reports again the iterations after its last checkpoint: the later report is
    # the one its training went on from, so it replaces the earlier one.
    by_iteration = {int(iteration): float(value) for iteration, value in rows.itertuples(index=False)
                    if not math.isnan(float(value))}
    return sorted(by_iteration.items())


def _error_line(trial_path: Path) -> str:
    error = trial_path / "error.txt"
    if not error.is_file():
        return ""
    lines = [line.strip() for line in error.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def read_experiment(run_dir: Path, *, name: str | None = None, metric: str | None = None,
                    mode: str | None = None, shown_as: str | None = None) -> ExperimentRecord:
    """Read the experiment in a local run directory.

    Args:
        run_dir: the run directory (``AFRAME_TRAIN_RUN_DIR``), or a local copy of it.
        name: the experiment's folder (``run_config.name``); default: the only one there.
        metric: the metric to rank by; default: the search's own.
        mode: ``"min"`` or ``"max"``; default: the search's own.
        shown_as: how to name the run directory in the report (its s3:// URL for a copy).
    """
    from ray.tune import ExperimentAnalysis

    experiment = find_experiment(run_dir, name)
    search = describe_search(experiment, run_dir, metric, mode)
    try:
        analysis = ExperimentAnalysis(str(experiment))
    except Exception as error:  # a state file Ray Tune cannot read: name it, without Ray's traceback
        raise ReportError(f"Ray Tune cannot read the experiment in {experiment}: {error}") from None
    frames = analysis.trial_dataframes
    longest = max((int(t.last_result.get("training_iteration") or 0) for t in analysis.trials), default=0)
    trials = []
    for trial in sorted(analysis.trials, key=lambda t: t.trial_id):
        frame = frames.get(trial.trial_id)
        history = _series(frame, search.metric) if frame is not None else []
        losses = {}
        if frame is not None:
            for column in frame.columns:
                if column != search.metric and ("loss" in column or column.startswith(("valid_", "train_"))):
                    losses[column] = _series(frame, column)
        iterations = int(trial.last_result.get("training_iteration") or 0)
        trials.append(TrialRecord(
            trial_id=trial.trial_id, status=trial.status, hyperparameters=dict(trial.config or {}),
            iterations=iterations, history=history, losses=losses,
            stop_reason=_stop_reason(trial.status, iterations, longest, search, Path(trial.path)),
        ))
    return ExperimentRecord(path=shown_as or str(run_dir), search=search, trials=trials)


def _stop_reason(status: str, iterations: int, longest: int, search: SearchDescription, path: Path) -> str:
    if status == "ERROR":
        return f"failed: {_error_line(path) or 'see error.txt in its folder'}"
    if status != "TERMINATED":
        return {"RUNNING": "running (as of the last saved state)", "PENDING": "waiting to start",
                "PAUSED": "paused by the scheduler"}.get(status, status.lower())
    if iterations < longest and search.scheduler != "PopulationBasedTraining":
        reports = "report" if iterations == 1 else "reports"
        return f"stopped early by {search.scheduler or 'the scheduler'} after {iterations} {reports}"
    return "completed"
