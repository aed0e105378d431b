"""One run of a trial's command: a process group of its own, its output kept, ended with all it started.

The command runs in a session of its own, so that ending the trial ends every process it
started, and with ``PR_SET_PDEATHSIG``, so that it dies with the trial's process should that be
killed outright (a driver killed with SIGKILL takes Ray's processes with it, and so the command).
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from aframe_tune.tune.metric_readers import MetricReader, MetricRow

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
# seconds a stopped command has to end after SIGTERM before it is killed
END_GRACE_S = 5.0
KEPT_LINES = 30
OUTPUT_FILE = "output.log"


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the session still ends with the trial
        pass


class TrialProcess:
    """A command started for a trial, its output written to ``OUTPUT_FILE`` in ``folder`` and
    passed, line by line, to ``reader``.

    Args:
        argv: the command line.
        cwd: where it runs.
        folder: the run's own folder (made if missing).
        reader: receives each line of output.
        env: its environment.
    """

    def __init__(self, argv: list[str], cwd: Path, folder: Path, reader: MetricReader, env: dict[str, str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.argv = argv
        self.reader = reader
        self.last_lines: collections.deque[str] = collections.deque(maxlen=KEPT_LINES)
        self._lock = threading.Lock()
        self._log = (folder / OUTPUT_FILE).open("a", encoding="utf-8")
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        self._pump = threading.Thread(target=self._copy_output, daemon=True, name=f"trial-output-{self.process.pid}")
        self._pump.start()

    def _copy_output(self) -> None:
        output = self.process.stdout
        if output is None:  # never: stdout=PIPE
            return
        for line in output:
            self._log.write(line)
            self._log.flush()
            with self._lock:
                self.last_lines.append(line.rstrip("\n"))
                self.reader.feed_line(line)
        self._log.close()

    def exit_code(self) -> int | None:
        """The command's exit status once it ended and its output is all read; None while it runs."""
        if self.process.poll() is None:
            return None
        self._pump.join(timeout=5)
        return self.process.returncode

    def tail(self) -> str:
        with self._lock:
            return "\n".join(self.last_lines)

    def poll_rows(self) -> list[MetricRow]:
        """The steps the command completed since the last poll."""
        with self._lock:
            return self.reader.poll()

    def end(self, grace_s: float = END_GRACE_S) -> None:
        """End the command and every process of its session: SIGTERM, then SIGKILL after ``grace_s``."""
        for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and _group_alive(self.process.pid):
                self.process.poll()
                time.sleep(0.05)
            if not _group_alive(self.process.pid):
                break
        self.process.poll()
        self._pump.join(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
