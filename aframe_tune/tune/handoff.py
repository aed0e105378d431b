"""Running a lightray search in this process."""

from __future__ import annotations

import logging
import signal

from aframe_tune.errors import TuningError
from aframe_tune.signals import stopped_by
from aframe_tune.tune.arguments import LightrayArguments

logger = logging.getLogger(__name__)


def run_lightray(arguments: LightrayArguments):  # -> ray.tune.ResultGrid
    """Run ``lightray.cli.cli`` in-process and return its ``ResultGrid``.

    In-process rather than through the ``lightray`` console script, which exits 1 even when the
    search succeeds (it returns the ResultGrid from its entry point).
    """
    from lightray.cli import cli

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
