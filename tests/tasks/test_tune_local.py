"""The local pipeline end to end: aframe-init, run.sh, law, lightray, a real Ray on loopback."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import torch

from aframe_tune.tasks.local import state_save_period_s
from tests.conftest import ArgvSampler, clean_environment, run_experiment
from tests.ray_head import loopback_ray_head

pytestmark = pytest.mark.e2e


def output_of(result) -> str:
    return result.stdout + result.stderr


def trial_results(run_dir: Path) -> dict[str, list[dict]]:
    """Every trial's reported results, from Ray Tune's result.json files."""
    return {
        path.parent.name: [json.loads(line) for line in path.read_text().splitlines() if line]
        for path in (run_dir / "tune").glob("*/result.json")
    }


FAKE_AWS_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAFAKELOCAL7CHECK", "AWS_SECRET_ACCESS_KEY": "fake-local-secret-Kp2Check"}


def test_run_sh_tunes_locally_exports_best_and_reruns_as_a_no_op(experiment) -> None:
    directory = experiment()
    # AWS keys in the user's shell: Ray Tune would copy them onto trial workers' command lines
    with ArgvSampler() as argv:
        result = run_experiment(directory, env=clean_environment(**FAKE_AWS_KEYS))
    assert result.returncode == 0, output_of(result)[-5000:]
    assert any("default_worker.py" in line for line in argv.seen)  # trial workers were sampled
    for key in FAKE_AWS_KEYS.values():
        assert not [line for line in argv.seen if key in line]

    run_dir = directory / "training"
    best = json.loads((run_dir / "best.json").read_text())
    assert best["metric"] == "valid_auroc" and best["mode"] == "max"
    assert best["value"] > 0.85, best
    assert set(best["hyperparameters"]) == {"model.learning_rate"}

    model = torch.jit.load(str(run_dir / "best.pt"))
    logits = model(torch.randn(6, 2, 512))  # kernel_length 1 s at 512 Hz, H1 and L1
    assert logits.shape == (6, 1)

    trials = trial_results(run_dir)
    assert len(trials) == 2
    reports = [report for reports in trials.values() for report in reports]
    assert {report["node_ip"] for report in reports} == {"127.0.0.1"}
    assert best["value"] == max(report["valid_auroc"] for report in reports)

    modified = (run_dir / "best.pt").stat().st_mtime_ns
    again = run_experiment(directory)
    assert again.returncode == 0, output_of(again)[-3000:]
    assert f"Nothing to do: the search in {run_dir} finished earlier." in output_of(again)
    assert f"Best model: {run_dir}/best.pt" in output_of(again)
    assert "Tuning on " not in output_of(again)
    assert (run_dir / "best.pt").stat().st_mtime_ns == modified


def test_missing_train_yaml_fails_before_the_search_starts(experiment) -> None:
    directory = experiment()
    (directory / "train.yaml").unlink()
    result = run_experiment(directory, timeout=120)
    assert result.returncode == 30
    assert f"train_config = {directory / 'train.yaml'}: file not found" in output_of(result)
    assert "Traceback" not in output_of(result)
    assert "Tuning on " not in output_of(result)
    assert not (directory / "training").exists()


def ray_processes_in(temp_dir: str) -> list[psutil.Process]:
    """The processes of the Ray instances whose temp dir is ``temp_dir``."""
    return [process for process in psutil.process_iter(["cmdline"])
            if temp_dir in " ".join(process.info["cmdline"] or [])]


def test_a_param_space_entry_that_is_not_a_sampling_function_fails_before_the_search_starts(experiment) -> None:
    directory = experiment(tune={"param_space": {"model.learning_rate": "__import__('os').getcwd()"}})
    # Ray starts while the inputs are checked: it must go with the refused run. (Its Unix sockets'
    # paths may not exceed 107 bytes, hence a temp dir of its own, short, in /tmp.)
    with tempfile.TemporaryDirectory(prefix="rt", dir="/tmp") as ray_temp:
        result = run_experiment(directory, env=clean_environment(RAY_TMPDIR=ray_temp), timeout=120)
        deadline = time.monotonic() + 30
        while ray_processes_in(ray_temp) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not ray_processes_in(ray_temp)
        assert list(Path(ray_temp).iterdir()), "Ray did not start while the inputs were checked"
    assert result.returncode == 30
    assert (f"aframe-tune: {directory / 'tune.yaml'}: param_space 'model.learning_rate' = "
            "\"__import__('os').getcwd()\" is not a call of a Ray Tune sampling function") in output_of(result)
    assert "Traceback" not in output_of(result)
    assert "Tuning on " not in output_of(result)
    assert not (directory / "training").exists()


@pytest.fixture
def loopback_ray_cluster() -> Iterator[str]:
    with loopback_ray_head() as address:
        yield address


def test_run_sh_joins_the_cluster_at_ray_address(experiment, loopback_ray_cluster: str) -> None:
    directory = experiment(tune={"tune_config.num_samples": 1})
    # Ray 2.60 clusters demand a token; a client that does not offer one is told how to
    refused = run_experiment(directory, env=clean_environment(RAY_ADDRESS=loopback_ray_cluster))
    assert refused.returncode == 30
    assert "requires token authentication; set RAY_AUTH_MODE=token" in output_of(refused)
    assert "Traceback" not in output_of(refused)

    result = run_experiment(
        directory, env=clean_environment(RAY_ADDRESS=loopback_ray_cluster, RAY_AUTH_MODE="token")
    )
    assert result.returncode == 0, output_of(result)[-5000:]
    assert f"Tuning on the Ray cluster at {loopback_ray_cluster}: 1 trial of 1 CPU each" in output_of(result)
    assert "Tuning on this machine" not in output_of(result)
    assert (directory / "training" / "best.pt").is_file()


def test_fractional_gpus_per_trial_let_trials_share_a_gpu(experiment) -> None:
    # lightray itself reads gpus_per_trial as a whole number and refuses 0.5
    directory = experiment(tune={"gpus_per_trial": 0.5, "tune_config.num_samples": 2})
    with loopback_ray_head(num_gpus=1) as address:
        result = run_experiment(directory, env=clean_environment(RAY_ADDRESS=address, RAY_AUTH_MODE="token"))
    assert result.returncode == 0, output_of(result)[-5000:]
    assert "2 trials of 1 CPU and 0.5 GPUs each" in output_of(result)
    trials = trial_results(directory / "training")
    assert len(trials) == 2
    # [start, end] of each trial: with half a GPU each, both ran at once on the cluster's one GPU
    spans = [(reports[0]["timestamp"] - reports[0]["time_this_iter_s"], reports[-1]["timestamp"])
             for reports in trials.values()]
    # (Ray Tune's timestamps are whole seconds: one after the other would overlap by a second at most)
    (start_a, end_a), (start_b, end_b) = spans
    assert min(end_a, end_b) - max(start_a, start_b) > 2, spans
    assert (directory / "training" / "best.pt").is_file()


def test_a_larger_search_saves_its_state_less_often_in_proportion() -> None:
    assert [state_save_period_s(trials) for trials in (1, 8, 100, 250, 1000)] == ["1", "1", "1", "2.5", "10"]
