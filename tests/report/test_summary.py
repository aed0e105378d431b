"""The report's records, tables and figures, from hand-made trials."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from aframe_tune.report.experiment import ExperimentRecord, ReportError, SearchDescription, TrialRecord, describe_search
from aframe_tune.report.summary import headline, ranked, write_report


def record(mode: str = "min") -> ExperimentRecord:
    search = SearchDescription(metric="valid_loss", mode=mode, num_samples=5, scheduler="ASHAScheduler")
    return ExperimentRecord(path="/runs/x", search=search, trials=[
        TrialRecord("a", "TERMINATED", {"lr": 1e-4, "arch": "resnet"}, 3, [(1, 0.9), (2, 0.5), (3, 0.6)],
                    {"train_loss": [(1, 1.0), (2, 0.7), (3, 0.5)]}, "completed"),
        TrialRecord("b", "TERMINATED", {"lr": 1e-1, "arch": "cnn"}, 1, [(1, 0.95)], {},
                    "stopped early by ASHAScheduler after 1 report"),
        TrialRecord("c", "ERROR", {"lr": 1e-2, "arch": "cnn"}, 2, [(1, 0.8), (2, 0.4)], {}, "failed: boom"),
        TrialRecord("d", "RUNNING", {"lr": 3e-3, "arch": "resnet"}, 0, [], {}, "running"),
    ])


def test_trials_rank_by_their_best_value_in_the_search_s_direction() -> None:
    assert [trial.trial_id for trial in ranked(record("min"))] == ["c", "a", "b", "d"]
    assert [trial.trial_id for trial in ranked(record("max"))] == ["b", "a", "c", "d"]
    assert record("min").best_trial().trial_id == "c"


def test_headline_counts_trials_by_how_they_ended() -> None:
    lines = headline(record())
    assert lines[0] == ("/runs/x: 4 of 5 trials (1 completed, 1 stopped early, 1 failed, 1 not ended); "
                        "valid_loss, min is better")
    assert lines[1] == "Best: trial c, valid_loss = 0.4 at report 2 (lr=0.01, arch=cnn)"


def test_write_report_makes_the_table_the_summary_and_a_figure_per_hyperparameter(tmp_path: Path) -> None:
    files = {path.name for path in write_report(record(), tmp_path)}
    assert files == {"trials.csv", "summary.md", "learning_curves.png", "metric_vs_lr.png",
                     "metric_vs_arch.png", "best_trial.png"}
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert [row["trial_id"] for row in rows] == ["c", "a", "b", "d"]
    assert rows[3]["best"] == "" and rows[0]["stop_reason"] == "failed: boom"


def test_without_a_record_of_the_search_the_metric_must_be_given(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="give --metric and --mode"):
        describe_search(tmp_path, tmp_path, None, None)
    assert describe_search(tmp_path, tmp_path, "valid_loss", "min").metric == "valid_loss"


def test_a_resumed_trial_s_repeated_iteration_keeps_its_last_report() -> None:
    import pandas

    from aframe_tune.report.experiment import _series

    # reported 1 and 2, stopped before 2's checkpoint was registered, resumed from 1
    frame = pandas.DataFrame({"training_iteration": [1, 2, 2, 3], "valid_loss": [0.9, 0.7, 0.6, float("nan")]})
    assert _series(frame, "valid_loss") == [(1, 0.9), (2, 0.6)]
    assert _series(frame, "absent") == []
