"""Interrupted searches resume: kill -9 or Ctrl-C of the driver, then run.sh again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import clean_environment, run_experiment, run_sh_command

pytestmark = pytest.mark.e2e

EPOCHS = 3
# No early stopping, so every trial runs exactly EPOCHS iterations and the counts are exact.
RESUMABLE_TUNE = {
    "tune_config.num_samples": 4,
    "tune_config.scheduler.init_args.max_t": EPOCHS,
    "tune_config.scheduler.init_args.grace_period": EPOCHS,
}
RESUMABLE_TRAIN = {"trainer.max_epochs": EPOCHS, "data.num_train": 1024}


def reports(run_dir: Path) -> dict[str, list[int]]:
    """Each trial's reported training iterations, in order."""
    found = {}
    for path in (run_dir / "tune").glob("*/result.json"):
        lines = [line for line in path.read_text().splitlines() if line]
        found[path.parent.name] = [json.loads(line)["training_iteration"] for line in lines]
    return found


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def ray_processes() -> list[str]:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if "raylet" in line or "gcs_server" in line]


def start_driver(directory: Path, log: Path) -> subprocess.Popen:
    # run.sh execs Python, so this process *is* the driver.
    return subprocess.Popen(
        run_sh_command(directory), stdout=log.open("w"), stderr=subprocess.STDOUT,
        cwd=directory.parent, env=clean_environment(),
    )


def check_resumed_search(directory: Path, finished_before: dict[str, list[int]]) -> None:
    run_dir = directory / "training"
    result = run_experiment(directory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Restoring from previous tuning run" in output

    after = reports(run_dir)
    assert len(after) == 4, after  # num_samples trials, no more
    for trial, iterations in after.items():
        # continued where it stopped, never restarted from scratch: no iteration repeats
        assert iterations == list(range(1, EPOCHS + 1)), (trial, iterations)
    for trial, iterations in finished_before.items():
        assert after[trial] == iterations  # finished trials were not trained again
    assert (run_dir / "best.pt").is_file() and (run_dir / "best.json").is_file()


def test_sigkill_of_the_driver_then_rerun_resumes(experiment, tmp_path: Path) -> None:
    directory = experiment(tune=RESUMABLE_TUNE, train=RESUMABLE_TRAIN)
    run_dir = directory / "training"
    driver = start_driver(directory, tmp_path / "first.log")
    try:
        wait_for(lambda: any(len(r) == EPOCHS for r in reports(run_dir).values()), 240,
                 "a first trial to finish")
        # Tune saves its experiment state every second (aframe-tune's local setting)
        time.sleep(2.5)

        second = run_experiment(directory, timeout=120)
        assert second.returncode == 30
        assert f"is already being tuned by process {driver.pid}" in second.stdout + second.stderr

        finished_before = {t: r for t, r in reports(run_dir).items() if len(r) == EPOCHS}
        assert len(finished_before) < 4, "the search finished before it could be interrupted"
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
    # Ray's processes share the driver's fate
    wait_for(lambda: not ray_processes(), 30, "Ray processes to exit after the driver's death")
    assert not (run_dir / "best.pt").exists()

    check_resumed_search(directory, finished_before)


def test_ctrl_c_stops_cleanly_then_rerun_resumes(experiment, tmp_path: Path) -> None:
    directory = experiment(tune=RESUMABLE_TUNE, train=RESUMABLE_TRAIN)
    run_dir = directory / "training"
    log = tmp_path / "first.log"
    driver = start_driver(directory, log)
    try:
        wait_for(lambda: any(len(r) >= 1 for r in reports(run_dir).values()), 240,
                 "a first report")
        driver.send_signal(signal.SIGINT)
        code = driver.wait(120)
    finally:
        if driver.poll() is None:
            driver.kill()
    output = log.read_text()
    assert code == 30, output[-5000:]
    assert "run run.sh again to resume it where it stopped" in output
    assert not (run_dir / "best.pt").exists()
    wait_for(lambda: not ray_processes(), 30, "Ray processes to exit")

    finished_before = {t: r for t, r in reports(run_dir).items() if len(r) == EPOCHS}
    check_resumed_search(directory, finished_before)
