"""law tasks: ``TuneTask`` picks ``TuneLocal`` or ``TuneRemote`` by the run directory; ``DispatchJobs``
runs a jobs.yaml."""

from aframe_tune.tasks.dispatch import DispatchJobs
from aframe_tune.tasks.logs import install_error_filter
from aframe_tune.tasks.local import TuneLocal
from aframe_tune.tasks.remote import TuneRemote
from aframe_tune.tasks.sections import config_sections
from aframe_tune.tasks.tune import TuneTask

install_error_filter()

__all__ = ["DispatchJobs", "TuneLocal", "TuneRemote", "TuneTask", "config_sections"]
