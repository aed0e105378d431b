"""Ray Tune's trainable for any training command (tune.yaml ``trainable: command``).

Each trial starts the command (``repeat`` times, one seed each) with its hyperparameters in the
placeholders of ``trial_command``, and reports each step's metrics as they appear, the mean over
the seeds, so that schedulers work as with any trainable. A trial a scheduler stops has its
command's whole process group ended. A command that exits non-zero, or reports nothing new for
``stall_timeout`` seconds, fails the trial (which ``failure_config`` may retry) with its last
lines of output in the error.

What the command saves in ``{checkpoint_dir}`` becomes the trial's checkpoint whenever it
changed, and is put back there before a retried or resumed trial starts its command again.

Imports Ray: import it only where the search runs.
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.result import RESULT_DUPLICATE, SHOULD_CHECKPOINT

from aframe_tune.errors import TuningError
from aframe_tune.tune.command_spec import CHECKPOINT_DIR, PYTHON, SEED, TRIAL_DIR, CommandSpec
from aframe_tune.tune.metric_readers import MetricRow, metric_reader
from aframe_tune.tune.trial_process import TrialProcess

# seconds between looks at the command's metrics
POLL_S = 0.2


def folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What a folder holds, by name, size and modification time: it changed if this did."""
    if not folder.is_dir():
        return ()
    return tuple(sorted((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns)
                        for path in folder.rglob("*") if path.is_file() and (stat := path.stat())))


def mean_row(rows: list[MetricRow]) -> dict[str, float]:
    """Each metric's mean over the runs that report it."""
    names = {name for row in rows for name in row.values}
    return {name: sum(values) / len(values)
            for name in sorted(names) if (values := [row.values[name] for row in rows if name in row.values])}


@dataclass
class CommandRun:
    """One seed's run of the command, and the steps it completed that are not reported yet."""

    seed: int
    process: TrialProcess
    queued: collections.deque[MetricRow] = field(default_factory=collections.deque)
    last_row_at: float = field(default_factory=time.monotonic)
    exit_code: int | None = None

    def collect(self) -> None:
        rows = self.process.poll_rows()
        if rows:
            self.queued.extend(rows)
            self.last_row_at = time.monotonic()
        if self.exit_code is None:
            self.exit_code = self.process.exit_code()
            if self.exit_code is not None:
                self.queued.extend(self.process.poll_rows())  # written just before it ended

    @property
    def ready(self) -> bool:
        """It has a step to report, or will have none any more."""
        return bool(self.queued) or self.exit_code is not None


class CommandTrainable(tune.Trainable):
    """A trial of a command; ``tune.with_parameters`` gives it the checked :class:`CommandSpec` and
    the ranking metric."""

    def setup(self, config: dict[str, Any], spec: CommandSpec | None = None, metric: str = "") -> None:
        if spec is None:
            raise TuningError("the command trainable was started without its trial_command")
        self.spec = spec
        self.metric = metric
        self.checkpoints = Path(tempfile.mkdtemp(prefix="aframe-tune-checkpoint-"))
        self.saved = folder_signature(self.checkpoints)
        self.runs: list[CommandRun] = []

    def _start(self, seed: int) -> CommandRun:
        several = self.spec.repeat > 1
        folder = Path(self.logdir) / f"seed_{seed}" if several else Path(self.logdir)
        checkpoints = self.checkpoints / f"seed_{seed}" if several else self.checkpoints
        checkpoints.mkdir(parents=True, exist_ok=True)
        values = {**self.config, PYTHON: sys.executable, TRIAL_DIR: folder, CHECKPOINT_DIR: checkpoints, SEED: seed}
        reader = metric_reader(self.spec.metrics.kind, self.spec.metrics_path(values), self.metric)
        # the trial's process works in its trial folder; the command where the experiment's files are
        cwd = Path(self.spec.working_dir)
        if not self.spec.working_dir or not cwd.is_dir():
            cwd = Path(os.environ.get("TUNE_ORIG_WORKING_DIR", os.getcwd()))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return CommandRun(seed, TrialProcess(self.spec.command_for(values), cwd, folder, reader, env))

    def step(self) -> dict[str, Any]:
        if not self.runs:
            self.runs = [self._start(seed) for seed in range(self.spec.repeat)]
        while True:
            for run in self.runs:
                run.collect()
            self._fail_if_any_failed()
            if all(run.ready for run in self.runs):
                rows = [run.queued.popleft() for run in self.runs if run.queued]
                if not rows:  # every run ended, and everything was reported
                    return {RESULT_DUPLICATE: True}
                return self._result(rows)
            self._fail_if_stalled()
            time.sleep(POLL_S)

    def _result(self, rows: list[MetricRow]) -> dict[str, Any]:
        result: dict[str, Any] = mean_row(rows)
        signature = folder_signature(self.checkpoints)
        if signature != self.saved:
            result[SHOULD_CHECKPOINT] = True
        return result

    def _fail_if_any_failed(self) -> None:
        for run in self.runs:
            if run.exit_code not in (None, 0):
                raise TuningError(self._failure(run, f"exited with status {run.exit_code}"))

    def _fail_if_stalled(self) -> None:
        now = time.monotonic()
        for run in self.runs:
            if run.exit_code is None and now - run.last_row_at > self.spec.stall_timeout_s:
                raise TuningError(self._failure(
                    run, f"reported no new {self.metric} for {self.spec.stall_timeout_s:g} s (stall_timeout)"))

    def _failure(self, run: CommandRun, what: str) -> str:
        seed = f" (seed {run.seed})" if self.spec.repeat > 1 else ""
        tail = run.process.tail()
        lines = f"; its last lines:\n{tail}" if tail else "; it printed nothing"
        return f"the trial's command{seed} {what}: {' '.join(run.process.argv)}{lines}"

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        self.saved = folder_signature(self.checkpoints)
        shutil.copytree(self.checkpoints, checkpoint_dir, dirs_exist_ok=True)

    def load_checkpoint(self, checkpoint: str | dict | None) -> None:
        if not isinstance(checkpoint, str):
            return
        shutil.rmtree(self.checkpoints, ignore_errors=True)
        shutil.copytree(checkpoint, self.checkpoints)
        self.saved = folder_signature(self.checkpoints)

    def cleanup(self) -> None:
        for run in self.runs:
            run.process.end()
        shutil.rmtree(self.checkpoints, ignore_errors=True)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        return False  # a new configuration is a new command: a new trial process
