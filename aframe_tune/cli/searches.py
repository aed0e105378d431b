"""``aframe-tune status``, ``logs`` and ``stop``: the searches that run in the cluster, from any machine.

They read what the searches leave where anyone with the kube context and the S3 credentials can
see it: the run locks and pods in the namespace, and ``search-status.json`` in each run directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from aframe_tune.errors import AframeTuneError
from aframe_tune.signals import run_async


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", help="default: the kube context's namespace")
    parser.add_argument("--context", help="kube context; default: the kubeconfig's current context")
    parser.add_argument("--kubeconfig", type=Path, default=os.environ.get("KUBECONFIG") or None,
                        help="default: $KUBECONFIG, else ~/.kube/config")


def add_search_commands(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser("status", help="the searches running in the cluster: trials, best so far, GPUs held",
                                 description="Every search running in the namespace's clusters, or RUN_DIR's: its "
                                             "cluster, GPUs held, trials by state, best metric so far, start time.")
    status.add_argument("run_dir", nargs="?", help="an s3:// run directory; default: every search in the namespace")
    _target_options(status)
    status.set_defaults(command=lambda args: run_async(status_command(args)))
    logs = commands.add_parser("logs", help="the output of the search running in the cluster for RUN_DIR",
                               description="The output of RUN_DIR's search (its search Job's log); once it has "
                                           "ended, the output it saved in RUN_DIR.")
    logs.add_argument("run_dir", help="the s3:// run directory")
    logs.add_argument("-f", "--follow", action="store_true", help="go on printing its output as it comes")
    _target_options(logs)
    logs.set_defaults(command=lambda args: run_async(logs_command(args)))
    stop = commands.add_parser("stop", help="stop the search running in the cluster for RUN_DIR; run.sh resumes it",
                               description="Stop RUN_DIR's search as Ctrl-C would: its state is saved to S3, the "
                                           "cluster is removed, and run.sh resumes it.")
    stop.add_argument("run_dir", help="the s3:// run directory")
    stop.add_argument("--timeout", type=float, default=300.0,
                      help="seconds to wait for the search to stop before its cluster is removed anyway; default: 300")
    _target_options(stop)
    stop.set_defaults(command=lambda args: run_async(stop_command(args)))


async def _api(args: argparse.Namespace):  # -> KubeApi
    # imported here: kr8s and pyhelm3 cost a third of a second that other commands do not pay
    from aframe_tune.cluster.kube import KubeApi
    from aframe_tune.cluster.target import KubeTarget

    kubeconfig = Path(args.kubeconfig).expanduser() if args.kubeconfig else None
    return await KubeApi.connect(KubeTarget(namespace=args.namespace or "", kubeconfig=kubeconfig, context=args.context))


def _read_status(run_dir: str, release: str | None):  # -> SearchStatus | None
    from aframe_tune.tasks.search_follower import read_status_of

    return read_status_of(run_dir, release)


async def status_command(args: argparse.Namespace) -> int:
    from aframe_tune.cluster.searches import find_cluster_searches

    api = await _api(args)
    searches = await find_cluster_searches(api, args.run_dir)
    if not searches:
        where = f"for {args.run_dir} " if args.run_dir else ""
        print(f"No search {where}is running in the clusters of namespace {api.namespace}.")
        ended = _read_status(args.run_dir, None) if args.run_dir else None
        if ended is not None:
            print(f"Its last search ({ended.release}) {ended.state.value}"
                  + (f": {ended.message}" if ended.message else ""))
        return 0
    for search in searches:
        status = await asyncio.to_thread(_read_status, search.run_dir, search.release)
        print(f"{search.run_dir}  (Ray cluster {search.release})")
        print(f"  cluster: {search.pods.summary()}; {search.pods.gpus_held()} GPUs held")
        if status is None:
            print("  search: not started yet")
            continue
        started = datetime.fromtimestamp(status.started_at).strftime("%Y-%m-%d %H:%M")
        print(f"  search: {status.state.value} since {started}" + (f" ({status.message})" if status.message else ""))
        if status.progress is not None:
            print(f"  trials: {status.progress.line()}")
    return 0


async def logs_command(args: argparse.Namespace) -> int:
    from aframe_tune.cluster.searches import find_cluster_searches

    from aframe_tune.tasks.search_follower import saved_output_of

    api = await _api(args)
    searches = await find_cluster_searches(api, args.run_dir)
    pods = searches[0].search_pods() if searches else []
    if not pods:
        saved = await asyncio.to_thread(saved_output_of, args.run_dir)
        if saved is None:
            raise AframeTuneError(f"no search for {args.run_dir} is running in namespace {api.namespace}, and none "
                                  "saved its output there (the trials' own logs are in the run directory)")
        print(f"No search for {args.run_dir} is running; the output of its last one:", file=sys.stderr)
        sys.stdout.write(saved)
        return 0
    async for line in api.pod_logs(pods[-1], follow=args.follow):
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
        sys.stdout.flush()
    return 0


async def stop_command(args: argparse.Namespace) -> int:
    from aframe_tune.cluster.inventory import find_ray_clusters, remove_ray_cluster
    from aframe_tune.cluster.searches import find_cluster_searches
    from aframe_tune.tasks.search_follower import request_stop, wait_until_removed

    api = await _api(args)
    searches = await find_cluster_searches(api, args.run_dir)
    if not searches:
        print(f"No search for {args.run_dir} is running in namespace {api.namespace}; nothing to stop.")
        return 0
    release = searches[0].release
    await asyncio.to_thread(request_stop, args.run_dir, release)
    print(f"Stopping the search of {args.run_dir} (Ray cluster {release}); its state is saved to S3")
    started = time.monotonic()
    if await wait_until_removed(api, searches[0].search, args.timeout):
        print(f"Stopped in {time.monotonic() - started:.0f} s; Ray cluster {release} removed itself. "
              "Resume the search with: bash run.sh")
        return 0
    print(f"The search did not stop within {args.timeout:.0f} s; removing Ray cluster {release} now")
    for cluster in await find_ray_clusters(api, release):
        await remove_ray_cluster(api, cluster)
    print(f"Removed Ray cluster {release}. Resume the search with: bash run.sh (trials resume from their last "
          "checkpoint in S3)")
    return 0
