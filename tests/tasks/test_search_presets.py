"""``aframe-init --search PRESET``: each preset's tune.yaml runs a tiny search end to end, and a
stateful searcher (Optuna, BayesOpt) killed mid-search resumes with its state."""

from __future__ import annotations

import json
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from aframe_tune.presets import PRESETS
from tests.conftest import aframe_init, background_run_sh, edit_yaml, run_experiment, wait_while_running

pytestmark = pytest.mark.e2e

EPOCHS = 2
TINY_TRAIN = {"trainer.max_epochs": EPOCHS, "data.num_train": 1024, "data.num_valid": 512}
ASHA = {"tune_config.scheduler.init_args.max_t": EPOCHS, "tune_config.scheduler.init_args.grace_period": 1}
# Each preset shrunk to a few short trials, its search algorithm and scheduler left as written.
TINY_SEARCH: dict[str, dict[str, Any]] = {
    "random": {"tune_config.num_samples": 3},
    "asha": {"tune_config.num_samples": 3, **ASHA},
    "optuna": {"tune_config.num_samples": 3, **ASHA},
    "hyperopt": {"tune_config.num_samples": 3, **ASHA},
    "bayesopt": {"tune_config.num_samples": 3},
    "pbt": {"tune_config.num_samples": 2, "tune_config.scheduler.init_args.perturbation_interval": 1},
}


def scaffold(tmp_path: Path, search: str, tune: dict[str, Any], train: dict[str, Any]) -> Path:
    directory = tmp_path / search
    result = aframe_init("offline", "--mode", "tune", "--directory", str(directory), "--search", search)
    assert result.returncode == 0, result.stderr
    assert f"search: {search}" in result.stdout
    edit_yaml(directory / "tune.yaml", tune)
    edit_yaml(directory / "train.yaml", train)
    return directory


def trial_reports(run_dir: Path) -> dict[str, list[dict]]:
    return {
        path.parent.name: [json.loads(line) for line in path.read_text().splitlines() if line]
        for path in (run_dir / "tune").glob("*/result.json")
    }


# stateful searchers: their end-to-end search is the one killed and resumed (below), which checks
# the same as test_each_search_preset_runs_a_search_end_to_end once it has resumed
STATEFUL = ("optuna", "bayesopt")


def test_every_preset_is_tested() -> None:
    assert set(TINY_SEARCH) == set(PRESETS)


@pytest.mark.parametrize("search", [name for name in TINY_SEARCH if name not in STATEFUL])
def test_each_search_preset_runs_a_search_end_to_end(tmp_path: Path, search: str) -> None:
    # PBT: two trials side by side for a few epochs, to copy and perturb each other as they go
    train = {**TINY_TRAIN, "trainer.max_epochs": 4, "data.num_train": 2048} if search == "pbt" else TINY_TRAIN
    directory = scaffold(tmp_path, search, TINY_SEARCH[search], train)
    result = run_experiment(directory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    run_dir = directory / "training"
    trials = check_preset_search(run_dir, search, TINY_SEARCH[search]["tune_config.num_samples"])
    if search == "random":  # no early stopping: every trial trains to the end
        assert all(len(reports) == train["trainer.max_epochs"] for reports in trials.values())
    if search == "pbt":  # a trial that copies another's checkpoint goes on from that one's epoch
        assert max(reports[-1]["training_iteration"] for reports in trials.values()) == train["trainer.max_epochs"]


def check_preset_search(run_dir: Path, search: str, samples: int) -> dict[str, list[dict]]:
    """A finished search of the preset: its trials, none failed, its best exported, its search
    space as the preset writes it, and its searcher's state saved (for one that has a state)."""
    trials = trial_reports(run_dir)
    assert len(trials) == samples, trials.keys()
    # no trial failed (a failed trial does not fail run.sh, its retries spent)
    assert not list((run_dir / "tune").glob("*/error.txt"))
    best = json.loads((run_dir / "best.json").read_text())
    assert (run_dir / "best.pt").is_file()
    configs = [reports[0]["config"] for reports in trials.values()]
    if search == "bayesopt":
        assert set(best["hyperparameters"]) == {"model.learning_rate", "model.weight_decay"}
        assert all(1e-4 <= config["model.learning_rate"] <= 1e-2 for config in configs)
        # no early stopping: every trial trains to the end
        assert all(len(reports) == EPOCHS for reports in trials.values())
    else:
        assert set(best["hyperparameters"]) == {"model.learning_rate", "data.kernel_length"}
    state = list((run_dir / "tune").glob("searcher-state-*.pkl"))
    assert bool(state) == (PRESETS[search].module is not None), state
    return trials


def searcher_observations(experiment: Path, search: str) -> int:
    """How many finished trials the saved searcher state has learnt from."""
    (newest,) = sorted(experiment.glob("searcher-state-*.pkl"))[-1:]
    with newest.open("rb") as file:
        state = pickle.load(file)
    if search == "optuna":
        return sum(trial.state.is_finished() for trial in state["_ot_study"].trials)
    # BayesOpt: results wait in a buffer until its random trials are done, then join the model
    return max(len(state["optimizer"].space), len(state["_buffered_trial_results"]))


@pytest.mark.parametrize("search", STATEFUL)
def test_a_stateful_searcher_killed_mid_search_resumes_with_its_state(tmp_path: Path, search: str) -> None:
    samples = 4
    # one trial at a time, each of several seconds, so that trials are left when the driver dies
    tune = {**TINY_SEARCH[search], "tune_config.num_samples": samples, "tune_config.max_concurrent_trials": 1}
    directory = scaffold(tmp_path, search, tune, {**TINY_TRAIN, "data.num_train": 2048})
    run_dir = directory / "training"
    log = tmp_path / "first.log"
    with background_run_sh(directory, log) as driver:
        wait_while_running(driver, log, lambda: any(len(r) == EPOCHS for r in trial_reports(run_dir).values()),
                           240, "a first trial to finish")
        time.sleep(2.5)  # Tune saves the experiment's and the searcher's state every second
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
    finished_before = {trial: reports for trial, reports in trial_reports(run_dir).items() if len(reports) == EPOCHS}
    assert 1 <= len(finished_before) < samples, "the search finished before it could be interrupted"
    assert searcher_observations(run_dir / "tune", search) >= 1

    result = run_experiment(directory)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Resuming the search in " in output
    after = check_preset_search(run_dir, search, samples)  # exactly num_samples trials, no more, no fewer
    for trial, reports in finished_before.items():
        assert after[trial] == reports  # finished trials were not trained again
    # the searcher went on from its saved state: it has learnt from every trial, those finished
    # before the driver died included (a fresh searcher would know only the trials after it)
    assert searcher_observations(run_dir / "tune", search) == samples
