"""The Ray Tune progress reporter ``run.sh`` shows a search with at the default log level.

It replaces Tune's tables with one :class:`~aframe_tune.tune.progress.SearchProgress` line. Where
Tune's loop runs on a cluster (a Ray Client connection), Tune runs the reporter there and hands
each line back through a queue to :meth:`SearchProgressReporter.display` in this process. So that
the cluster's image needs no aframe-tune, this module and ``progress`` are pickled by value
(:func:`ship_by_value`), and the sink that shows the lines stays behind in this process.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from ray import cloudpickle
from ray.tune import ProgressReporter
from ray.tune.progress_reporter import RemoteReporterMixin

from aframe_tune.tune import progress
from aframe_tune.tune.progress import Pace, read_progress


class SearchProgressReporter(ProgressReporter, RemoteReporterMixin):
    """Shows :class:`SearchProgress` lines through ``sink`` as Ray Tune reports progress.

    Args:
        metric: the metric trials are ranked by.
        mode: ``"min"`` or ``"max"``.
        total: trials the search runs in all.
        sink: shows a line (in this process only; not pickled).
        interactive: whether the sink rewrites lines in place (a terminal).
    """

    def __init__(self, metric: str, mode: str, total: int, sink: Callable[[str], None], interactive: bool) -> None:
        self.metric, self.mode, self.total = metric, mode, total
        self.sink: Callable[[str], None] | None = sink
        self.pace = Pace(interactive)
        self.start_time = time.time()
        self._line = ""
        self._state: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "sink": None}

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
        if self.sink is not None:  # None where Tune's loop runs on a cluster: the line went back
            self.sink(string)


def ship_by_value() -> None:
    """Have Ray pickle the reporter by value, for a cluster whose image lacks aframe-tune."""
    for module in (progress, sys.modules[__name__]):
        cloudpickle.register_pickle_by_value(module)
