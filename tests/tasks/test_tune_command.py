"""Tuning a training command (tune.yaml ``trainable: command``) on this machine, through run.sh."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import aframe_init, background_run_sh, edit_yaml, run_experiment, wait_while_running

pytestmark = pytest.mark.e2e

TRIAL = Path(__file__).resolve().parent / "command_trial.py"


def command_experiment(tmp_path: Path, tune: dict[str, Any] | None = None, *args: str) -> Path:
    """The scaffolded command experiment, its command replaced by tests/tasks/command_trial.py."""
    directory = tmp_path / "command"
    created = aframe_init("offline", "--mode", "tune", "--trainable", "command", "--directory", str(directory))
    assert created.returncode == 0, created.stderr
    edit_yaml(directory / "tune.yaml", {
        "trial_command": ["{python}", str(TRIAL), "--x={x}", "--seed={seed}", "--out={trial_dir}",
                          "--checkpoint-dir={checkpoint_dir}", f"--log={tmp_path / 'starts.log'}", *args],
        "trial_metrics": {"source": "jsonl"},
        "tune_config.metric": "score",
        "tune_config.num_samples": 1,  # once through the grid
        "tune_config.scheduler": None,
        "run_config.checkpoint_config.init_args.checkpoint_score_attribute": "score",
        "param_space": {"x": "tune.grid_search([1.0, 2.0])"},
        **(tune or {}),
    })
    return directory


def trial_results(run_dir: Path) -> dict[str, list[dict]]:
    """Each trial's reports (its result.json), by trial folder."""
    return {path.parent.name: [json.loads(line) for line in path.read_text().splitlines() if line]
            for path in (run_dir / "tune").glob("*/result.json")}


def starts(tmp_path: Path) -> list[tuple[float, int]]:
    """Every start of the command: its x and the step it started from."""
    log = tmp_path / "starts.log"
    lines = log.read_text().splitlines() if log.is_file() else []
    return [(float(x), int(step)) for _, x, step in (line.split() for line in lines)]


def commands_left() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if str(TRIAL) in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def test_the_scaffolded_command_example_tunes_out_of_the_box(tmp_path: Path) -> None:
    directory = tmp_path / "example"
    assert aframe_init("offline", "--mode", "tune", "--trainable", "command", "--directory",
                       str(directory)).returncode == 0
    started = time.monotonic()
    result = run_experiment(directory, timeout=900)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    print(f"the scaffolded command example tuned in {elapsed:.0f} s")
    run_dir = directory / "training"
    best = json.loads((run_dir / "best.json").read_text())
    assert best["metric"] == "valid/accuracy" and 0.4 < best["value"] <= 1.0
    assert set(best["hyperparameters"]) == {"lr", "hidden"}
    assert (run_dir / "best" / "state.pt").is_file()  # the best trial's last {checkpoint_dir}
    assert not (run_dir / "best.pt").exists()
    assert "Best trial" in output and "Traceback" not in output
    assert f"Its checkpoint: {run_dir}/best/ (its summary: {run_dir}/best.json)" in output
    # each trial's folder holds the command's output and its TensorBoard files
    folders = [path for path in (run_dir / "tune").iterdir() if path.is_dir() and (path / "result.json").exists()]
    assert len(folders) == 8
    assert all((folder / "output.log").is_file() and list(folder.glob("*tfevents*")) for folder in folders)

    again = run_experiment(directory, timeout=300)
    assert again.returncode == 0 and "Nothing to do" in again.stdout + again.stderr


@pytest.mark.parametrize("source", ["csv", "tensorboard"])
def test_csv_and_tensorboard_metrics_reach_ray_tune_step_by_step(tmp_path: Path, source: str) -> None:
    path = "{trial_dir}/metrics.csv" if source == "csv" else "{trial_dir}"
    directory = command_experiment(tmp_path, {"trial_metrics": {"source": source, "path": path}},
                                   f"--format={source}", "--steps=3")
    result = run_experiment(directory, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    scores = sorted([report["score"] for report in reports] for reports in trial_results(directory / "training").values())
    assert scores == [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]
    assert json.loads((directory / "training" / "best.json").read_text())["value"] == 6.0


def test_asha_stops_command_trials_and_leaves_no_process(tmp_path: Path) -> None:
    directory = command_experiment(tmp_path, {
        "tune_config.scheduler": {"class_path": "ray.tune.schedulers.ASHAScheduler",
                                  "init_args": {"max_t": 40, "grace_period": 2, "reduction_factor": 2}},
        "tune_config.num_samples": 1,
        "param_space": {"x": "tune.grid_search([4.0, 3.0, 2.0, 1.0])"},  # the best first: the rest are behind
        "tune_config.max_concurrent_trials": 4,
    }, "--steps=40", "--delay=0.3")
    result = run_experiment(directory, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    lengths = sorted(len(reports) for reports in trial_results(directory / "training").values())
    assert lengths[0] < 40 and lengths[-1] == 40, lengths  # stopped early, and one ran to the end
    time.sleep(1)
    assert commands_left() == []


def test_a_stalled_command_is_retried_then_fails_with_its_last_lines(tmp_path: Path) -> None:
    directory = command_experiment(tmp_path, {"stall_timeout": 3, "run_config.failure_config.max_failures": 1,
                                              "param_space": {"x": "tune.grid_search([1.0])"},
                                              "tune_config.num_samples": 1}, "--stall-after=1", "--delay=0.05")
    result = run_experiment(directory, timeout=600)
    output = result.stdout + result.stderr
    assert "1 of 1 trials failed" in output, output[-4000:]
    assert [step for _, step in starts(tmp_path)] == [0, 1]  # retried from its checkpoint
    (error,) = (directory / "training" / "tune").glob("*/error.txt")
    text = error.read_text()
    assert "reported no new score for 3 s (stall_timeout)" in text and "stuck" in text
    assert commands_left() == []


def test_repeat_reports_the_mean_of_its_seeds(tmp_path: Path) -> None:
    directory = command_experiment(tmp_path, {"repeat": 3, "param_space": {"x": "tune.grid_search([1.0])"},
                                              "tune_config.num_samples": 1}, "--steps=2")
    result = run_experiment(directory, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (reports,) = trial_results(directory / "training").values()
    # score = x * step + seed, seeds 0, 1, 2: the mean adds 1
    assert [(report["score"], report["seed"]) for report in reports] == [(2.0, 1.0), (3.0, 1.0)]
    (folder,) = [path for path in (directory / "training" / "tune").iterdir() if path.is_dir()]
    assert sorted(path.name for path in folder.glob("seed_*")) == ["seed_0", "seed_1", "seed_2"]


def test_sigkill_of_the_driver_then_rerun_resumes_the_command_from_its_checkpoint(tmp_path: Path) -> None:
    directory = command_experiment(tmp_path, {"param_space": {"x": "tune.grid_search([1.0, 2.0])"},
                                              "tune_config.max_concurrent_trials": 1}, "--steps=8", "--delay=1")
    log = tmp_path / "first.log"
    with background_run_sh(directory, log) as driver:
        wait_while_running(driver, log, lambda: any(len(r) >= 3 for r in trial_results(directory / "training").values()),
                           300, "three reports of the first trial")
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
    deadline = time.monotonic() + 15
    while commands_left() and time.monotonic() < deadline:  # the command dies with its trial's process
        time.sleep(0.2)
    assert commands_left() == []
    result = run_experiment(directory, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    first = [step for x, step in starts(tmp_path) if x == 1.0]
    assert first[0] == 0 and len(first) == 2 and first[1] >= 2, starts(tmp_path)  # went on from its checkpoint
    assert [step for x, step in starts(tmp_path) if x == 2.0] == [0]
    assert json.loads((directory / "training" / "best.json").read_text())["value"] == 16.0
