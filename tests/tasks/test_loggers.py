"""Where a local search logs its trials: TensorBoard files always, W&B when WANDB_API_KEY is set
(offline here: no traffic leaves the machine), MLflow when tune.cfg names a tracking store; the
W&B key never on a command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ArgvSampler, clean_environment, run_experiment

pytestmark = pytest.mark.e2e
FAKE_WANDB_KEY = "0123456789abcdef0123456789abcdef-fake-wandb"


def test_trials_are_logged_to_tensorboard_wandb_and_mlflow(experiment, tmp_path: Path) -> None:
    directory = experiment()
    store = tmp_path / "mlflow.db"
    config = directory / "tune.cfg"
    config.write_text(config.read_text().replace(
        "# tracking_uri = sqlite:////home/albert.einstein/mlflow.db", f"tracking_uri = sqlite:///{store}"))
    # W&B offline and MLflow's usage telemetry off: nothing may leave the machine
    env = clean_environment(WANDB_API_KEY=FAKE_WANDB_KEY, WANDB_MODE="offline", WANDB_DIR=str(tmp_path),
                            WANDB_SILENT="true", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    with ArgvSampler() as argv:
        result = run_experiment(directory, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Logging the trials to W&B project aframe" in output
    assert f"Logging the trials to MLflow at sqlite:///{store}" in output

    trials = [path for path in (directory / "training" / "tune").iterdir() if path.name.startswith("trainable_")]
    assert len(trials) == 2
    for trial in trials:  # Ray Tune's TensorBoard files, with the model's metric in them
        (events,) = trial.glob("events.out.tfevents.*")
        assert b"valid_auroc" in events.read_bytes()

    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 2  # a W&B run per trial
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    runs = client.search_runs([client.get_experiment_by_name("aframe-tune").experiment_id])
    assert len(runs) == 2  # an MLflow run per trial, with the metric's history
    assert all(len(client.get_metric_history(run.info.run_id, "valid_auroc")) == 2 for run in runs)

    assert [line for line in argv.seen if FAKE_WANDB_KEY in line] == []
    assert FAKE_WANDB_KEY not in output
    assert not list(Path("/tmp").glob("aframe-tune-wandb-*"))  # the private netrc is gone
