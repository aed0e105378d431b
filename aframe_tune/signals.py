"""Ctrl-C (SIGINT) and SIGTERM: stop, clean up, and exit with 130 or 143.

The first signal during a local search asks Ray Tune to stop after saving the experiment's
state (as Tune does on its own for SIGINT); a second one, or one at any other time, raises
:class:`StoppedBySignal`, so that ``finally`` blocks (the cluster's uninstall, the run
directory's lock) run on the way out. ``run.sh`` then exits with 128 + the signal's number, as a
shell reports a command stopped by a signal.

Every ``ray.init`` call (lightray makes one of its own) replaces the SIGTERM handler with Ray's,
which raises ``SystemExit(15)``. A local search re-installs these handlers once Tune starts
(``aframe_tune.tune.stop``); otherwise, as for a remote search, whose loop runs on the cluster,
:func:`stopped_by` turns Ray's exit into the same error, and the search stops at once with the
state Ray Tune saved last. Code that waits in asyncio runs through :func:`run_async`, so that
a signal cancels the wait instead of landing, and being lost, in one of the loop's callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

from aframe_tune.errors import AframeTuneError

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Ray Tune's own graceful stop, installed for the length of a search (ray.tune.tune).
TUNE_STOP_SIGNAL = signal.SIGUSR1
TUNE_MODULE = "ray.tune.tune"


class StoppedBySignal(AframeTuneError):
    """The run was stopped by SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(
            f"Stopped by {signal.Signals(signum).name}; finished trials are kept: run run.sh again "
            "to resume"
        )


_received: list[int] = []
# the coroutine :func:`run_async` runs in the main thread, which a stop signal cancels
_main_task: asyncio.Task | None = None
T = TypeVar("T")


def stopped_by(signum: int) -> StoppedBySignal:
    """Record a stop signal that another handler (Ray's) received, and the error to raise for it."""
    _received.append(signum)
    return StoppedBySignal(signum)


def received_stop_signal() -> int | None:
    """The first stop signal this process received, or None."""
    return _received[0] if _received else None


def exit_status(signum: int) -> int:
    """The shell's exit status for a command stopped by ``signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def _tune_is_running() -> bool:
    handler = signal.getsignal(TUNE_STOP_SIGNAL)
    return callable(handler) and getattr(handler, "__module__", "") == TUNE_MODULE


def _stop(signum: int, frame: FrameType | None) -> None:
    first = not _received
    _received.append(signum)
    name = signal.Signals(signum).name
    task = _main_task
    if task is not None and not task.done():
        # Raising here would land in whatever the event loop is running, and asyncio swallows
        # (logs) an exception raised in a plain callback: the wait would go on. Cancel the
        # coroutine instead, thread-safely, which also wakes the loop's select().
        task.get_loop().call_soon_threadsafe(task.cancel)
        return
    if first and _tune_is_running():
        logger.warning("%s received: stopping the search once its state is saved (send it again to stop "
                       "at once)", name)
        os.kill(os.getpid(), TUNE_STOP_SIGNAL)
        return
    raise StoppedBySignal(signum)


def install_stop_handlers() -> None:
    """Handle SIGINT and SIGTERM as described above; call from the main thread."""
    # Tune would otherwise take SIGINT for itself during a search, and a second Ctrl-C would
    # not reach this handler.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)``, stoppable: in the main thread, a stop signal cancels the
    coroutine (its ``finally`` blocks run) and is raised afterwards as :class:`StoppedBySignal`."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coroutine)

    async def main() -> T:
        global _main_task
        _main_task = asyncio.current_task()
        try:
            return await coroutine
        finally:
            _main_task = None

    received = len(_received)
    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        if len(_received) == received:
            raise
        raise StoppedBySignal(_received[-1]) from None
    if len(_received) > received:  # a coroutine that swallowed its cancellation still stops here
        raise StoppedBySignal(_received[-1])
    return result
