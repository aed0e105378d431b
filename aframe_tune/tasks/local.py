"""Tuning on this machine: a local Ray instance, storage in a local run directory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import law
import luigi

from aframe_tune.config import data
from aframe_tune.errors import ConfigError
from aframe_tune.tasks.base import TuneParameters, is_remote
from aframe_tune.tasks.lock import run_directory_lock
from aframe_tune.tasks.logs import route_logs_through_root
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.results import check_search_finished
from aframe_tune.tune.spec import load_tune_spec

logger = logging.getLogger(__name__)

# Ray Tune saves the experiment state (which trials finished) every 10 s or more by default,
# so a driver killed with SIGKILL could forget a trial that had just finished, and the resumed
# search would train it again. In a local directory the save takes milliseconds: save every
# second. A user's own TUNE_GLOBAL_CHECKPOINT_S wins.
LOCAL_STATE_SAVE_PERIOD_S = "1"


class TuneLocal(TuneParameters):
    """Run the search on a Ray instance on this machine and export the best trial to ``best.pt``."""

    cpus = luigi.OptionalIntParameter(
        default=None,
        significant=False,
        description="CPUs the local Ray instance may use; default: all of the machine's",
    )

    def output(self) -> law.LocalFileTarget:
        return law.LocalFileTarget(str(Path(self.resolved_run_dir).expanduser() / "best.pt"))

    def run(self) -> None:
        route_logs_through_root()
        run_dir_text = self.resolved_run_dir
        if is_remote(run_dir_text):
            raise ConfigError(
                f"TuneLocal needs a local run directory, not {run_dir_text}; use TuneTask, "
                "which picks TuneRemote for s3:// run directories"
            )
        # Validate everything before starting Ray or writing anything.
        tune_path = self.config_file("tune_config")
        train_path = self.config_file("train_config")
        spec = load_tune_spec(tune_path)
        spec.import_cli_class()
        run_dir = Path(run_dir_text).expanduser().resolve()
        train_overrides = tuple(data().lightning_args())
        arguments = LightrayArguments(
            tune_config=tune_path,
            train_config=train_path,
            storage_path=str(run_dir),
            tune_overrides=spec.lightray_overrides(),
            train_overrides=train_overrides,
        )

        from aframe_tune.tune.credentials import aws_keys_in_a_private_file
        from aframe_tune.tune.export import export_best_trial
        from aframe_tune.tune.handoff import run_lightray
        from aframe_tune.tune.local_ray import start_or_join_ray

        os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", LOCAL_STATE_SAVE_PERIOD_S)
        # AWS keys in the user's environment would end up on trial workers' command lines
        with run_directory_lock(run_dir), aws_keys_in_a_private_file():
            start_or_join_ray(self.cpus)
            results = run_lightray(arguments)
            check_search_finished(results, spec.num_samples)
            export_best_trial(results, spec, train_path, train_overrides, run_dir)
