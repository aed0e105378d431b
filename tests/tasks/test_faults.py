"""Faults a long search survives: a trial process that dies, and an S3 service that errs and crawls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import clean_environment, run_experiment
from tests.emulated_cluster import EmulatedCluster
from tests.s3_fault_proxy import FaultPlan, s3_fault_proxy
from tests.s3_server import S3Server
from tests.tasks.test_tune_remote import remote_env, remote_experiment, s3_reports

pytestmark = pytest.mark.e2e
REPOSITORY = Path(__file__).resolve().parents[2]
EPOCHS = 3


def trial_iterations(run_dir: Path) -> dict[str, list[int]]:
    found = {}
    for path in (run_dir / "tune").glob("*/result.json"):
        found[path.parent.name] = [json.loads(line)["training_iteration"]
                                   for line in path.read_text().splitlines() if line]
    return found


def test_a_trial_process_that_dies_is_retried_from_its_last_checkpoint(experiment, tmp_path: Path) -> None:
    marker = tmp_path / "crashed"
    directory = experiment(
        tune={"tune_config.scheduler.init_args.max_t": EPOCHS, "tune_config.scheduler.init_args.grace_period": EPOCHS,
              "run_config.failure_config.max_failures": 1},
        train={"trainer.max_epochs": EPOCHS, "data.num_train": 1024,
               "trainer.callbacks": [{"class_path": "tests.tasks.crash_once.CrashOnce",
                                      "init_args": {"marker": str(marker), "epoch": 1}}]},
    )
    # the trials import the callback from this repository
    result = run_experiment(directory, env=clean_environment(PYTHONPATH=str(REPOSITORY)))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert marker.exists(), "no trial crashed"
    iterations = trial_iterations(directory / "training")
    assert len(iterations) == 2
    # the crashed trial went on from its epoch-1 checkpoint: no iteration reported twice, none missing
    assert all(reported == list(range(1, EPOCHS + 1)) for reported in iterations.values()), iterations
    # the crash is one line at the default level, not a traceback
    failures = [line for line in output.splitlines() if "Trial task failed for trial" in line]
    assert len(failures) == 1 and "error.txt" in failures[0], output[-6000:]
    assert "Traceback" not in output
    assert (directory / "training" / "best.pt").is_file()


def test_transient_s3_errors_and_slow_answers_lose_nothing(
    tmp_path: Path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    bucket = s3_server.create_bucket("flaky-s3")
    directory = remote_experiment(tmp_path, bucket)
    plan = FaultPlan()
    with s3_fault_proxy(s3_server.endpoint_url, plan) as proxy:
        env = {**remote_env(emulated_cluster, s3_server), "AWS_ENDPOINT_URL": proxy}
        result = run_experiment(directory, env=env, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    failed_keys = [key for _method, key, _status in plan.failed]
    # the faults hit the trials' checkpoint uploads (from the pods) and the driver's state sync
    assert any("/checkpoint_" in key for key in failed_keys), failed_keys
    assert any("experiment_state" in key for key in failed_keys), failed_keys
    assert {status for _m, _k, status in plan.failed} == {500, 503}
    assert plan.slowed > 0

    # nothing lost: every trial's results and last checkpoint, the state, the export
    reports = s3_reports(s3_server, bucket, "my-tune/tune/")
    assert len(reports) == 2 and all(iterations == [1, 2] for iterations in reports.values()), reports
    keys = s3_server.keys(bucket, "my-tune/")
    for trial in reports:
        assert any(f"/{trial}/checkpoint_" in key and key.endswith("/checkpoint") for key in keys), trial
    assert any("experiment_state" in key for key in keys)
    assert "my-tune/best.pt" in keys and "my-tune/best.json" in keys
