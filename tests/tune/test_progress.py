"""The live view's line: trials by state, the best metric so far, time left; and when it is shown."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from aframe_tune.tune.progress import Pace, SearchProgress, read_progress, short_duration


@dataclass
class FakeTrial:
    """The attributes of ray.tune's Trial the view reads."""

    status: str
    best: float | None = None
    evaluated_params: dict[str, Any] = field(default_factory=dict)
    lowest: float = 0.0

    @property
    def metric_analysis(self) -> dict[str, dict[str, float]]:
        return {} if self.best is None else {"valid_auroc": {"max": self.best, "min": self.lowest}}


def test_the_line_counts_trials_by_state_and_names_the_best_so_far() -> None:
    trials = [FakeTrial("TERMINATED", 0.91, {"lr": 0.001234567, "kernel": 1.0}, lowest=0.5),
              FakeTrial("TERMINATED", 0.95, {"lr": 0.003, "kernel": 2.0}, lowest=0.6),
              FakeTrial("RUNNING", 0.93, {"lr": 0.01, "kernel": 1.0}, lowest=0.7),
              FakeTrial("ERROR"), FakeTrial("PENDING", evaluated_params={"lr": 0.1, "kernel": 1.0}),
              FakeTrial("RUNNING", math.nan, lowest=math.nan)]
    progress = read_progress(trials, "valid_auroc", "max", total=8, elapsed_s=125)
    assert (progress.done, progress.running, progress.failed, progress.pending) == (2, 2, 1, 3)
    # 3 of 8 ended in 125 s: 5 more take about 208 s
    assert progress.line() == ("2m05s | 2/8 trials done, 2 running, 3 pending, 1 failed | best valid_auroc 0.95 "
                               "(kernel=2, lr=0.003) | about 3m28s left")
    lowest = read_progress(trials, "valid_auroc", "min", total=8, elapsed_s=125)
    assert "| best valid_auroc 0.5 (kernel=1, lr=0.001235) |" in lowest.line()


def test_before_any_report_the_line_has_no_best_and_no_estimate() -> None:
    progress = read_progress([FakeTrial("PENDING"), FakeTrial("RUNNING")], "valid_auroc", "max", 4, 3)
    assert progress.line() == "3s | 0/4 trials done, 1 running, 3 pending"
    finished = SearchProgress("m", 2, 0, 2, 0, 0.5, (("x", 1),), 3725)
    assert finished.line() == "1h02m | 2/2 trials done, 0 running, 0 pending | best m 0.5 (x=1)"


def test_durations_read_as_a_person_reads_them() -> None:
    assert [short_duration(s) for s in (0, 42, 185, 7620, 273600)] == ["0s", "42s", "3m05s", "2h07m", "3d04h"]


def at(seconds: float, done: int = 0, best: float | None = None) -> SearchProgress:
    return SearchProgress("m", 8, 2, done, 0, best, (), seconds)


def test_plain_lines_come_when_the_state_changed_or_five_minutes_passed_and_live_ones_each_second() -> None:
    plain = Pace(interactive=False)
    moments = [at(0), at(5, 1), at(10, 1), at(15, 1, 0.9), at(30, 1, 0.9), at(40, 1, 0.9), at(329, 1, 0.9),
               at(331, 1, 0.9)]
    # the clock alone is no change; a change waits 10 s after the line before; nothing new: every 300 s
    assert [progress.elapsed_s for progress in moments if plain.due(progress, progress.elapsed_s)] == [0, 10, 30, 331]
    live = Pace(interactive=True)
    assert [p.elapsed_s for p in (at(0), at(0.5, 1), at(1.2, 1), at(1.4), at(3)) if live.due(p, p.elapsed_s)] == \
        [0, 1.2, 3]


def test_the_reporter_shows_its_lines_on_the_console(caplog: pytest.LogCaptureFixture) -> None:
    from aframe_tune.console import CONSOLE_LOGGER, LIVE
    from aframe_tune.tune.progress_reporter import SearchProgressReporter

    reporter = SearchProgressReporter("valid_auroc", "max", 2, interactive=False)
    with caplog.at_level(logging.INFO, logger=CONSOLE_LOGGER):
        assert reporter.should_report([FakeTrial("RUNNING")])
        reporter.report([FakeTrial("RUNNING")], False)
    assert [(r.getMessage(), getattr(r, LIVE)) for r in caplog.records] == [
        ("0s | 0/2 trials done, 1 running, 1 pending", True)]
    assert not reporter.should_report([FakeTrial("TERMINATED", 0.9)])  # changed, but just shown
    assert reporter.should_report([FakeTrial("TERMINATED", 0.9)], done=True)  # the end, not shown yet
    reporter.report([FakeTrial("TERMINATED", 0.9)], True)
    assert not reporter.should_report([FakeTrial("TERMINATED", 0.9)], done=True)  # shown once


class Untouchable(list):
    """Trials that must not be read."""

    def __iter__(self):
        raise AssertionError("the trials were read although no line could be due")


def test_between_lines_the_reporter_reads_no_trial() -> None:
    from aframe_tune.tune.progress_reporter import SearchProgressReporter

    reporter = SearchProgressReporter("valid_auroc", "max", 1000, interactive=True)
    assert reporter.should_report([FakeTrial("RUNNING")])  # the first line
    reporter.report([FakeTrial("RUNNING")], False)
    # Tune asks at every step of its loop: within the second, it gets its answer without a read
    assert not reporter.should_report(Untouchable([FakeTrial("RUNNING")] * 1000))
    with pytest.raises(AssertionError, match="were read"):  # the end is always read
        reporter.should_report(Untouchable([FakeTrial("TERMINATED", 0.9)]), done=True)
