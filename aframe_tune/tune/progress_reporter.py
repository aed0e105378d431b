"""The Ray Tune progress reporter ``run.sh`` shows a local search with at the default log level.

It replaces Tune's tables with one :class:`~aframe_tune.tune.progress.SearchProgress` line. (A
remote search runs in the cluster and records its progress in S3 instead, ``tune/cluster_search.py``.)
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import ProgressReporter

from aframe_tune.console import show_live
from aframe_tune.tune.progress import Pace, SearchProgress, read_progress


class SearchProgressReporter(ProgressReporter):
    """Shows :class:`SearchProgress` lines as the console's live line as Ray Tune reports progress.

    Args:
        metric: the metric trials are ranked by.
        mode: ``"min"`` or ``"max"``.
        total: trials the search runs in all.
        interactive: whether the console rewrites lines in place (a terminal).
    """

    def __init__(self, metric: str, mode: str, total: int, interactive: bool) -> None:
        self.metric, self.mode, self.total = metric, mode, total
        self.pace = Pace(interactive)
        self.start_time = time.time()
        self._progress: SearchProgress | None = None

    def setup(self, start_time: float | None = None, total_samples: int | None = None, **kwargs: Any) -> None:
        self.start_time = start_time or self.start_time

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        # Tune asks at every step of its loop; reading every trial each time would make a search
        # of thousands of trials pay for its size at every step
        if not done and self.pace.too_soon(time.monotonic()):
            return False
        self._progress = read_progress(trials, self.metric, self.mode, self.total, time.time() - self.start_time)
        # the last report shows the end, unless the line showing it was just shown
        return (self.pace.due(self._progress, time.monotonic())
                or (done and self._progress.state != self.pace.last_state))

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        if self._progress is None:  # Tune asks should_report first; this is for any other caller
            self.should_report(trials, done)
        self.pace.last_state = self._progress.state
        self.display(self._progress.line())

    def display(self, string: str) -> None:
        show_live(string)
