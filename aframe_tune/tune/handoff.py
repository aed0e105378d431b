"""Running a lightray search in this process."""

from __future__ import annotations

import dataclasses
import logging
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aframe_tune.errors import TuningError
from aframe_tune.signals import stopped_by
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.lightray_config import has_float_resources, with_whole_number_resources

logger = logging.getLogger(__name__)


def run_lightray(arguments: LightrayArguments):  # -> ray.tune.ResultGrid
    """Run ``lightray.cli.cli`` in-process and return its ``ResultGrid``.

    In-process rather than through the ``lightray`` console script, which exits 1 even when the
    search succeeds (it returns the ResultGrid from its entry point).
    """
    from lightray.cli import cli

    with readable_by_lightray(arguments) as arguments, trial_resources(
        arguments.cpus_per_trial, arguments.gpus_per_trial
    ):
        argv = arguments.to_argv()
        logger.info("Handing off to lightray: %s", " ".join(argv))
        try:
            return cli(argv)
        except SystemExit as exit_:
            if exit_.code == signal.SIGTERM:
                # Ray's SIGTERM handler, which lightray's ray.init installed, exits with the signal's number
                raise stopped_by(signal.SIGTERM) from None
            # jsonargparse exits on a configuration it cannot parse, after printing why.
            raise TuningError(
                f"lightray rejected the configuration (exit status {exit_.code}); the message above "
                f"says which key of {arguments.tune_config} or {arguments.train_config} to fix"
            ) from None


@contextmanager
def readable_by_lightray(arguments: LightrayArguments) -> Iterator[LightrayArguments]:
    """``arguments`` with a tune.yaml that lightray 0.2.5 can read.

    lightray types ``cpus_per_trial`` and ``gpus_per_trial`` as whole numbers and refuses 0.25 or
    even 1.0. For such a file it reads a private copy with those values rounded up, and the trials
    get the real ones from :func:`trial_resources`.
    """
    text = arguments.tune_config.read_text()
    if not has_float_resources(text):
        yield arguments
        return
    with tempfile.TemporaryDirectory(prefix="aframe-tune-") as scratch:
        copy = Path(scratch) / arguments.tune_config.name
        copy.write_text(with_whole_number_resources(text))
        logger.info("lightray reads %s, a copy of %s with whole numbers of CPUs and GPUs per trial; the "
                    "trials get %g CPUs and %g GPUs each", copy, arguments.tune_config,
                    arguments.cpus_per_trial, arguments.gpus_per_trial)
        yield dataclasses.replace(arguments, tune_config=copy)


@contextmanager
def trial_resources(cpus: float, gpus: float) -> Iterator[None]:
    """Give each trial lightray builds ``cpus`` CPUs and ``gpus`` GPUs, fractions included.

    lightray builds its trainable with ``tune.with_resources`` from its whole-number options;
    applying it again with the checked values wins (Ray keeps the last resources set on a
    function trainable). lightray looks ``get_trainable`` up on its module when it runs, so
    the replacement is seen; it is undone afterwards.
    """
    import lightray.utils
    from ray import tune

    build = lightray.utils.get_trainable

    def get_trainable(*args: Any, **kwargs: Any) -> Any:
        return tune.with_resources(build(*args, **kwargs), {"cpu": cpus, "gpu": gpus})

    lightray.utils.get_trainable = get_trainable
    try:
        yield
    finally:
        lightray.utils.get_trainable = build
