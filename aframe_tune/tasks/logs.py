"""Logging of the tune tasks: one handler for everything, expected failures as one clear line."""

from __future__ import annotations

import logging

from aframe_tune.errors import AframeTuneError

# luigi's worker logs a failed task's exception, with its traceback, on this logger.
LUIGI_LOGGER = "luigi-interface"


class AframeTuneErrorFilter(logging.Filter):
    """Show an :class:`AframeTuneError` as its message alone, unless DEBUG logging is on.

    Our errors already say which file and key to fix; a traceback through luigi's worker only
    buries that. Any other exception keeps its traceback, because it is a bug.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, AframeTuneError) and not logging.getLogger(LUIGI_LOGGER).isEnabledFor(
            logging.DEBUG
        ):
            record.msg, record.args = f"aframe-tune: {error}", ()
            record.exc_info = record.exc_text = None
        return True


def install_error_filter() -> None:
    """Attach the filter to luigi's logger once."""
    luigi_logger = logging.getLogger(LUIGI_LOGGER)
    if not any(isinstance(f, AframeTuneErrorFilter) for f in luigi_logger.filters):
        luigi_logger.addFilter(AframeTuneErrorFilter())


def route_logs_through_root() -> None:
    """Give the root logger a handler, at the level luigi was given, and stop luigi's duplicates.

    lightray calls ``logging.basicConfig``, which adds a root handler unless one exists, and
    luigi's records propagate to the root as well as going to luigi's own handler: every line
    would be printed twice. With a root handler in place basicConfig does nothing, and luigi's
    logger keeps its own handler without propagating.
    """
    root = logging.getLogger()
    luigi_logger = logging.getLogger(LUIGI_LOGGER)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(luigi_logger.getEffectiveLevel())
    if luigi_logger.handlers:
        luigi_logger.propagate = False
