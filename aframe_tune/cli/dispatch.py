"""``aframe-tune dispatch jobs.yaml``: run several training jobs or tune experiments on a Ray
cluster, in parallel or one after another, each with its own resources and log."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from aframe_tune.signals import StoppedBySignal, exit_status


def add_dispatch_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dispatch", help="run the jobs of a jobs.yaml (training runs, tune experiments, commands) on Ray",
        description="Run the jobs listed in JOBS_FILE on a Ray cluster (a new one on this machine, $RAY_ADDRESS, "
                    "--ray-address, or one deployed on Kubernetes for the jobs when JOBS_FILE has cluster:), or "
                    "spread them over several running clusters (JOBS_FILE's clusters:, or --clusters-file), each "
                    "with the CPUs, GPUs and memory it asks for and only its own GPUs "
                    "visible, its output in LOG_DIR/NAME.log. Jobs that succeeded in an earlier dispatch are "
                    "skipped. Exit status 0 if every job succeeded, 1 if any failed. See docs/dispatch.md.",
    )
    parser.add_argument("jobs_file", metavar="JOBS_FILE", type=Path, help="the jobs.yaml")
    parser.add_argument("--mode", choices=["parallel", "sequential"], help="default: jobs.yaml's mode, else parallel")
    parser.add_argument("--ray-address", help="the Ray cluster, e.g. ray://HOST:10001 (Ray Client) or http://HOST:8265 (Ray's Jobs API); default: jobs.yaml's "
                        "ray_address, else $RAY_ADDRESS, else a new Ray instance on this machine")
    parser.add_argument("--clusters-file", type=Path, metavar="FILE",
                        help="spread the jobs over the Ray clusters listed in FILE, Isaac Lab's ~/.cluster_config "
                        "format: one 'name: NAME address: http://HOST:PORT' a line; replaces jobs.yaml's clusters:")
    parser.set_defaults(command=dispatch_command)


def _stopped(signum: int) -> int:
    print(f"Stopped by {signal.Signals(signum).name}; the jobs still running were stopped. Run the same command "
          "again to rerun them (jobs that succeeded are skipped).", file=sys.stderr)
    return exit_status(signum)


def dispatch_command(args: argparse.Namespace) -> int:
    from aframe_tune.dispatch.overrides import plan_from_command_line
    from aframe_tune.dispatch.runner import dispatch
    from aframe_tune.dispatch.status import closing_summary, status_table

    plan = plan_from_command_line(args.jobs_file, args.mode, args.ray_address, args.clusters_file)
    if plan.cluster is not None:  # a cluster's start takes minutes: show how it goes
        logging.getLogger("aframe_tune.cluster").setLevel(logging.INFO)
        logging.getLogger("aframe_tune.dispatch").setLevel(logging.INFO)

    def show(statuses) -> None:
        print("\n".join(status_table(statuses, plan)), flush=True)

    try:
        result = dispatch(plan, show)
    except KeyboardInterrupt:  # before the jobs started
        return _stopped(signal.SIGINT)
    except StoppedBySignal as stopped:
        return _stopped(stopped.signum)
    print(closing_summary(result.statuses, plan))
    return 0 if result.succeeded else 1
