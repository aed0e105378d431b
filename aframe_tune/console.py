"""What the user of ``run.sh`` is shown: what is happening, progress, the result, the next command.

User-facing lines go through the logger ``aframe_tune.console`` (:func:`say`), never ``print``, so
that any layer can report progress without knowing who shows it. ``run.sh`` attaches a
:class:`ConsoleHandler`, which prints them plainly on standard output at every log level; without
it (a library caller, the dispatcher) they reach the root logger's handlers like any INFO line.

One line may be *live* (:func:`show_live`): on a terminal it is rewritten in place, and lines
said meanwhile are printed above it; elsewhere (a file, a pipe, ``nohup``) each live line is
printed as a plain line, and the caller decides how often.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

CONSOLE_LOGGER = "aframe_tune.console"
LIVE = "aframe_tune_live"  # the attribute a live record carries
_CLEAR_LINE = "\r\x1b[K"
HTTP_REQUEST_LOGGERS = ("httpx", "httpcore")
# Ray's job client says at INFO that it packs and uploads the shipped folder, once for each job
RAY_JOB_CLIENT_LOGGERS = ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging")

console = logging.getLogger(CONSOLE_LOGGER)


class ConsoleHandler(logging.Handler):
    """Prints console records as they are, keeping one live line at the bottom of a terminal.

    Args:
        stream: where the lines go; standard output by default.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream or sys.stdout
        self.live_line = ""

    @property
    def interactive(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if not self.interactive:
                self.stream.write(message + "\n")
            elif getattr(record, LIVE, False):
                self.live_line = message
                self.stream.write(_CLEAR_LINE + message)
            else:
                self.stream.write(_CLEAR_LINE + message + "\n" + self.live_line)
            self.stream.flush()
        except Exception:  # a console that cannot be written to must not end the run
            self.handleError(record)

    def end_live(self) -> None:
        """Leave the live line on the screen as an ordinary line; later lines go below it."""
        if self.live_line and self.interactive:
            self.stream.write("\n")
            self.stream.flush()
        self.live_line = ""


def setup_console(stream: TextIO | None = None) -> ConsoleHandler:
    """Show console lines plainly on ``stream`` (standard output), once per process."""
    for handler in console.handlers:
        if isinstance(handler, ConsoleHandler):
            return handler
    handler = ConsoleHandler(stream)
    console.addHandler(handler)
    console.setLevel(logging.INFO)
    console.propagate = False
    return handler


def quiet_http_requests(level: int) -> None:
    """Show HTTP clients' request lines only at ``level`` DEBUG.

    httpx (kr8s's client) logs every request at INFO: three for each renewal of the run lock, and
    a 401 that kr8s answers by renewing an expired credential. Ray's job client says so of every
    upload. They are for whoever debugs.
    """
    for name in (*HTTP_REQUEST_LOGGERS, *RAY_JOB_CLIENT_LOGGERS):
        logging.getLogger(name).setLevel(logging.NOTSET if level <= logging.DEBUG else logging.WARNING)


def _handler() -> ConsoleHandler | None:
    return next((h for h in console.handlers if isinstance(h, ConsoleHandler)), None)


def say(message: str, *args: object) -> None:
    """Tell the user ``message`` (``%``-formatted with ``args``)."""
    console.info(message, *args)


def show_live(line: str) -> None:
    """Show ``line`` as the live line (in place on a terminal, a plain line elsewhere)."""
    console.info(line, extra={LIVE: True})


def end_live() -> None:
    """End the live line, so that what follows starts on a line of its own."""
    handler = _handler()
    if handler is not None:
        handler.end_live()


def is_interactive() -> bool:
    """Whether console lines go to a terminal, where a live line is rewritten in place."""
    handler = _handler()
    return handler is not None and handler.interactive
