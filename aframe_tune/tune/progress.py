"""Where a running search stands, in one line: trials by state, the best metric so far, time left.

Nothing here imports Ray: the line is made where Ray Tune's loop runs (this machine, or the head
of a remote search's cluster), and read back from a remote search's status (``search_status``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TrialState(StrEnum):
    """The states of Ray Tune's trials the view counts (``Trial.status``)."""

    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"


def short_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``, ``3d04h``."""
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def format_value(value: Any) -> str:
    """A hyperparameter or metric as a person reads it: 4 significant digits for floats."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class SearchProgress:
    """Where a search stands.

    Args:
        metric: the metric trials are ranked by.
        total: trials the search runs in all.
        running: trials running (or paused by the scheduler).
        done: trials that finished, completed or stopped early.
        failed: trials whose retries are spent.
        best_value: the best value of the metric reported so far, if any.
        best_params: the hyperparameters of the trial that reported it.
        elapsed_s: seconds since the search started.
    """

    metric: str
    total: int
    running: int
    done: int
    failed: int
    best_value: float | None
    best_params: tuple[tuple[str, Any], ...]
    elapsed_s: float

    @property
    def state(self) -> tuple[int, int, int, float | None]:
        """What the line says but the clock: it changes when a trial starts or ends, or the best does."""
        return self.running, self.done, self.failed, self.best_value

    @property
    def pending(self) -> int:
        return max(0, self.total - self.running - self.done - self.failed)

    @property
    def remaining_s(self) -> float | None:
        """Seconds left at the pace of the trials ended so far; None before the first ends."""
        ended = self.done + self.failed
        if ended == 0 or ended >= self.total:
            return None
        return self.elapsed_s * (self.total - ended) / ended

    def line(self) -> str:
        """One line: elapsed time, trials by state, best so far, time left."""
        states = [f"{self.done}/{self.total} trials done", f"{self.running} running", f"{self.pending} pending"]
        if self.failed:
            states.append(f"{self.failed} failed")
        parts = [short_duration(self.elapsed_s), ", ".join(states)]
        if self.best_value is not None:
            params = ", ".join(f"{key}={format_value(value)}" for key, value in self.best_params)
            parts.append(f"best {self.metric} {format_value(self.best_value)}" + (f" ({params})" if params else ""))
        remaining = self.remaining_s
        if remaining is not None:
            parts.append(f"about {short_duration(remaining)} left")
        return " | ".join(parts)


def read_progress(trials: Iterable[Any], metric: str, mode: str, total: int, elapsed_s: float) -> SearchProgress:
    """Where the search stands, from Ray Tune's trials."""
    trials = list(trials)
    states = [trial.status for trial in trials]
    best: tuple[float, Any] | None = None
    sign = 1.0 if mode == "max" else -1.0
    for trial in trials:
        value = (trial.metric_analysis.get(metric) or {}).get(mode)
        if isinstance(value, (int, float)) and not math.isnan(value):
            if best is None or sign * value > sign * best[0]:
                best = (float(value), trial)
    params: Mapping[str, Any] = (best[1].evaluated_params or {}) if best else {}
    return SearchProgress(
        metric=metric, total=max(total, len(trials)),
        running=sum(state in (TrialState.RUNNING, TrialState.PAUSED) for state in states),
        done=states.count(TrialState.TERMINATED), failed=states.count(TrialState.ERROR),
        best_value=best[0] if best else None, best_params=tuple(sorted(params.items())), elapsed_s=elapsed_s,
    )


@dataclass
class Pace:
    """When to show where the search stands: on a terminal, where the line is rewritten in place,
    every second; elsewhere (a file, ``nohup``, CI), when its state changed and ``changed_s`` have
    passed since the last line, or ``unchanged_s`` have, so that a search of days stays readable.

    Args:
        interactive: whether lines are rewritten in place on a terminal.
        changed_s: least seconds between two plain lines.
        unchanged_s: seconds after which a plain line is shown though nothing changed.
    """

    interactive: bool
    changed_s: float = 10.0
    unchanged_s: float = 300.0
    last_state: Any = None
    last_at: float = -math.inf

    def too_soon(self, now: float) -> bool:
        """Whether no line can be due at ``now`` whatever the search's progress: ``due`` need not be asked."""
        return now - self.last_at < (1.0 if self.interactive else min(self.changed_s, self.unchanged_s))

    def due(self, progress: SearchProgress, now: float) -> bool:
        """Whether ``progress`` should be shown at ``now``; if so, it counts as shown."""
        waited = now - self.last_at
        if self.interactive:
            show = waited >= 1.0
        else:
            show = waited >= self.unchanged_s or (progress.state != self.last_state and waited >= self.changed_s)
        if show:
            self.last_state, self.last_at = progress.state, now
        return show
