"""Tuning on this machine: a local Ray instance, storage in a local run directory."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import law

from aframe_tune.config import OptionalCountParameter, check_positive, data
from aframe_tune.console import end_live, say
from aframe_tune.errors import ConfigError, Problems
from aframe_tune.scaffold import nearest_existing
from aframe_tune.signals import install_stop_handlers
from aframe_tune.tasks.base import TuneParameters, is_remote, progress_view, search_loggers
from aframe_tune.tasks.lock import run_directory_lock
from aframe_tune.tasks.logs import library_lines_shown, route_logs_through_root
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.best import BestTrial
from aframe_tune.tune.command_export import best_model_of, export_best_command_trial
from aframe_tune.tune.command_spec import TrainableKind
from aframe_tune.tune.local_ray import RayStarting, joins_a_cluster
from aframe_tune.tune.outcome import SearchOutcome, plural, trials_planned
from aframe_tune.tune.spec import TuneSpec

logger = logging.getLogger(__name__)

# Ray Tune saves the experiment state (which trials finished) every 10 s or more by default,
# so a driver killed with SIGKILL could forget a trial that had just finished, and the resumed
# search would train it again. In a local directory the save takes milliseconds: save every
# second, for up to this many trials. Each save writes every trial, so a larger search saves
# less often, in proportion (10 s for 1,000 trials), lest the saving grow with the search
# (measured: 1,000 one-step trials took 0.26 s each saving every second, 0.20 s every 10 s).
# A user's own TUNE_GLOBAL_CHECKPOINT_S wins.
TRIALS_SAVED_EVERY_SECOND = 100


def state_save_period_s(trials: int) -> str:
    """Ray Tune's ``TUNE_GLOBAL_CHECKPOINT_S`` for a local search of ``trials`` trials."""
    return f"{max(1.0, trials / TRIALS_SAVED_EVERY_SECOND):g}"


def check_writable_directory(path: Path, what: str) -> None:
    """The directory exists and is writable, or can be created."""
    existing = nearest_existing(path)
    if not existing.is_dir():
        raise ConfigError(f"{what} {path}: {existing} is a file, not a directory; choose another run directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: {existing} is not writable by you; choose a run directory you can "
                          "write to (AFRAME_TRAIN_RUN_DIR in run.sh)")


@dataclass(frozen=True)
class LocalSearch:
    """A checked local search, ready to run.

    Args:
        spec: what aframe-tune acts on in tune.yaml.
        arguments: lightray's arguments.
        run_dir: the local run directory.
    """

    spec: TuneSpec
    arguments: LightrayArguments
    run_dir: Path


class TuneLocal(TuneParameters):
    """Run the search on a Ray instance on this machine and export the best trial to ``best.pt``."""

    cpus = OptionalCountParameter(
        default=None,
        significant=False,
        description="CPUs the local Ray instance may use; default: all of the machine's",
    )

    def output(self) -> law.LocalFileTarget:
        # a command's search has no model to export: its result is best.json
        result = "best.json" if self.trainable() is TrainableKind.COMMAND else "best.pt"
        return law.LocalFileTarget(str(Path(self.resolved_run_dir).expanduser() / result))

    def check_inputs(self) -> LocalSearch:
        """Check every input before Ray starts or anything is written; all problems at once."""
        from aframe_tune.tune.inputs import check_search_inputs
        from aframe_tune.tune.local_ray import prepare_ray_environment
        from aframe_tune.tune.train_config import TrainConfig

        problems = Problems()
        run_dir = tune_path = train_path = spec = None
        with problems.check():
            run_dir_text = self.resolved_run_dir
            if is_remote(run_dir_text):
                raise ConfigError(f"TuneLocal needs a local run directory, not {run_dir_text}; use TuneTask, "
                                  "which picks TuneRemote for s3:// run directories")
            run_dir = Path(run_dir_text).expanduser().resolve()
            check_writable_directory(run_dir, "AFRAME_TRAIN_RUN_DIR")
        with problems.check():
            tune_path = self.config_file("tune_config")
        trainable = self.trainable()
        command = trainable is TrainableKind.COMMAND
        if trainable is TrainableKind.LIGHTNING:
            with problems.check():
                train_path = self.config_file("train_config")
        with problems.check():
            if self.cpus is not None:
                check_positive(self.cpus, "TuneLocal", "cpus")
        train_overrides = () if command else tuple(data().lightning_args())
        # Checking imports Ray, which reads its environment once.
        prepare_ray_environment()
        if tune_path and (train_path or trainable is not TrainableKind.LIGHTNING):
            with problems.check():
                train = TrainConfig(train_path, train_overrides) if train_path else None
                spec = check_search_inputs(tune_path, train)
        if spec is not None and not joins_a_cluster():
            with problems.check():
                self._check_trial_fits(spec)
        loggers = None
        with problems.check():
            loggers = search_loggers(spec.experiment_name if spec else "tune")
        problems.raise_if_any()
        if not (run_dir and tune_path and spec):  # never: each was checked above
            raise ConfigError("the search's inputs could not be checked")
        arguments = LightrayArguments(
            tune_config=tune_path,
            train_config=train_path,
            storage_path=str(run_dir),
            tune_overrides=spec.lightray_overrides(),
            train_overrides=train_overrides,
            cpus_per_trial=spec.cpus_per_trial,
            gpus_per_trial=spec.gpus_per_trial,
            keep_stop_handlers=True,
            loggers=loggers,
        )
        return LocalSearch(spec, arguments, run_dir)

    def _check_trial_fits(self, spec: TuneSpec) -> None:
        """A trial that asks for more than the local Ray instance has would wait forever."""
        cpus = self.cpus or os.cpu_count() or 1
        if spec.cpus_per_trial > cpus:
            raise ConfigError(
                f"{spec.path}: cpus_per_trial = {spec.cpus_per_trial}, but the local Ray instance has {cpus} "
                "CPUs, so no trial could start; lower cpus_per_trial or raise [luigi_TuneLocal] cpus in tune.cfg",
                key=f"{spec.path}::cpus_per_trial")
        if spec.gpus_per_trial > 0:
            import torch

            if torch.cuda.device_count() == 0:
                raise ConfigError(
                    f"{spec.path}: gpus_per_trial = {spec.gpus_per_trial}, but this machine has no GPU Ray can "
                    "use, so no trial could start; set gpus_per_trial: 0 (and trainer.accelerator: cpu in "
                    "train.yaml), or tune on a GPU machine", key=f"{spec.path}::gpus_per_trial")

    def announce(self, search: LocalSearch) -> None:
        """Say what the run is about to do, once everything is checked."""
        where = (f"the Ray cluster at {os.environ['RAY_ADDRESS']}" if joins_a_cluster()
                 else f"this machine ({plural(self.cpus or os.cpu_count() or 1, 'CPU')})")
        say("Tuning on %s: %s; results in %s", where, trials_planned(search.spec), search.run_dir)

    def run(self) -> None:
        route_logs_through_root()
        install_stop_handlers()
        quiet = not library_lines_shown()
        # Ray starts while the inputs are checked; a mistake is still reported before anything
        # is written, and the Ray instance goes with this process
        ray_starting = RayStarting(self.cpus, quiet=quiet)
        search = self.check_inputs()
        self.announce(search)

        # imported once the checks passed: torch, Lightning and Ray take seconds to import
        from aframe_tune.tune.credentials import aws_keys_in_a_private_file, wandb_key_in_a_private_netrc
        from aframe_tune.tune.handoff import run_search
        from aframe_tune.tune.results import check_search_finished

        os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", state_save_period_s(search.spec.num_samples))
        # Tune warns, three lines each time, when trials that checkpoint at every short step make it
        # save the experiment's state often; in a local directory that save takes milliseconds
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
        # AWS and W&B keys in the user's environment would end up on Ray workers' command lines
        with run_directory_lock(search.run_dir), aws_keys_in_a_private_file(), wandb_key_in_a_private_netrc():
            started = time.monotonic()
            ray_starting.wait()
            results = run_search(search.arguments, progress=progress_view(search.spec) if quiet else None,
                                 command=search.spec.command, metric=search.spec.metric)
            end_live()
            check_search_finished(results, search.spec.num_samples)
            best = export_best(results, search)
        outcome = SearchOutcome.of_search(best, str(search.run_dir), search.spec.experiment_name, results,
                                          elapsed_s=time.monotonic() - started, model=best_model_of(search.spec.runs_a_command, best))
        say("\n".join(outcome.lines()))


def export_best(results: Any, search: LocalSearch) -> BestTrial:
    """``best.pt`` and ``best.json`` of a model's search; ``best.json`` (and ``best/``) of a command's."""
    if search.spec.runs_a_command:
        return export_best_command_trial(results, search.spec, search.run_dir)
    # imported here: torch and Lightning take seconds to import
    from aframe_tune.tune.export import export_best_trial

    train_config = search.arguments.train_config
    if train_config is None:  # never: a model's search has its train.yaml
        raise ConfigError("the model's train.yaml is missing")
    return export_best_trial(results, search.spec, train_config, search.arguments.train_overrides, search.run_dir)
