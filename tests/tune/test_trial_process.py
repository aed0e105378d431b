"""A trial's command: its output kept and read, and its end taking every process it started."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from aframe_tune.tune.command_spec import MetricSourceKind
from aframe_tune.tune.metric_readers import metric_reader
from aframe_tune.tune.trial_process import OUTPUT_FILE, TrialProcess

STUBBORN = textwrap.dedent("""
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a command that ignores SIGTERM
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print(child.pid, flush=True)
    print('{"acc": 0.5}', flush=True)
    time.sleep(300)
""")


def test_output_is_kept_and_read_and_ending_takes_the_whole_process_group(tmp_path: Path) -> None:
    reader = metric_reader(MetricSourceKind.JSONL, tmp_path, "acc")
    run = TrialProcess([sys.executable, "-c", STUBBORN], tmp_path, tmp_path / "trial", reader, dict(os.environ))
    deadline = time.monotonic() + 30
    rows = []
    while not rows and time.monotonic() < deadline:
        rows = run.poll_rows()
        time.sleep(0.05)
    assert [row.values for row in rows] == [{"acc": 0.5}]
    child = int(run.tail().splitlines()[0])
    assert run.exit_code() is None and psutil.pid_exists(child)
    started = time.monotonic()
    run.end(grace_s=1)
    assert time.monotonic() - started < 5
    assert run.exit_code() is not None
    time.sleep(0.2)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    assert '{"acc": 0.5}' in (tmp_path / "trial" / OUTPUT_FILE).read_text()


def test_the_command_dies_with_the_trial_s_process(tmp_path: Path) -> None:
    """SIGKILL of the trial's process (a driver killed outright takes Ray's workers with it)."""
    parent = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from aframe_tune.tune.command_spec import MetricSourceKind
        from aframe_tune.tune.metric_readers import metric_reader
        from aframe_tune.tune.trial_process import TrialProcess
        folder = Path({str(tmp_path)!r})
        run = TrialProcess([sys.executable, "-c", "import time; time.sleep(300)"], folder, folder,
                           metric_reader(MetricSourceKind.JSONL, folder, "x"), dict(os.environ))
        print(run.process.pid, flush=True)
        time.sleep(300)
    """)
    trial = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    try:
        command = int(trial.stdout.readline())
        assert psutil.pid_exists(command)
        trial.kill()
        trial.wait(10)
        deadline = time.monotonic() + 10
        while psutil.pid_exists(command) and psutil.Process(command).status() != psutil.STATUS_ZOMBIE \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not psutil.pid_exists(command) or psutil.Process(command).status() == psutil.STATUS_ZOMBIE
    finally:
        trial.kill()
