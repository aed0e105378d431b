"""``python -m bench [--quick] [--out results.json]``: the benchmark suite, one invocation.

Runs every measurement for every contender on this machine, interleaved and repeated, prints
medians and ratios, and with ``--out`` writes the raw numbers and the headline figures as JSON.
See docs/benchmarks.md for what each number means.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.contenders import CONTENDERS, Launch
from bench.gpu import measure_gpu
from bench.plan import FULL, QUICK, SMOKE, Plan
from bench.readiness import WAITERS, measure_once, summarise
from bench.remote import measure_remote
from bench.scale import measure_scale
from bench.report import headline, print_report, summarise_resumes, summarise_searches
from bench.searches import run_resume, run_search
from bench.workload import Workload

MEASUREMENTS = ("readiness", "overhead", "schedulers", "resume", "scaling", "remote", "scale", "gpu")
logger = logging.getLogger("bench")


def interleaved(repetitions: int, contenders: Sequence[str] = CONTENDERS) -> list[tuple[int, str]]:
    """Every contender once per repetition, the order rotated so none always goes first."""
    order = []
    for rep in range(repetitions):
        shift = rep % len(contenders)
        order += [(rep, name) for name in [*contenders[shift:], *contenders[:shift]]]
    return order


def machine() -> dict:
    import ray
    import torch

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor(),
            "python": platform.python_version(), "ray": ray.__version__, "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d")}


def measure_readiness(plan: Plan) -> dict:
    rng = random.Random(0)
    runs = []
    for rep in range(plan.readiness_repetitions):
        for workers in plan.readiness_workers:
            for waiter in WAITERS:
                run_ = measure_once(waiter, workers, rng)
                logger.info("readiness %s/%d #%d: %.3f s, %d requests", waiter, workers, rep,
                            run_.latency_s, run_.api_requests)
                runs.append(run_)
    return {"runs": [r.as_json() for r in runs], "summary": summarise(runs)}


def measure_searches(label: str, workload: Workload, repetitions: int, workdir: Path, timeout_s: float,
                     contenders: Sequence[str] = CONTENDERS) -> dict:
    """Each contender runs ``workload`` to the end, ``repetitions`` times, interleaved."""
    concurrency = min(os.cpu_count() or 1, workload.trials)
    runs = []
    for rep, name in interleaved(repetitions, contenders):
        search = run_search(Launch(name, workload, workdir / f"{label}-{rep}-{name}"), concurrency, timeout_s)
        logger.info("%s %s #%d: %.1f s wall, %.1f s ideal, ratio %.3f, first trial after %.1f s", label, name, rep,
                    search.wall_s, search.ideal_s, search.overhead_ratio, search.time_to_first_trial_s)
        runs.append(search)
    return {"runs": [r.as_json() for r in runs], "summary": summarise_searches(runs)}


def measure_resumes(plan: Plan, workdir: Path) -> dict:
    """Each contender's search interrupted with Ctrl-C once a trial finished, then started again."""
    runs = []
    for rep, name in interleaved(plan.resume_repetitions):
        if plan.resume_contenders and name not in plan.resume_contenders:
            continue
        resumed = run_resume(Launch(name, plan.resume, workdir / f"resume-{rep}-{name}"), plan.timeout_s)
        logger.info("resume %s #%d: first resumed step after %.1f s (restored: %s)", name, rep,
                    resumed.resume_s, resumed.restored)
        runs.append(resumed)
    return {"runs": [r.as_json() for r in runs], "summary": summarise_resumes(runs)}


def measure_remotes(plan: Plan, workdir: Path) -> dict:
    """The remote ASHA search, once per backend, each on a fresh emulated cluster."""
    runs = [measure_remote(backend, plan.remote, workdir / f"remote-{backend}", plan.timeout_s)
            for backend in plan.remote_backends]
    return {"runs": [r.as_json() for r in runs]}


def run(plan: Plan, measurements: Sequence[str], workdir: Path) -> dict:
    results: dict = {"plan": plan.as_json(), "machine": machine()}
    if "readiness" in measurements:
        results["readiness"] = measure_readiness(plan)
    if "overhead" in measurements:
        results["overhead"] = measure_searches("overhead", plan.overhead, plan.repetitions, workdir, plan.timeout_s)
    if "schedulers" in measurements and plan.schedulers:
        results["schedulers"] = {
            preset: measure_searches(f"scheduler-{preset}", dataclasses.replace(plan.overhead, preset=preset),
                                     plan.scheduler_repetitions, workdir, plan.timeout_s, plan.scheduler_contenders)
            for preset in plan.schedulers
        }
    if "resume" in measurements:
        results["resume"] = measure_resumes(plan, workdir)
    if "scaling" in measurements:
        results["scaling"] = {
            str(workload.trials): measure_searches(f"scaling-{workload.trials}", workload, plan.scaling_repetitions,
                                                   workdir, plan.timeout_s)
            for workload in plan.scaling
        }
    if "remote" in measurements and plan.remote_backends:
        results["remote"] = measure_remotes(plan, workdir)
    if "scale" in measurements and plan.scale:
        results["scale"] = measure_scale(plan.scale, workdir, plan.timeout_s * 4)
    if "gpu" in measurements and plan.gpu:
        results["gpu"] = measure_gpu(workdir, plan.timeout_s)
    return {**headline(results), **results}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller searches and fewer repetitions (~30 min on 2 cores, ~7 of them the remote searches)")
    parser.add_argument("--smoke", action="store_true",
                        help="the smallest run of everything, to check the benchmark works (~2 min); numbers mean little")
    parser.add_argument("--out", type=Path, help="write the raw numbers and headline figures here as JSON")
    parser.add_argument("--only", action="append", choices=MEASUREMENTS,
                        help="run only this measurement (repeatable); default: all")
    parser.add_argument("--workdir", type=Path, help="keep the searches here instead of a temporary directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aframe-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        results = run(plan, args.only or MEASUREMENTS, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results["bench_wall_s"] = time.monotonic() - started
    print_report(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
        print(f"\nraw numbers: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
