"""``aframe-tune report``: a real search's experiment, read while it runs and once it finished,
from a local run directory and from S3."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, background_run_sh, clean_environment, wait_while_running
from tests.s3_server import S3Server

pytestmark = pytest.mark.e2e

SAMPLES = 4
PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {"learning_curves.png", "metric_vs_model.learning_rate.png", "metric_vs_data.kernel_length.png",
           "best_trial.png"}


def aframe_tune(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "aframe-tune"), *args], capture_output=True, text=True,
                          env=env or clean_environment(), timeout=300)


def started_trials(run_dir: Path) -> int:
    return sum(1 for path in (run_dir / "tune").glob("*/result.json") if path.stat().st_size)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A search of 4 trials with ASHA (some stopped early), reported on once while it runs."""
    from tests.conftest import aframe_init, edit_yaml

    directory = tmp_path_factory.mktemp("report") / "experiment"
    assert aframe_init("offline", "--mode", "tune", "--directory", str(directory)).returncode == 0
    edit_yaml(directory / "tune.yaml", {
        "tune_config.num_samples": SAMPLES, "tune_config.max_concurrent_trials": 1,
        "tune_config.scheduler.init_args.max_t": 3, "tune_config.scheduler.init_args.grace_period": 1,
        "param_space": {"model.learning_rate": "tune.loguniform(1e-4, 1e-1)",
                        "data.kernel_length": "tune.choice([1.0, 2.0])"},
    })
    edit_yaml(directory / "train.yaml", {"trainer.max_epochs": 3, "data.num_train": 1024, "data.num_valid": 512})
    run_dir = directory / "training"
    log = directory.parent / "run.log"
    with background_run_sh(directory, log) as driver:
        wait_while_running(driver, log, lambda: started_trials(run_dir) >= 1, 240, "a first trial's report")
        running = aframe_tune("report", str(run_dir))
        assert running.returncode == 0, running.stderr
        assert f"of {SAMPLES} trials" in running.stdout
        assert "Best: trial" in running.stdout
        assert driver.wait(300) == 0, log.read_text()[-5000:]
    (run_dir / "report").rename(directory.parent / "report-while-running")
    return run_dir


def test_report_of_a_finished_local_run(finished_run: Path) -> None:
    result = aframe_tune("report", str(finished_run))
    assert result.returncode == 0, result.stderr
    best = json.loads((finished_run / "best.json").read_text())
    # the report's best trial is the one whose checkpoint became best.pt
    assert f"Best: trial {best['trial_id']}, valid_auroc = {best['value']:.4g}" in result.stdout
    assert f"{SAMPLES} of {SAMPLES} trials" in result.stdout

    report = finished_run / "report"
    assert {path.name for path in report.iterdir()} == {"trials.csv", "summary.md", *FIGURES}
    for figure in FIGURES:
        content = (report / figure).read_bytes()
        assert content.startswith(PNG) and len(content) > 10_000, figure

    rows = list(csv.DictReader((report / "trials.csv").open()))
    assert len(rows) == SAMPLES
    assert rows[0]["trial_id"] == best["trial_id"]  # best first
    assert {"model.learning_rate", "data.kernel_length", "final", "best", "iterations", "stop_reason"} <= set(rows[0])
    for row in rows:
        assert row["status"] == "TERMINATED"
        stopped_early = int(row["iterations"]) < 3
        assert row["stop_reason"] == ("stopped early by AsyncHyperBandScheduler after 1 report" if row["iterations"] == "1"
                                      else "stopped early by AsyncHyperBandScheduler after 2 reports" if stopped_early
                                      else "completed")
    values = [float(row["best"]) for row in rows]
    assert values == sorted(values, reverse=True)

    summary = (report / "summary.md").read_text()
    assert "Search: random search, scheduler AsyncHyperBandScheduler" in summary
    assert all(f"]({figure})" in summary for figure in FIGURES)
    assert summary.count(" | TERMINATED | ") == SAMPLES


def test_report_while_the_search_ran(finished_run: Path) -> None:
    earlier = finished_run.parent.parent / "report-while-running"
    rows = list(csv.DictReader((earlier / "trials.csv").open()))
    assert 1 <= len(rows) <= SAMPLES
    assert (earlier / "learning_curves.png").read_bytes().startswith(PNG)


def test_report_of_a_run_directory_in_s3(finished_run: Path, s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket("report-from-s3")
    client = s3_server.client()
    for path in finished_run.rglob("*"):
        if path.is_file() and "report" not in path.parts:
            client.upload_file(str(path), bucket, f"runs/one/{path.relative_to(finished_run)}")
    result = aframe_tune("report", f"s3://{bucket}/runs/one", env=clean_environment(**s3_server.environment()))
    assert result.returncode == 0, result.stderr
    assert f"s3://{bucket}/runs/one: {SAMPLES} of {SAMPLES} trials" in result.stdout
    uploaded = {key.removeprefix("runs/one/report/") for key in s3_server.keys(bucket, "runs/one/report/")}
    assert uploaded == {"trials.csv", "summary.md", *FIGURES}
    summary = client.get_object(Bucket=bucket, Key="runs/one/report/summary.md")["Body"].read().decode()
    assert summary.startswith(f"# Tuning report: s3://{bucket}/runs/one")


def test_report_of_an_empty_s3_prefix_is_a_clear_error(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket("report-nothing-there")
    result = aframe_tune("report", f"s3://{bucket}/nothing", env=clean_environment(**s3_server.environment()))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"aframe-tune: error: s3://{bucket}/nothing holds nothing; give the run "
                                     "directory (AFRAME_TRAIN_RUN_DIR in run.sh)")
