"""Running a checked search: lightray's parser, trainable and callbacks, with Ray Tune's Tuner.

Each trial runs the LightningCLI with the arguments lightray's trainable gives it, reporting
through the ``tune_callback`` of tune.yaml, exactly as under the ``lightray`` command; the
trainable is ``lightning_trainable``, which builds each trial process's parser once instead of
once per trial. What ``lightray.cli.cli`` does around it is done here instead, for three reasons:

- the driver has started (or connected to) Ray already, and the checks have built lightray's
  parser and the model's LightningCLI parser; ``cli`` would build both again and call
  ``ray.init`` again (half a second to a second before the first trial);
- ``cli`` ends with ``ray.shutdown()``, which waits a second or more for Ray's processes to stop
  gracefully; the driver exports ``best.pt`` and exits instead, and Ray's processes, which share
  its fate, go with it;
- lightray 0.2.5 types ``cpus_per_trial`` and ``gpus_per_trial`` as whole numbers; several
  small trials sharing a GPU (``gpus_per_trial: 0.25``) need the fraction given to Ray here.

A command's search reads tune.yaml with lightray's arguments but the model's two
(``aframe_tune.tune.search_parser``), so that its driver never imports Lightning.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from aframe_tune.console import say
from aframe_tune.errors import TuningError
from aframe_tune.signals import stopped_by
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.command_spec import CommandSpec
from aframe_tune.tune.param_space import tune_domains
from aframe_tune.tune.ray_usage import count_callbacks_by_name

logger = logging.getLogger(__name__)

# Ray Tune's legacy output engine, the one that shows a progress reporter's lines
LEGACY_TUNE_OUTPUT = {"RAY_AIR_NEW_OUTPUT": "0"}


def parse_search(arguments: LightrayArguments) -> Any:
    """tune.yaml and its overrides parsed by lightray's parser, as ``lightray`` would read them."""
    from jsonargparse import ArgumentError

    from aframe_tune.tune.lightray_config import readable_by_lightray
    from aframe_tune.tune.search_parser import search_parser

    argv = arguments.to_argv()
    logger.info("Searching with lightray's trainable: %s", " ".join(argv))
    # tune.yaml as lightray can read it: whole numbers of CPUs and GPUs (the trials get the real ones)
    with readable_by_lightray(arguments.tune_config) as tune_config:
        try:
            return search_parser(arguments.trainable).parse_args(["--config", str(tune_config), *argv[2:]])
        except ArgumentError as error:  # the checks passed, so this is not the user's to fix
            raise TuningError(f"lightray's parser rejected the checked configuration: {error}") from None


def trial_config(cli_cls: type, lightning_args: list[str], tune_callback: Any) -> str:
    """The LightningCLI configuration every trial starts from (before its hyperparameters), with the
    callback that reports to Ray Tune first among the trainer's callbacks, as lightray builds it."""
    from aframe_tune.tune.train_config import fit_parser

    parser = fit_parser(cli_cls)
    # lightning_args is lightray's remainder, "--" first
    config = parser.parse_args(lightning_args[1:]) if len(lightning_args) > 1 else parser.get_defaults()
    config["trainer.callbacks"] = [tune_callback, *(config.get("trainer.callbacks") or [])]
    return parser.dump(config)


def command_trainable(run_config: Any, command: CommandSpec, metric: str) -> Any:
    """The command trainable, given its command; the trial folders (the command's own output, its
    event files) are kept in the run directory with the trials' results, and a checkpoint is
    taken when a trial ends, so that the best trial's last ``{checkpoint_dir}`` is kept."""
    from ray import tune

    from aframe_tune.tune.command_trainable import CommandTrainable

    run_config.sync_config = run_config.sync_config or tune.SyncConfig()
    run_config.sync_config.sync_artifacts = True
    checkpoints = run_config.checkpoint_config or tune.CheckpointConfig()
    checkpoints.checkpoint_at_end = True
    run_config.checkpoint_config = checkpoints
    return tune.with_parameters(CommandTrainable, spec=command, metric=metric)


def show_progress_instead_of_tables(run_config: Any, progress: Any) -> None:
    """Have Tune report through ``progress`` (a Ray Tune ``ProgressReporter``) and print nothing else.

    Tune's current output engine ignores a progress reporter and prints a table and a box per
    trial; its legacy engine, at verbosity 1, prints only what the reporter gives it. The engine
    is chosen from the environment of the process that runs Tune's loop, this one.
    """
    os.environ.update(LEGACY_TUNE_OUTPUT)
    run_config.verbose = 1
    run_config.progress_reporter = progress


def storage_filesystem(storage_path: str) -> Any:
    """lightray's filesystem for a search's storage: s3fs for ``s3://`` (Ray's own S3 client fails
    there, ray-project/ray#41137), None (Ray's default) for a local path."""
    if not storage_path.startswith("s3://"):
        return None
    import lightray.fs  # s3fs, 0.2 s and ~19 MB that a local search has no use for

    return lightray.fs.setup_filesystem(storage_path)


def run_search(arguments: LightrayArguments, progress: Any = None, command: CommandSpec | None = None,
               metric: str = ""):  # -> ray.tune.ResultGrid
    """Run the search on the Ray cluster this process has started, joined or connected to; a
    search found in the storage is restored (finished trials are not run again).

    Args:
        arguments: the checked search.
        progress: a ``SearchProgressReporter`` to show the search's progress with, in place of Ray
            Tune's own tables; None keeps Tune's output as tune.yaml's ``run_config.verbose`` sets it.
        command: for ``trainable: command``, the command each trial runs (else lightray's
            LightningCLI trainable).
        metric: the ranking metric (``tune_config.metric``), which a command's steps must report.

    Returns:
        The ``ray.tune.ResultGrid``.
    """
    from ray import tune

    from aframe_tune.tune.lightning_trainable import lightning_trainable
    from aframe_tune.tune.lightray_config import instantiate_search

    count_callbacks_by_name()
    parsed = parse_search(arguments)
    search = instantiate_search(parsed, arguments.trainable)
    search.run_config.sync_config = search.sync_config
    search.run_config.callbacks = [*(search.run_config.callbacks or []), *arguments.loggers.callbacks()]
    if progress is not None:
        show_progress_instead_of_tables(search.run_config, progress)
    param_space = tune_domains(search.param_space or {})  # checked strings -> Ray Tune domains

    storage_path = search.run_config.storage_path
    if command is not None:
        trainable = command_trainable(search.run_config, command, metric)
    else:
        trainable = lightning_trainable(
            storage_path, parsed.lightning_cli_cls,
            trial_config(parsed.lightning_cli_cls, parsed.lightning_args, parsed.tune_callback),
        )
    # the real resources, fractions included
    trainable = tune.with_resources(trainable, {"cpu": arguments.cpus_per_trial, "gpu": arguments.gpus_per_trial})
    logger.info("Each trial gets %g CPUs and %g GPUs", arguments.cpus_per_trial, arguments.gpus_per_trial)

    filesystem = storage_filesystem(storage_path)
    experiment = f"{storage_path.removeprefix('s3://')}/{search.run_config.name}"
    try:
        if tune.Tuner.can_restore(experiment, storage_filesystem=filesystem):
            logger.info("Restoring from previous tuning run at %s", experiment)
            say("Resuming the search in %s: finished trials are kept", storage_path)
            tuner = tune.Tuner.restore(experiment, trainable, resume_errored=True, storage_filesystem=filesystem)
        else:
            tuner = tune.Tuner(trainable, param_space=param_space, tune_config=search.tune_config,
                               run_config=search.run_config)
        return tuner.fit()
    except SystemExit as exit_:
        if exit_.code == signal.SIGTERM:
            # Ray's SIGTERM handler, which ray.init installed, exits with the signal's number
            raise stopped_by(signal.SIGTERM) from None
        raise

