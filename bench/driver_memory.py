"""The driver's peak memory: the most resident memory the process that runs Ray Tune's loop held.

Linux keeps each process's peak resident set (``VmHWM`` in ``/proc/PID/status``). A sampler reads
it, twice a second, for every process of a search's tree that is not one of Ray's own (``ray::``
workers, the GCS, the raylet, the dashboard and the agents run Ray's code, not the driver's), and
keeps the largest. For the pipeline the driver is ``aframe_tune.cli.run`` (law runs the task in
its process), for raw Ray Tune ``bench.raw_tune``; the ``bash`` of ``run.sh`` is small.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil

# a process whose command line contains one of these runs Ray's code
RAY_PROCESS_MARKS = ("ray::", "/ray/", "raylet", "gcs_server")


def peak_rss_kb(pid: int) -> int:
    """``VmHWM`` of a process, in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def is_rays(process: psutil.Process) -> bool:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return True
    return any(mark in command for mark in RAY_PROCESS_MARKS)


@dataclass
class DriverMemory:
    """Samples, in a thread, the peak resident memory of the non-Ray processes under ``root``.

    Args:
        root: the pid of the search's process.
        interval_s: seconds between samples.
    """

    root: int
    interval_s: float = 0.5
    peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> DriverMemory:
        self._thread = threading.Thread(target=self._run, name="driver-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval_s):
                return

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.root)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for process in processes:
            if not is_rays(process):
                self.peak_kb = max(self.peak_kb, peak_rss_kb(process.pid))
