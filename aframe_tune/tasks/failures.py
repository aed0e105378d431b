"""Making a task's expected failures read as one clear line in luigi's logs."""

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
