"""The report's words and tables: ``trials.csv``, ``summary.md`` and the terminal summary."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from aframe_tune.report import plots
from aframe_tune.report.experiment import ExperimentRecord, TrialRecord

COLUMNS = ("trial_id", "status", "final", "best", "best_iteration", "iterations", "stop_reason")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def hyperparameter_keys(record: ExperimentRecord) -> list[str]:
    return list(dict.fromkeys(key for trial in record.trials for key in trial.hyperparameters))


def ranked(record: ExperimentRecord) -> list[TrialRecord]:
    """Trials from best to worst by their best metric value; trials without one last."""
    sign = -1 if record.search.mode == "max" else 1

    def key(trial: TrialRecord) -> tuple[int, float]:
        best = trial.best(record.search)
        return (1, 0.0) if best is None else (0, sign * best[1])

    return sorted(record.trials, key=key)


def table_rows(record: ExperimentRecord) -> list[dict[str, Any]]:
    keys = hyperparameter_keys(record)
    rows = []
    for trial in ranked(record):
        best = trial.best(record.search)
        rows.append({
            "trial_id": trial.trial_id, "status": trial.status,
            **{key: trial.hyperparameters.get(key) for key in keys},
            "final": trial.final, "best": best[1] if best else None, "best_iteration": best[0] if best else None,
            "iterations": trial.iterations, "stop_reason": trial.stop_reason,
        })
    return rows


def write_table(record: ExperimentRecord, path: Path) -> Path:
    """Every trial, best first: id, status, hyperparameters, final and best metric, reports, why it ended."""
    header = ["trial_id", "status", *hyperparameter_keys(record), *COLUMNS[2:]]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(table_rows(record))
    return path


def image_name(key: str) -> str:
    return "metric_vs_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + ".png"


def headline(record: ExperimentRecord) -> list[str]:
    """A few lines for the terminal: how far the search is, and its best trial."""
    search = record.search
    counts = record.counts()
    planned = f" of {search.num_samples}" if search.num_samples else ""
    parts = ", ".join(f"{number} {what}" for what, number in counts.items() if number)
    lines = [f"{record.path}: {len(record.trials)}{planned} trials ({parts or 'none yet'}); "
             f"{search.metric}, {search.mode} is better"]
    best = record.best_trial()
    if best is None:
        lines.append("No trial has reported the metric yet.")
        return lines
    iteration, value = best.best(search) or (0, float("nan"))
    shown = ", ".join(f"{key}={_format(value)}" for key, value in best.hyperparameters.items())
    lines.append(f"Best: trial {best.trial_id}, {search.metric} = {value:.4g} at report {iteration} ({shown})")
    return lines


def write_summary(record: ExperimentRecord, path: Path, images: list[Path]) -> Path:
    """``summary.md``: the search, its progress, the best trial, the figures and the table."""
    search = record.search
    method = f"{search.search_alg or 'random search'}" + (f", scheduler {search.scheduler}" if search.scheduler else "")
    lines = [f"# Tuning report: {record.path}", "", *(f"- {line}" for line in headline(record)),
             f"- Search: {method}", ""]
    for image in images:
        lines += [f"![{image.stem}]({image.name})", ""]
    keys = hyperparameter_keys(record)
    header = ["trial", "status", *keys, f"final {search.metric}", f"best {search.metric}", "at report",
              "reports", "stop reason"]
    lines += ["## Trials (best first)", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in table_rows(record):
        cells = [row["trial_id"], row["status"], *(row[key] for key in keys), row["final"], row["best"],
                 row["best_iteration"], row["iterations"], row["stop_reason"]]
        lines.append("| " + " | ".join(_format(cell).replace("|", "\\|") for cell in cells) + " |")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_report(record: ExperimentRecord, directory: Path) -> list[Path]:
    """Write ``trials.csv``, the figures and ``summary.md`` into ``directory``; return the files."""
    directory.mkdir(parents=True, exist_ok=True)
    images = [plots.learning_curves(record, directory / "learning_curves.png")]
    for key in hyperparameter_keys(record):
        images.append(plots.metric_against(record, key, directory / image_name(key)))
    best = record.best_trial()
    if best is not None:
        images.append(plots.best_trial_curves(record, best, directory / "best_trial.png"))
    table = write_table(record, directory / "trials.csv")
    return [table, *images, write_summary(record, directory / "summary.md", images)]
