"""Running one search and reading what its trials recorded."""

from __future__ import annotations

import json
import signal
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.contenders import Launch, finished, stop_group
from bench.driver_memory import DriverMemory


@dataclass(frozen=True)
class TrialTiming:
    """One trial as its events tell it (times are seconds since the epoch)."""

    trial: str
    pid: int
    start: float
    first_step: float | None
    end: float | None
    compute_s: float

    @property
    def setup_s(self) -> float | None:
        """From the trial's code starting to its first training step."""
        return None if self.first_step is None else self.first_step - self.start


def read_trials(events: Path, since: float = 0.0) -> list[TrialTiming]:
    """Every run of a trial that started at or after ``since``, in order of starting.

    A trial started again in a process (restored by a resume, or by a scheduler that paused it)
    is another run; a run's compute is its last ``progress`` or its ``end``.
    """
    runs: list[dict] = []
    current: dict[tuple[str, int], dict] = {}
    for path in events.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event["t"] < since:
                continue
            key = (event["trial"], event["pid"])
            if event["event"] == "start":
                current[key] = {"trial": event["trial"], "pid": event["pid"], "start": event["t"],
                                "first_step": None, "end": None, "compute_s": 0.0}
                runs.append(current[key])
            elif key not in current:
                continue
            elif event["event"] == "first_step" and current[key]["first_step"] is None:
                current[key]["first_step"] = event["t"]
            elif event["event"] == "progress":
                current[key]["compute_s"] = event["compute_s"]
            elif event["event"] == "end":
                current[key].update(end=event["t"], compute_s=event["compute_s"])
    return sorted((TrialTiming(**run) for run in runs), key=lambda trial: trial.start)


@dataclass(frozen=True)
class SearchRun:
    """One complete search.

    Args:
        contender: who ran it.
        wall_s: from starting the process to its exit.
        concurrency: trials that could run at once.
        trials: the trials' own timings.
        launched: when its process was started (seconds since the epoch).
        driver_peak_rss_mb: the peak resident memory of its driver (``bench.driver_memory``).
    """

    contender: str
    wall_s: float
    concurrency: int
    trials: list[TrialTiming]
    launched: float
    driver_peak_rss_mb: float = float("nan")

    @property
    def compute_s(self) -> float:
        return sum(trial.compute_s for trial in self.trials)

    @property
    def ideal_s(self) -> float:
        """The wall time of a perfect orchestrator: the trials' compute spread over the slots."""
        return self.compute_s / self.concurrency

    @property
    def overhead_ratio(self) -> float:
        return self.wall_s / self.ideal_s

    @property
    def time_to_first_trial_s(self) -> float:
        return min(t.first_step for t in self.trials if t.first_step) - self.launched

    @property
    def setup_first_s(self) -> float:
        """Set-up of the first trial to start."""
        return self.trials[0].setup_s or float("nan")

    @property
    def setup_later_s(self) -> float:
        """Median set-up of the trials after the first wave (those that start once the first
        ``concurrency`` trials are under way, with whatever they left behind)."""
        later = [t.setup_s for t in self.trials[self.concurrency:] if t.setup_s is not None]
        return statistics.median(later) if later else float("nan")

    def as_json(self) -> dict:
        return {
            "contender": self.contender, "wall_s": self.wall_s, "compute_s": self.compute_s,
            "ideal_s": self.ideal_s, "overhead_ratio": self.overhead_ratio,
            "time_to_first_trial_s": self.time_to_first_trial_s, "setup_first_s": self.setup_first_s,
            "setup_later_s": self.setup_later_s, "trials": len(self.trials),
            "setups_s": [t.setup_s for t in self.trials], "driver_peak_rss_mb": self.driver_peak_rss_mb,
        }


class SearchFailed(RuntimeError):
    """A contender did not finish its search; the message ends with its output."""


def _failure(launch: Launch, what: str) -> SearchFailed:
    tail = launch.log.read_text()[-4000:] if launch.log.exists() else ""
    return SearchFailed(f"{launch.contender} {what} ({launch.directory}):\n{tail}")


def run_search(launch: Launch, concurrency: int, timeout_s: float) -> SearchRun:
    """Run ``launch`` to completion and time it."""
    launch.prepare()
    process, launched = launch.start()
    with DriverMemory(process.pid) as memory:
        try:
            process.wait(timeout_s)
        except Exception:
            stop_group(process)
            raise _failure(launch, f"did not finish within {timeout_s:.0f} s") from None
        wall = time.time() - launched
    stop_group(process)
    if not finished(launch, process):
        raise _failure(launch, f"did not finish its search (exit status {process.returncode})")
    return SearchRun(launch.contender, wall, concurrency, read_trials(launch.events), launched, memory.peak_mb)


def _wait_for(condition, process, launch: Launch, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            raise _failure(launch, f"exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            stop_group(process)
            raise _failure(launch, f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass(frozen=True)
class ResumeRun:
    """An interrupted search started again.

    Args:
        contender: who ran it.
        resume_s: from starting the process again to the first resumed training step.
        restored: whether the trials that ran after the restart were the interrupted search's own.
    """

    contender: str
    resume_s: float
    restored: bool

    def as_json(self) -> dict:
        return {"contender": self.contender, "resume_s": self.resume_s, "restored": self.restored}


def run_resume(launch: Launch, timeout_s: float) -> ResumeRun:
    """Interrupt a search with Ctrl-C once a trial has finished, start it again and time the
    restart up to its first training step."""
    launch.prepare()
    process, launched = launch.start()

    def a_trial_ended() -> bool:
        return any(t.end for t in read_trials(launch.events))

    _wait_for(a_trial_ended, process, launch, timeout_s, "a trial finished")
    # Ctrl-C goes to the driver alone; Ray Tune saves the experiment and stops
    process.send_signal(signal.SIGINT)
    try:
        process.wait(120)
    except Exception:
        pass
    stop_group(process)
    before = read_trials(launch.events)
    process, relaunched = launch.start()
    try:
        def first_resumed_step() -> float | None:
            steps = [t.first_step for t in read_trials(launch.events, since=relaunched) if t.first_step]
            return min(steps) if steps else None

        first = _wait_for(first_resumed_step, process, launch, timeout_s, "the first resumed training step")
        after = read_trials(launch.events, since=relaunched)
    finally:
        stop_group(process)
    return ResumeRun(launch.contender, first - relaunched, restored=resumed(before, after))


def resumed(before: list[TrialTiming], after: list[TrialTiming]) -> bool:
    """Whether the trials run after a restart are the interrupted search's, and none that had
    ended is trained again. Ray Tune's trial ids are the experiment's id and an index: a
    restored search keeps them (its interrupted trials, and those still pending when the
    Ctrl-C came), a fresh search has a new experiment id."""
    def experiment(trial: TrialTiming) -> str:
        return trial.trial.rsplit("_", 1)[0]

    ended = {trial.trial for trial in before if trial.end}
    return (bool(after) and {experiment(t) for t in after} == {experiment(t) for t in before}
            and not ended & {trial.trial for trial in after})
