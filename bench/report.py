"""Medians, ratios and the headline figures, for the terminal and the JSON file."""

from __future__ import annotations

import math
import statistics

from bench.contenders import CONTENDERS
from bench.scale import scale_headline
from bench.searches import ResumeRun, SearchRun

SEARCH_FIGURES = ("wall_s", "ideal_s", "overhead_ratio", "time_to_first_trial_s", "setup_first_s", "setup_later_s")


def _median(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def summarise_searches(runs: list[SearchRun]) -> dict:
    """Per contender, the median of each figure over its repetitions."""
    summary = {}
    for name in CONTENDERS:
        mine = [run.as_json() for run in runs if run.contender == name]
        if mine:
            summary[name] = {figure: _median([run[figure] for run in mine]) for figure in SEARCH_FIGURES}
    return summary


def summarise_resumes(runs: list[ResumeRun]) -> dict:
    return {name: {"resume_s": _median([r.resume_s for r in runs if r.contender == name]),
                   "all_restored": all(r.restored for r in runs if r.contender == name)}
            for name in CONTENDERS if any(r.contender == name for r in runs)}


def remote_headline(runs: list[dict]) -> dict:
    """Per backend, and the worse of the backends without a suffix: the remote search's first
    trial, the API requests made from this machine, the idle fraction of worker-seconds."""
    figures: dict = {}
    for name, value in (("remote_first_trial_s", lambda r: r["first_trial_s"]),
                        ("remote_api_requests", lambda r: r["api_requests"]["total"]),
                        ("idle_worker_fraction", lambda r: r["idle_workers"]["fraction"])):
        per_backend = {run["backend"]: value(run) for run in runs}
        figures[name] = max(per_backend.values())
        figures.update((f"{name}_{backend}", v) for backend, v in per_backend.items())
    return figures


def headline(results: dict) -> dict:
    """The top-level figures: this pipeline's, the others' overhead, readiness with 1 replica,
    the remote search's."""
    figures: dict = {}
    overhead = results.get("overhead", {}).get("summary", {})
    if "pipeline" in overhead:
        figures["overhead_ratio"] = overhead["pipeline"]["overhead_ratio"]
        figures["time_to_first_trial_s"] = overhead["pipeline"]["time_to_first_trial_s"]
        figures["setup_later_s"] = overhead["pipeline"]["setup_later_s"]
    for name in ("lightray", "raw_tune"):
        if name in overhead:
            figures[f"{name}_overhead_ratio"] = overhead[name]["overhead_ratio"]
    if "raw_tune" in overhead:
        figures["raw_tune_time_to_first_trial_s"] = overhead["raw_tune"]["time_to_first_trial_s"]
        figures["raw_tune_setup_later_s"] = overhead["raw_tune"]["setup_later_s"]
    for preset, searched in results.get("schedulers", {}).items():
        for name, prefix in (("pipeline", ""), ("raw_tune", "raw_tune_")):
            if name in searched["summary"]:
                figures[f"{prefix}overhead_ratio_{preset}"] = searched["summary"][name]["overhead_ratio"]
    for trials, scaled in results.get("scaling", {}).items():
        for name, prefix in (("pipeline", ""), ("raw_tune", "raw_tune_")):
            if name in scaled["summary"]:
                figures[f"{prefix}wall_{trials}_s"] = scaled["summary"][name]["wall_s"]
    readiness = results.get("readiness", {}).get("summary", {})
    if "watch/1" in readiness:
        figures["readiness_latency_s"] = readiness["watch/1"]["latency_s"]
        figures["readiness_api_requests"] = readiness["watch/1"]["api_requests"]
    if results.get("remote", {}).get("runs"):
        figures.update(remote_headline(results["remote"]["runs"]))
    if "scale" in results:
        figures.update(scale_headline(results["scale"]))
    if "skipped" in results.get("gpu", {}):
        figures["gpu_skipped"] = results["gpu"]["skipped"]
    elif "gpu" in results:
        figures["gpu_shared_over_whole_trials_per_hour"] = results["gpu"]["shared_over_whole_trials_per_hour"]
    return figures


def scale_rows(scale: dict) -> list[list[str]]:
    """One row per contender and size: trials, wall s, first trial s, wall per trial s, driver peak MB."""
    return [[r["contender"], str(r["trials"]), f"{r['wall_s']:.1f}", f"{r['time_to_first_trial_s']:.1f}",
             f"{r['wall_per_trial_s']:.3f}", f"{r['driver_peak_rss_mb']:.0f}"] for r in scale["runs"]]


SCALE_HEADER = ["contender", "trials", "wall s", "1st trial s", "wall per trial s", "driver peak MB"]


def gpu_lines(gpu: dict) -> list[str]:
    """What the GPU measurement found, or why it was skipped."""
    if "skipped" in gpu:
        return [f"GPU: skipped, {gpu['skipped']}"]
    return [f"GPU ({', '.join(gpu['gpus'])}): gpus_per_trial {r['gpus_per_trial']:g}: {r['trials_per_hour']:.0f} trials "
            f"per hour, GPU {r['utilisation_percent']:.0f}% busy" for r in gpu["runs"]]


def remote_rows(runs: list[dict]) -> list[list[str]]:
    """One row per backend: first trial s, API requests (watches), idle fraction, worker-seconds
    held and idle, workers given back early, wall s."""
    return [[r["backend"], f"{r['first_trial_s']:.1f}", f"{r['api_requests']['total']} ({r['api_requests']['watches']})",
             f"{r['idle_workers']['fraction']:.3f}", f"{r['idle_workers']['held_s']:.0f}",
             f"{r['idle_workers']['idle_s']:.0f}", str(r["idle_workers"]["released_early"]), f"{r['wall_s']:.0f}"]
            for r in runs]


REMOTE_HEADER = ["backend", "1st trial s", "API requests (watches)", "idle fraction", "held worker-s",
                 "idle worker-s", "released early", "wall s"]


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))


def _searches_table(title: str, summary: dict) -> None:
    base = summary.get("lightray", {})
    rows = []
    for name, figures in summary.items():
        vs = figures["wall_s"] / base["wall_s"] if base else float("nan")
        rows.append([name, f"{figures['wall_s']:.1f}", f"{figures['ideal_s']:.1f}", f"{figures['overhead_ratio']:.3f}",
                     f"{vs:.3f}", f"{figures['time_to_first_trial_s']:.1f}", f"{figures['setup_first_s']:.2f}",
                     f"{figures['setup_later_s']:.2f}"])
    _table(title, ["contender", "wall s", "ideal s", "wall/ideal", "wall/lightray", "1st trial s",
                   "setup 1st s", "setup later s"], rows)


def print_report(results: dict) -> None:
    """Medians and ratios, one table per measurement."""
    machine = results["machine"]
    print(f"aframe-tune benchmarks on {machine['cpus']} CPUs, {machine['platform']}, Ray {machine['ray']}, "
          f"torch {machine['torch']} (medians)")
    if "overhead" in results:
        _searches_table(f"Orchestration overhead: {results['plan']['overhead']['trials']} fixed-work trials",
                        results["overhead"]["summary"])
    for preset, searched in results.get("schedulers", {}).items():
        _searches_table(f"Orchestration overhead with the {preset} preset's scheduler", searched["summary"])
    if "resume" in results:
        rows = [[name, f"{f['resume_s']:.1f}", str(f["all_restored"])] for name, f in results["resume"]["summary"].items()]
        _table("Resume cost: re-run to first resumed training step", ["contender", "seconds", "restored"], rows)
    for trials, scaled in results.get("scaling", {}).items():
        _searches_table(f"Scaling: {trials} short trials", scaled["summary"])
    if "readiness" in results:
        rows = [[key, f"{f['latency_s'] * 1000:.0f}", f"{f['api_requests']:.0f}", f"{f['state_changes']:.0f}"]
                for key, f in results["readiness"]["summary"].items()]
        _table("Cluster readiness (waiter/workers)", ["waiter", "latency ms", "API requests", "pod changes"], rows)
    if "remote" in results:
        search = results["plan"]["remote"]
        _table(f"Remote ASHA search on the emulated cluster: {search['trials']} trials on {search['workers']} workers",
               REMOTE_HEADER, remote_rows(results["remote"]["runs"]))
    if "scale" in results:
        _table("Scale: tiny trials (one step each)", SCALE_HEADER, scale_rows(results["scale"]))
    if "gpu" in results:
        print("\n" + "\n".join(gpu_lines(results["gpu"])))
    figures = headline(results)
    if figures:
        print("\nheadline: " + ", ".join(f"{k} = {v:.3f}" if isinstance(v, float) else f"{k} = {v}"
                                        for k, v in figures.items()))
