"""The benchmark suite (bench/) works: its figures are computed right and one smallest run of
every measurement completes. No timing is asserted: benchmarks measure, tests check."""

from __future__ import annotations

import json
import pydoc
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aframe_tune.tune.inputs import check_search_inputs
from aframe_tune.tune.train_config import TrainConfig
from bench.idle_workers import Sample, idle_fraction
from bench.raw_tune import raw_checkpoints, raw_scheduler
from bench.readiness import measure_once
from bench.remote import ApiRequests, first_step, request_kind
from bench.report import remote_headline
from bench.searches import SearchRun, TrialTiming, read_trials, resumed
from bench.workload import Workload
from tests.conftest import clean_environment
from tests.k8s.emulator import RequestRecord

REPOSITORY = Path(__file__).resolve().parents[1]


def write_events(directory: Path, pid: int, events: list[tuple[str, str, float, dict]]) -> None:
    with (directory / f"{pid}.jsonl").open("a") as handle:
        for event, trial, t, fields in events:
            handle.write(json.dumps({"event": event, "trial": trial, "pid": pid, "t": t, **fields}) + "\n")


def test_figures_from_the_trials_events(tmp_path: Path) -> None:
    # two processes, two trials each; the second trial of each reuses the process
    write_events(tmp_path, 1, [("start", "a", 10.0, {}), ("first_step", "a", 12.0, {}), ("end", "a", 20.0, {"compute_s": 7.0}),
                               ("start", "c", 20.1, {}), ("first_step", "c", 20.3, {}), ("end", "c", 28.0, {"compute_s": 7.5})])
    write_events(tmp_path, 2, [("start", "b", 10.5, {}), ("first_step", "b", 12.5, {}), ("end", "b", 20.5, {"compute_s": 7.0}),
                               ("start", "d", 20.6, {}), ("first_step", "d", 21.0, {}), ("end", "d", 28.5, {"compute_s": 7.5})])
    trials = read_trials(tmp_path)
    assert [t.trial for t in trials] == ["a", "b", "c", "d"]
    run = SearchRun("pipeline", wall_s=30.0, concurrency=2, trials=trials, launched=4.0)
    assert run.compute_s == 29.0 and run.ideal_s == 14.5
    assert math.isclose(run.overhead_ratio, 30.0 / 14.5)
    assert run.time_to_first_trial_s == 8.0  # launched at 4, first step at 12
    assert run.setup_first_s == 2.0
    assert math.isclose(run.setup_later_s, 0.3)  # median of 0.2 and 0.4
    # a resumed run counts from its own start
    assert [t.trial for t in read_trials(tmp_path, since=20.05)] == ["c", "d"]


def test_a_trial_stopped_or_paused_by_a_scheduler_counts_the_compute_it_reported(tmp_path: Path) -> None:
    # "a" is stopped after its second report; "b" is paused, then restored into the same process
    write_events(tmp_path, 1, [("start", "a", 10.0, {}), ("first_step", "a", 11.0, {}),
                               ("progress", "a", 15.0, {"compute_s": 4.0}), ("progress", "a", 19.0, {"compute_s": 8.0}),
                               ("start", "b", 20.0, {}), ("first_step", "b", 20.5, {}),
                               ("progress", "b", 24.0, {"compute_s": 3.5}),
                               ("start", "b", 25.0, {}), ("first_step", "b", 25.2, {}),
                               ("progress", "b", 28.0, {"compute_s": 2.8}), ("end", "b", 29.0, {"compute_s": 3.6})])
    trials = read_trials(tmp_path)
    assert [(t.trial, t.compute_s, t.end) for t in trials] == [("a", 8.0, None), ("b", 3.5, None), ("b", 3.6, 29.0)]
    assert SearchRun("pipeline", wall_s=20.0, concurrency=1, trials=trials, launched=9.0).compute_s == 15.1


def test_a_search_counts_as_resumed_when_its_own_trials_go_on_whether_or_not_one_was_running() -> None:
    def timing(trial: str, ended: bool) -> TrialTiming:
        return TrialTiming(trial, 1, 0.0, 1.0, 2.0 if ended else None, 1.0)

    between_waves = [timing("3edb1_00000", True), timing("3edb1_00001", True)]
    mid_trial = [timing("3edb1_00000", True), timing("3edb1_00001", False)]
    assert resumed(between_waves, [timing("3edb1_00002", False), timing("3edb1_00003", False)])
    assert resumed(mid_trial, [timing("3edb1_00001", False), timing("3edb1_00002", False)])
    assert not resumed(between_waves, [timing("9f00a_00000", False)])  # a fresh search
    assert not resumed(between_waves, [timing("3edb1_00000", False)])  # a finished trial trained again
    assert not resumed(between_waves, [])


@pytest.mark.cluster
def test_the_watch_makes_as_many_requests_for_32_workers_as_for_1() -> None:
    rng = random.Random(1)
    one, many = measure_once("watch", 1, rng, pull_s=1.0), measure_once("watch", 32, rng, pull_s=1.0)
    assert many.state_changes > 3 * one.state_changes
    assert many.api_requests == one.api_requests  # O(1): one watch, whatever the pods do


@pytest.mark.e2e
def test_python_m_bench_runs_every_measurement_and_writes_the_headline_figures(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out)], cwd=REPOSITORY,
                            capture_output=True, text=True, env=clean_environment(), timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    results = json.loads(out.read_text())
    for figure in ("overhead_ratio", "lightray_overhead_ratio", "raw_tune_overhead_ratio", "time_to_first_trial_s",
                   "raw_tune_time_to_first_trial_s", "setup_later_s", "raw_tune_setup_later_s",
                   "readiness_latency_s", "readiness_api_requests"):
        assert results[figure] > 0, figure
    assert set(results["overhead"]["summary"]) == {"pipeline", "lightray", "raw_tune"}
    assert all(run["trials"] == 3 for run in results["overhead"]["runs"])
    # every driver imports torch, Lightning and Ray: hundreds of MB (Ray's own processes are not counted)
    assert all(200 < run["driver_peak_rss_mb"] < 4000 for run in results["overhead"]["runs"]), results["overhead"]
    # the smoke resumes the pipeline's search only (bench/plan.py)
    assert [(run["contender"], run["restored"]) for run in results["resume"]["runs"]] == [("pipeline", True)]
    assert set(results["readiness"]["summary"]) == {"watch/1", "watch/4", "poll_2s/1", "poll_2s/4"}
    assert "Orchestration overhead" in result.stdout and "headline:" in result.stdout
    assert "remote" not in results  # minutes per backend: the full and quick plans' only (bench/plan.py)


def test_idle_worker_seconds_count_from_the_first_trial_and_name_workers_given_back_early() -> None:
    both, a_only = frozenset({"a", "b"}), frozenset({"a"})
    samples = [Sample(0.0, both, frozenset()),      # start-up: not counted
               Sample(1.0, both, frozenset({"a", "b"})),
               Sample(2.0, both, frozenset({"a"})),  # b idle for 1 s
               Sample(3.0, a_only, frozenset({"a"})),  # b given back while a still works
               Sample(4.0, frozenset(), frozenset())]
    figure = idle_fraction(samples)
    assert (figure.held_s, figure.idle_s, figure.released_early) == (5.0, 1.0, 1)
    assert figure.fraction == 0.2


def test_remote_figures_count_this_machines_requests_and_the_earliest_first_step(tmp_path: Path) -> None:
    def request(user: str | None, t: float, agent: str = "kr8s/0.20", watch: bool = False) -> RequestRecord:
        return RequestRecord("GET", "/api/v1/namespaces/gw-albert/pods", {"watch": "1"} if watch else {}, "", "",
                             agent, t, status=200, user=user)

    log = [request(None, 1.0),  # before run.sh started
           request(None, 11.0, "Helm/3.17"), request(None, 12.0, watch=True), request(None, 13.0),
           request("system:serviceaccount:gw-albert:head", 14.0, "python-requests/2.32")]  # in the cluster
    api = ApiRequests.of(log, since=10.0)
    assert (api.total, api.watches, dict(api.by_client)) == (3, 1, {"kr8s": 2, "Helm": 1})
    assert dict(api.by_kind) == {"GET pods": 2, "watch pods": 1}
    kinds = [request_kind(RequestRecord(method, path, {}, "", "", "", 0.0)) for method, path in [
        ("GET", "/api/v1/namespaces/gw-albert/pods/head-0/log"), ("GET", "/apis/batch/v1"), ("GET", "/version"),
        ("POST", "/apis/ray.io/v1/namespaces/gw-albert/rayjobs"), ("GET", "/api/v1/namespaces/gw-albert")]]
    assert kinds == ["GET pods/log", "GET discovery", "GET discovery", "POST rayjobs", "GET namespaces"]
    write_events(tmp_path, 1, [("first_step", "a", 30.0, {}), ("end", "a", 40.0, {"compute_s": 9.0})])
    write_events(tmp_path, 2, [("first_step", "b", 25.0, {})])
    assert first_step(tmp_path) == 25.0
    assert math.isnan(first_step(tmp_path / "none"))
    runs = [{"backend": "chart", "first_trial_s": 40.0, "api_requests": {"total": 90},
             "idle_workers": {"fraction": 0.05}},
            {"backend": "kuberay", "first_trial_s": 50.0, "api_requests": {"total": 70},
             "idle_workers": {"fraction": 0.07}}]
    figures = remote_headline(runs)
    # without a suffix: the worse backend's
    assert (figures["remote_first_trial_s"], figures["remote_api_requests"], figures["idle_worker_fraction"]) == (50.0, 90, 0.07)
    assert figures["remote_first_trial_s_chart"] == 40.0 and figures["idle_worker_fraction_kuberay"] == 0.07


@pytest.mark.parametrize("preset", ["asha", "pbt"])
def test_a_presets_scheduler_reaches_both_contenders_alike_and_passes_the_pipelines_checks(
        tmp_path: Path, preset: str) -> None:
    workload = Workload(trials=8, epochs=8, num_train=256, num_valid=128, preset=preset)
    own = yaml.safe_load((REPOSITORY / "configs" / "tune" / "searches" / f"{preset}.yaml").read_text())["scheduler"]
    tune_yaml = workload.tune_config()
    assert tune_yaml["tune_config"]["scheduler"] == own
    (tmp_path / "tune.yaml").write_text(yaml.safe_dump(tune_yaml))
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(workload.train_config()))
    check_search_inputs(tmp_path / "tune.yaml", TrainConfig(tmp_path / "train.yaml"))
    scheduler = raw_scheduler(workload)
    assert isinstance(scheduler, pydoc.locate(own["class_path"]))
    checkpoints = raw_checkpoints(workload)
    if preset == "pbt":  # its own block: every checkpoint kept, the mutations under raw Tune's name
        assert checkpoints.num_to_keep is None
        assert set(scheduler._hyperparam_mutations) == {"learning_rate"}
    else:
        assert checkpoints.num_to_keep == 2 and scheduler._max_t == own["init_args"]["max_t"]
    assert raw_scheduler(Workload(trials=8, epochs=8, num_train=256, num_valid=128)) is None
