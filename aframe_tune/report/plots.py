"""The report's figures: learning curves of every trial, the metric against each tuned
hyperparameter, and the best trial's curves. PNG files drawn with matplotlib's Agg backend (no
display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aframe_tune.report.experiment import ExperimentRecord, TrialRecord

BEST_COLOUR = "#d62728"
OTHER_COLOUR = "#1f77b4"
STOPPED_COLOUR = "#7f7f7f"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, also on machines without a display
    import matplotlib.pyplot as plt

    return plt


def learning_curves(record: ExperimentRecord, path: Path) -> Path:
    """The metric against reports for every trial; early-stopped trials grey and dashed, ending
    in a cross; failed trials ending in a red square; the best trial in red."""
    plt = _pyplot()
    best = record.best_trial()
    figure, axes = plt.subplots(figsize=(8, 5))
    for trial in record.trials:
        if not trial.history or trial is best:
            continue
        iterations, values = zip(*trial.history)
        if trial.stopped_early:
            axes.plot(iterations, values, color=STOPPED_COLOUR, linestyle="--", linewidth=1, alpha=0.8)
            axes.plot(iterations[-1], values[-1], "x", color=STOPPED_COLOUR, markersize=8)
        else:
            axes.plot(iterations, values, color=OTHER_COLOUR, linewidth=1, alpha=0.7)
        if trial.status == "ERROR":
            axes.plot(iterations[-1], values[-1], "s", color=BEST_COLOUR, fillstyle="none", markersize=8)
    if best is not None and best.history:
        iterations, values = zip(*best.history)
        axes.plot(iterations, values, color=BEST_COLOUR, linewidth=2.5, label=f"best: {best.trial_id}")
    # legend entries for the styles
    axes.plot([], [], color=OTHER_COLOUR, label="trained to the end (or still running)")
    axes.plot([], [], color=STOPPED_COLOUR, linestyle="--", marker="x", label="stopped early by the scheduler")
    if any(trial.status == "ERROR" for trial in record.trials):
        axes.plot([], [], "s", color=BEST_COLOUR, fillstyle="none", label="failed")
    axes.set_xlabel("report (training_iteration)")
    axes.set_ylabel(record.search.metric)
    axes.set_title(f"{record.search.metric} of {len(record.trials)} trials ({record.search.mode} is better)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _save(figure, path)


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)


def metric_against(record: ExperimentRecord, key: str, path: Path) -> Path:
    """Each trial's best metric against its value of hyperparameter ``key`` (a log axis for
    positive values spanning more than a factor of 20; categories side by side otherwise)."""
    plt = _pyplot()
    points = [(trial.hyperparameters.get(key), trial.best(record.search), trial) for trial in record.trials]
    points = [(value, best[1], trial) for value, best, trial in points if best is not None and value is not None]
    best = record.best_trial()
    figure, axes = plt.subplots(figsize=(6, 4.5))
    values = [value for value, _, _ in points]
    if _numeric(values):
        xs = values
        if values and min(values) > 0 and max(values) / min(values) > 20:
            axes.set_xscale("log")
    else:  # categories, in order of appearance
        categories = list(dict.fromkeys(str(value) for value in values))
        xs = [categories.index(str(value)) for value in values]
        axes.set_xticks(range(len(categories)), categories)
    for x, (_, metric, trial) in zip(xs, points):
        colour = BEST_COLOUR if trial is best else STOPPED_COLOUR if trial.stopped_early else OTHER_COLOUR
        axes.scatter(x, metric, color=colour, s=60 if trial is best else 30, zorder=3,
                     marker="x" if trial.stopped_early else "o")
    axes.set_xlabel(key)
    axes.set_ylabel(f"best {record.search.metric}")
    axes.set_title(f"best {record.search.metric} against {key}\n(red: best trial; x: stopped early)", fontsize="medium")
    axes.grid(alpha=0.3)
    return _save(figure, path)


def best_trial_curves(record: ExperimentRecord, trial: TrialRecord, path: Path) -> Path:
    """The best trial's metric, and its other logged series on a second panel."""
    plt = _pyplot()
    panels = 2 if trial.losses else 1
    figure, axes = plt.subplots(panels, 1, figsize=(7, 3.5 * panels), sharex=True, squeeze=False)
    top = axes[0][0]
    if trial.history:
        iterations, values = zip(*trial.history)
        top.plot(iterations, values, "o-", color=BEST_COLOUR)
        at, value = trial.best(record.search) or (iterations[-1], values[-1])
        top.annotate(f"best {value:.4g}", (at, value), textcoords="offset points", xytext=(5, -12))
    top.set_ylabel(record.search.metric)
    shown = ", ".join(f"{key}={_short(value)}" for key, value in trial.hyperparameters.items())
    top.set_title(f"best trial {trial.trial_id}\n{shown}", fontsize="medium")
    top.grid(alpha=0.3)
    if panels == 2:
        bottom = axes[1][0]
        for name, series in trial.losses.items():
            if series:
                bottom.plot(*zip(*series), "o-", markersize=3, label=name)
        bottom.legend(fontsize="small")
        bottom.grid(alpha=0.3)
    axes[-1][0].set_xlabel("report (training_iteration)")
    return _save(figure, path)


def _short(value: Any) -> str:
    if isinstance(value, float) and value != 0 and not math.isnan(value):
        return f"{value:.3g}"
    return str(value)


def _save(figure: Any, path: Path) -> Path:
    from matplotlib.ticker import MaxNLocator

    for axes in figure.axes:
        if axes.get_xlabel().startswith("report"):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path
