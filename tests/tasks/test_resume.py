"""Interrupted searches resume: kill -9 or Ctrl-C of the driver, then run.sh again."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import background_run_sh, run_experiment, wait_while_running

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


def finished_trials(run_dir: Path) -> set[str]:
    """The trial folders whose trials Ray Tune's last saved state records as finished (a trial's
    last report can be logged before its end is recorded: such a trial is not finished)."""
    states = sorted((run_dir / "tune").glob("experiment_state-*.json"), key=lambda path: path.stat().st_mtime)
    if not states:
        return set()
    ids = {json.loads(trial)["trial_id"] for trial, _ in json.loads(states[-1].read_text())["trial_data"]
           if json.loads(trial)["status"] == "TERMINATED"}
    return {folder for folder in reports(run_dir) if any(f"_{trial_id}_" in folder for trial_id in ids)}


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def ray_children(driver_pid: int) -> set[int]:
    """The raylet and GCS processes the driver started (its direct children)."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    children = set()
    for line in listing.splitlines():
        pid, ppid, args = line.split(None, 2)
        if int(ppid) == driver_pid and ("raylet" in args or "gcs_server" in args):
            children.add(int(pid))
    return children


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def continued_where_it_stopped(iterations: list[int]) -> bool:
    """Whether a trial ran 1..EPOCHS, resumed at most once and retrained at most one iteration.

    Ray Tune logs a result and registers the checkpoint that came with it in two steps, so a stop
    between them leaves the last reported iteration without its checkpoint in the saved state: the
    resumed trial starts from the checkpoint before it and reports that iteration again.
    """
    for resumed_at in range(1, len(iterations)):
        if iterations[resumed_at] <= iterations[resumed_at - 1]:
            before, after = iterations[:resumed_at], iterations[resumed_at:]
            return (before == list(range(1, len(before) + 1))
                    and after == list(range(len(before), EPOCHS + 1)))
    return iterations == list(range(1, EPOCHS + 1))


def check_resumed_search(directory: Path, finished_before: dict[str, list[int]]) -> None:
    run_dir = directory / "training"
    result = run_experiment(directory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Resuming the search in " in output

    after = reports(run_dir)
    assert len(after) == 4, after  # num_samples trials, no more
    for trial, iterations in after.items():
        assert continued_where_it_stopped(iterations), (trial, iterations)
    for trial, iterations in finished_before.items():
        assert iterations == list(range(1, EPOCHS + 1)), (trial, iterations)
        assert after[trial] == iterations  # finished trials were not trained again
    assert (run_dir / "best.pt").is_file() and (run_dir / "best.json").is_file()


def test_sigkill_of_the_driver_then_rerun_resumes(experiment, tmp_path: Path) -> None:
    # One trial at a time, each of several seconds: trials must be left when the second run.sh
    # (seconds after the first trial finished) and the SIGKILL come.
    directory = experiment(tune={**RESUMABLE_TUNE, "tune_config.max_concurrent_trials": 1},
                           train={**RESUMABLE_TRAIN, "data.num_train": 4096})
    run_dir = directory / "training"
    log = tmp_path / "first.log"
    with background_run_sh(directory, log) as driver:
        wait_while_running(driver, log, lambda: any(len(r) == EPOCHS for r in reports(run_dir).values()), 240,
                           "a first trial to finish")
        # Tune saves its experiment state every second (aframe-tune's local setting)
        time.sleep(2.5)

        second = run_experiment(directory, timeout=120)
        assert second.returncode == 30
        assert f"is already being tuned by process {driver.pid}" in second.stdout + second.stderr

        assert sum(len(r) == EPOCHS for r in reports(run_dir).values()) < 4, \
            "the search finished before it could be interrupted"
        ray_pids = ray_children(driver.pid)
        assert ray_pids, "the driver's Ray processes should be visible while it runs"
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
    finished = finished_trials(run_dir)
    assert finished, "a finished trial should be in the saved state"
    finished_before = {t: r for t, r in reports(run_dir).items() if t in finished}
    # Ray's processes share the driver's fate
    wait_for(lambda: not alive(ray_pids), 30, "the driver's Ray processes to exit after its death")
    assert not (run_dir / "best.pt").exists()

    check_resumed_search(directory, finished_before)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_ends_cleanly_with_its_exit_status_then_rerun_resumes(
    experiment, tmp_path: Path, signum: int
) -> None:
    directory = experiment(tune=RESUMABLE_TUNE, train=RESUMABLE_TRAIN)
    run_dir = directory / "training"
    log = tmp_path / "first.log"
    with background_run_sh(directory, log) as driver:
        wait_while_running(driver, log, lambda: any(len(r) >= 1 for r in reports(run_dir).values()), 240,
                           "a first report")
        ray_pids = ray_children(driver.pid)
        assert ray_pids, "the driver's Ray processes should be visible while it runs"
        driver.send_signal(signum)
        code = driver.wait(120)
    output = log.read_text()
    assert code == 128 + signum, output[-5000:]  # 130 for SIGINT, 143 for SIGTERM
    # Ray Tune saved the experiment's state and stopped (SIGTERM too, although ray.init replaced
    # the handler aframe-tune installs)
    assert f"{signal.Signals(signum).name} received: stopping the search once its state is saved" in output
    assert "run run.sh again to resume it where it stopped" in output
    assert "Traceback" not in output
    assert not (run_dir / "best.pt").exists()
    wait_for(lambda: not alive(ray_pids), 30, "the driver's Ray processes to exit")

    finished_before = {t: r for t, r in reports(run_dir).items() if t in finished_trials(run_dir)}
    check_resumed_search(directory, finished_before)
