"""The search of a remote run, as it runs on the Ray head: ``python -m aframe_tune.tune.cluster_search``.

The release's search Job submits this module through Ray's Jobs API (``cluster/search_job.py``).
It reads the experiment the release carries (tune.yaml, train.yaml and the checked settings,
mounted from a ConfigMap at ``$AFRAME_TUNE_EXPERIMENT``), checks it again where it runs, runs the
search on this cluster, exports ``best.pt``/``best.json`` to the S3 run directory, and records
where it stands in ``search-status.json`` beside them as it goes, for ``run.sh`` and
``aframe-tune status`` to read from anywhere.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
from ray.tune import ProgressReporter

from aframe_tune.errors import AframeTuneError, TuningError
from aframe_tune.signals import StoppedBySignal
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.best import BestTrial
from aframe_tune.tune.command_export import best_model_of, export_best_command_trial
from aframe_tune.tune.command_spec import BEST_FOLDER
from aframe_tune.tune.cluster_settings import EXPERIMENT_ENV, SETTINGS_FILE, TRAIN_FILE, TUNE_FILE, ClusterSearchSettings
from aframe_tune.tune.export import export_best_trial
from aframe_tune.tune.handoff import run_search
from aframe_tune.tune.inputs import check_search_inputs
from aframe_tune.tune.loggers import usable_on_cluster
from aframe_tune.tune.outcome import SearchOutcome
from aframe_tune.tune.progress import Pace, SearchProgress, read_progress
from aframe_tune.tune.results import check_search_finished
from aframe_tune.tune.s3 import S3Location, S3Storage
from aframe_tune.tune.search_status import STATUS_FILE, STOP_FILE, SearchState, SearchStatus
from aframe_tune.tune.spec import TuneSpec
from aframe_tune.tune.train_config import TrainConfig

logger = logging.getLogger(__name__)

# the least seconds between two writes of the status while trials start and end
STATUS_EVERY_S = 3.0
# seconds between two looks for a stop request
STOP_CHECK_EVERY_S = 5.0
# the status recorder of this process's search (see StatusReporter.recorder)
_RECORDER: StatusRecorder | None = None


class StatusRecorder:
    """Writes the search's :class:`SearchStatus` to S3; a failed write is logged, never raised,
    since the search matters more than its record."""

    def __init__(self, run_dir: str, release: str) -> None:
        self.run_dir = S3Location.parse(run_dir)
        self.location = self.run_dir.child(STATUS_FILE)
        now = time.time()
        self.status = SearchStatus(SearchState.STARTING, release, now, now)
        self._storage: S3Storage | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Tune saves its run configuration, this reporter's recorder included, with pickle; an S3
        # client holds an SSL context, which pickle cannot take, and is made again where needed
        return {**self.__dict__, "_storage": None}

    def stop_requested(self) -> bool:
        """Whether ``aframe-tune stop`` asked this release's search to stop."""
        location = self.run_dir.child(STOP_FILE)
        try:
            self._storage = self._storage or S3Storage()
            return self._storage.exists(location) and self._storage.read_text(location).strip() == self.status.release
        except AframeTuneError as error:
            logger.info("Could not check for a stop request: %s", error)
            return False

    def record(self, state: SearchState, progress: SearchProgress | None = None, message: str = "") -> None:
        self.status = self.status.moved_on(state, progress, message)
        try:
            self._storage = self._storage or S3Storage()  # the pods' endpoint, from AWS_ENDPOINT_URL
            self._storage.write_text(self.status.to_json(), self.location)
        except AframeTuneError as error:
            logger.warning("Could not record the search's status: %s", error)


class StatusReporter(ProgressReporter):
    """A Ray Tune progress reporter that records the status and logs the progress line (the
    search's log, which ``aframe-tune logs`` shows), when it changed, at most every few seconds.

    Args:
        recorder: where the status goes.
        metric: the metric trials are ranked by.
        mode: ``"min"`` or ``"max"``.
        total: trials the search runs in all.
    """

    def __init__(self, recorder: StatusRecorder, metric: str, mode: str, total: int) -> None:
        global _RECORDER
        _RECORDER = recorder
        self.metric, self.mode, self.total = metric, mode, total
        self.pace = Pace(interactive=False, changed_s=STATUS_EVERY_S, unchanged_s=60.0)
        self.progress: SearchProgress | None = None
        self.stopping = False
        self._stop_checked = 0.0

    @property
    def recorder(self) -> StatusRecorder:
        """This process's recorder, never one pickled with the reporter: a restored search gets its
        run configuration, this reporter included, from the earlier run's pickle, and would
        otherwise record (and obey stop requests) under the earlier release's name."""
        if _RECORDER is None:
            raise TuningError("the search's status reporter runs without a status recorder")
        return _RECORDER

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, stopping=False, _stop_checked=0.0)

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        elapsed = time.time() - self.recorder.status.started_at
        self.progress = read_progress(trials, self.metric, self.mode, self.total, elapsed)
        self._stop_if_asked()
        return self.pace.due(self.progress, time.monotonic()) or done

    def _stop_if_asked(self) -> None:
        """Stop the search, as Ctrl-C would (Tune saves its state), once ``aframe-tune stop`` asked."""
        now = time.monotonic()
        if self.stopping or now - self._stop_checked < STOP_CHECK_EVERY_S:
            return
        self._stop_checked = now
        if self.recorder.stop_requested():
            self.stopping = True
            logger.warning("Stopping the search, as aframe-tune stop asked; its state is saved for run.sh to resume")
            os.kill(os.getpid(), signal.SIGINT)

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        if self.progress is None:
            self.should_report(trials, done)
        self.recorder.record(SearchState.RUNNING, self.progress)
        logger.info("%s", self.progress.line())


def checked_search(folder: Path, settings: ClusterSearchSettings) -> tuple[TuneSpec, LightrayArguments]:
    """The experiment's files checked again here, where the model's code is imported from the
    image, git-sync or ``ship_code``; returns what the search runs. A command's search has no
    train.yaml."""
    train_path = folder / TRAIN_FILE
    train = TrainConfig(train_path, settings.train_overrides) if train_path.is_file() else None
    spec = check_search_inputs(folder / TUNE_FILE, train)
    arguments = LightrayArguments(
        tune_config=folder / TUNE_FILE, train_config=train_path if train else None, storage_path=settings.run_dir,
        tune_overrides=settings.tune_overrides, train_overrides=settings.train_overrides,
        cpus_per_trial=spec.cpus_per_trial, gpus_per_trial=spec.gpus_per_trial, loggers=settings.loggers,
    )
    return spec, arguments


def export_best_to_s3(results: Any, spec: TuneSpec, arguments: LightrayArguments, storage: S3Storage) -> BestTrial:
    """``best.json`` and ``best.pt`` of the best trial (a command's: ``best/`` and ``best.json``),
    into the run directory."""
    location = S3Location.parse(arguments.storage_path)
    with tempfile.TemporaryDirectory(prefix="aframe-tune-export-") as scratch:
        if spec.runs_a_command:
            return export_best_command_trial_to_s3(results, spec, Path(scratch), location, storage)
        if arguments.train_config is None:  # never: a model's search is checked with its train.yaml
            raise TuningError("the model's train.yaml is missing from the experiment")
        best = export_best_trial(results, spec, arguments.train_config, arguments.train_overrides, Path(scratch))
        # best.pt last: it is the output law checks, so it must not precede best.json
        storage.upload(Path(scratch) / "best.json", location.child("best.json"))
        storage.upload(Path(scratch) / "best.pt", location.child("best.pt"))
    return best


def export_best_command_trial_to_s3(results: Any, spec: TuneSpec, scratch: Path, location: S3Location,
                                    storage: S3Storage) -> BestTrial:
    """The best trial's last ``{checkpoint_dir}`` as ``best/`` (an earlier export's replaced), then
    ``best.json``, the output law checks."""
    best = export_best_command_trial(results, spec, scratch)
    storage.delete_prefix(location.child(BEST_FOLDER))
    if (scratch / BEST_FOLDER).is_dir():
        storage.upload_folder(scratch / BEST_FOLDER, location.child(BEST_FOLDER))
    storage.upload(scratch / "best.json", location.child("best.json"))
    return best


def run_cluster_search(folder: Path, settings: ClusterSearchSettings, storage: S3Storage,
                       recorder: StatusRecorder) -> SearchOutcome:
    """Check, search, export; the status says where it stands all along."""
    started = time.monotonic()
    spec, arguments = checked_search(folder, settings)
    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"))
    arguments = dataclasses.replace(arguments, loggers=usable_on_cluster(arguments.loggers))
    recorder.record(SearchState.RUNNING, message="")
    reporter = StatusReporter(recorder, spec.metric, spec.mode, spec.num_samples)
    # a command runs where the trial's Ray worker starts: ship_code's folder, or the image's own;
    # tune.yaml's folder is this pod's copy of the experiment, which the workers do not have
    command = dataclasses.replace(spec.command, working_dir="") if spec.command else None
    results = run_search(arguments, progress=reporter, command=command, metric=spec.metric)
    check_search_finished(results, spec.num_samples)
    best = export_best_to_s3(results, spec, arguments, storage)
    recorder.record(SearchState.RUNNING, read_final_progress(reporter, results, spec, recorder))
    return SearchOutcome.of_search(best, settings.run_dir, spec.experiment_name, results,
                                   elapsed_s=time.monotonic() - started, model=best_model_of(spec.runs_a_command, best))


def read_final_progress(reporter: StatusReporter, results: Any, spec: TuneSpec,
                        recorder: StatusRecorder) -> SearchProgress:
    """The last progress line's figures, every trial ended."""
    total = len(list(results))
    failed = sum(result.error is not None for result in results)
    last = reporter.progress
    return SearchProgress(spec.metric, max(total, spec.num_samples), 0, total - failed, failed,
                          last.best_value if last else None, last.best_params if last else (),
                          time.time() - recorder.status.started_at)


def main() -> int:
    """Run the search of ``$AFRAME_TUNE_EXPERIMENT``; 0 when it finished and was exported."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    folder = Path(os.environ.get(EXPERIMENT_ENV, "."))
    settings = ClusterSearchSettings.from_json((folder / SETTINGS_FILE).read_text(), str(folder / SETTINGS_FILE))
    storage = S3Storage()  # the pods' endpoint, from AWS_ENDPOINT_URL
    recorder = StatusRecorder(settings.run_dir, settings.release)
    recorder.record(SearchState.STARTING, message="checking the experiment")
    try:
        outcome = run_cluster_search(folder, settings, storage, recorder)
    except (StoppedBySignal, KeyboardInterrupt, TuningError) as error:
        if isinstance(error, TuningError) and not recorder.stop_requested():
            recorder.record(SearchState.FAILED, message=str(error))
            logger.error("The search failed: %s", error)
            return 1
        recorder.record(SearchState.STOPPED, message=f"stopped ({error or 'interrupted'}); run run.sh to resume it")
        logger.error("The search was stopped: %s", error or "interrupted")
        return 1
    except Exception as error:  # any failure is recorded, for the user's machine to report
        recorder.record(SearchState.FAILED, message=str(error) or type(error).__name__)
        logger.exception("The search failed: %s", error)
        return 1
    recorder.record(SearchState.SUCCEEDED)
    for line in outcome.lines():
        logger.info("%s", line)
    return 0


if __name__ == "__main__":
    # Run the module's own copy, not this __main__ one: Ray pickles the run configuration (this
    # module's progress reporter among it) with cloudpickle, which copies classes of __main__ by
    # value, globals included, so a restored search would get the earlier run's status recorder.
    from aframe_tune.tune import cluster_search

    sys.exit(cluster_search.main())
