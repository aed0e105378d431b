"""The Ray Tune progress reporter ``run.sh`` shows a search with at the default log level.

It replaces Tune's tables with one :class:`~aframe_tune.tune.progress.SearchProgress` line. Where
Tune's loop runs on a cluster (a Ray Client connection), Tune runs the reporter there and hands
each line back through a queue to :meth:`SearchProgressReporter.display` in this process. So that
the cluster's image needs no aframe-tune, this module and ``progress`` are pickled by value
(:func:`ship_by_value`). Lines are shown through the console's logger, by its name: on the
cluster it has no handler, and the copy of the reporter Tune hands the lines to here (unpickled
from the cluster's) finds this process's console by that name.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from ray import cloudpickle
from ray.tune import ProgressReporter
from ray.tune.progress_reporter import RemoteReporterMixin

from aframe_tune.console import CONSOLE_LOGGER, LIVE
from aframe_tune.tune import progress
from aframe_tune.tune.progress import Pace, read_progress


class SearchProgressReporter(ProgressReporter, RemoteReporterMixin):
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
        self._line = ""
        self._state: Any = None

    def setup(self, start_time: float | None = None, total_samples: int | None = None, **kwargs: Any) -> None:
        self.start_time = start_time or self.start_time

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        progress = read_progress(trials, self.metric, self.mode, self.total, time.time() - self.start_time)
        self._line, self._state = progress.line(), progress.state
        # the last report shows the end, unless the line showing it was just shown
        return self.pace.due(progress, time.monotonic()) or (done and progress.state != self.pace.last_state)

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        self.pace.last_state = self._state
        if self.output_queue is not None:  # Tune's loop runs on the cluster: the line goes back
            self.output_queue.put(self._line)
        else:
            self.display(self._line)

    def display(self, string: str) -> None:
        logging.getLogger(CONSOLE_LOGGER).info(string, extra={LIVE: True})


def ship_by_value() -> None:
    """Have Ray pickle the reporter by value, for a cluster whose image lacks aframe-tune."""
    for module in (progress, sys.modules[__name__]):
        cloudpickle.register_pickle_by_value(module)
