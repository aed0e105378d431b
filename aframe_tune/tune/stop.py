"""Keeping aframe-tune's stop-signal handlers in place for the length of a local search."""

from __future__ import annotations

import threading
from typing import Any

from ray.tune import Callback

from aframe_tune.signals import install_stop_handlers


class ReinstallStopHandlers(Callback):
    """Re-install aframe-tune's SIGINT/SIGTERM handlers when Ray Tune starts the search.

    Every ``ray.init`` call, lightray's included, replaces the SIGTERM handler with Ray's, which
    exits at once (with status 1 once Ray's own code has caught it). Tune calls ``setup`` in the
    driver's main thread after that and after it installed its own graceful stop, so from here
    on SIGTERM, like Ctrl-C, stops the search after its state is saved.
    """

    def setup(self, **info: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            install_stop_handlers()
