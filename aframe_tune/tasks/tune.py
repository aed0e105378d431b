"""The task ``run.sh`` runs: tune locally or remotely depending on the run directory."""

from __future__ import annotations

import logging
from pathlib import Path

import law
import luigi

from aframe_tune.config import s3
from aframe_tune.console import say
from aframe_tune.errors import AframeTuneError
from aframe_tune.tasks.base import TuneParameters, is_remote
from aframe_tune.tasks.local import TuneLocal
from aframe_tune.tasks.remote import TuneRemote
from aframe_tune.tune.best import BestTrial
from aframe_tune.tune.command_export import best_model_of
from aframe_tune.tune.command_spec import TrainableKind
from aframe_tune.tune.outcome import SearchOutcome
from aframe_tune.tune.s3 import S3Location, S3Storage
from aframe_tune.tune.spec import read_yaml_mapping

logger = logging.getLogger(__name__)
DEFAULT_EXPERIMENT_NAME = "tune"


class TuneTask(TuneParameters, law.WrapperTask):
    """``TuneLocal`` for a local run directory, ``TuneRemote`` for an ``s3://`` one."""

    def requires(self) -> TuneLocal | TuneRemote:
        task = TuneRemote if is_remote(self.resolved_run_dir) else TuneLocal
        return task.req(self, run_dir=self.resolved_run_dir)

    def read_best_trial(self) -> BestTrial:
        """The finished search's best.json."""
        run_dir = self.resolved_run_dir
        if is_remote(run_dir):
            location = S3Location.parse(run_dir).child("best.json")
            return BestTrial.from_json(S3Storage(s3().endpoint_url or None).read_text(location), location.url)
        path = Path(run_dir).expanduser() / "best.json"
        return BestTrial.from_json(path.read_text(), str(path))

    def experiment_name(self) -> str:
        """tune.yaml's ``run_config.name``, if it can be read."""
        try:
            run_config = read_yaml_mapping(self.config_file("tune_config")).get("run_config")
        except AframeTuneError:
            return DEFAULT_EXPERIMENT_NAME
        name = run_config.get("name") if isinstance(run_config, dict) else None
        return str(name) if name else DEFAULT_EXPERIMENT_NAME


@TuneTask.event_handler(luigi.Event.DEPENDENCY_PRESENT)
def tell_the_search_is_finished(task: luigi.Task) -> None:
    """luigi found the search finished before running anything: say so, with its result."""
    if not isinstance(task, TuneTask):
        return
    say("Nothing to do: the search in %s finished earlier.", task.resolved_run_dir)
    try:
        best = task.read_best_trial()
    except (OSError, AframeTuneError) as error:
        logger.warning("Cannot show its best trial: %s", error)
        return
    model = best_model_of(task.trainable() is TrainableKind.COMMAND, best)
    say("\n".join(SearchOutcome(best, task.resolved_run_dir, task.experiment_name(), model=model).lines()))
