"""``aframe-tune cleanup``: list the Ray clusters aframe-tune deployed, and remove them."""

from __future__ import annotations

import argparse
import os
from aframe_tune.signals import run_async
from pathlib import Path


def add_cleanup_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "cleanup", help="list the Ray clusters aframe-tune deployed; remove them with --yes",
        description="List the Ray clusters (helm releases of aframe-tune's ray-cluster chart) in the namespace, "
                    "with their age, pods and whether a search or dispatch is running on them. Nothing is removed "
                    "without --yes, which uninstalls them and deletes their Secrets.",
    )
    parser.add_argument("--release", help="only this release (e.g. aframe-tune-1a2b3c); default: all of them")
    parser.add_argument("--yes", action="store_true", help="remove them; default: only list them (dry run)")
    parser.add_argument("--force", action="store_true",
                        help="also remove clusters a running search or dispatch uses (its run lock was renewed in the last minute)")
    parser.add_argument("--namespace", help="default: the kube context's namespace")
    parser.add_argument("--context", help="kube context; default: the kubeconfig's current context")
    parser.add_argument("--kubeconfig", type=Path, default=os.environ.get("KUBECONFIG") or None,
                        help="default: $KUBECONFIG, else ~/.kube/config")
    parser.set_defaults(command=cleanup_command)


def cleanup_command(args: argparse.Namespace) -> int:
    return run_async(_cleanup(args))


async def _cleanup(args: argparse.Namespace) -> int:
    # imported here: kr8s and pyhelm3 cost a third of a second that other commands do not pay
    from aframe_tune.cluster.errors import ClusterError
    from aframe_tune.cluster.inventory import find_ray_clusters, remove_ray_cluster
    from aframe_tune.cluster.kube import KubeApi
    from aframe_tune.cluster.lock import ACTIVITIES
    from aframe_tune.cluster.target import KubeTarget

    kubeconfig = Path(args.kubeconfig).expanduser() if args.kubeconfig else None
    api = await KubeApi.connect(KubeTarget(namespace=args.namespace or "", kubeconfig=kubeconfig, context=args.context))
    target = api.target
    clusters = await find_ray_clusters(api, args.release)
    if not clusters:
        which = f"release {args.release}" if args.release else "aframe-tune Ray clusters"
        print(f"No {which} in namespace {target.namespace}.")
        return 0
    rows = [("RELEASE", "AGE", "STATE", "IN USE BY")]
    rows += [(c.release, c.age(), c.describe_state(), c.describe_use()) for c in clusters]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    if not args.yes:
        print(f"Dry run: nothing removed. Remove {'it' if len(clusters) == 1 else 'them'} with: "
              f"aframe-tune cleanup {'--release ' + args.release + ' ' if args.release else ''}--yes")
        return 0
    failed = 0
    for cluster in clusters:
        if cluster.in_use_by is not None and cluster.in_use_by.in_cluster and not args.force:
            print(f"Kept {cluster.release}: its search is running in the cluster (and removes it when it ends); "
                  "add --force to stop the search and remove the cluster now (run.sh resumes it)")
            continue
        if cluster.in_use_by is not None and not args.force:
            activity = cluster.in_use_by.activity
            print(f"Kept {cluster.release}: a {activity} is running on it ({cluster.describe_use()}); "
                  f"stop that {ACTIVITIES[activity].command} first, or add --force")
            continue
        try:
            await remove_ray_cluster(api, cluster)
            print(f"Removed {cluster.release} and its Secrets.")
        except ClusterError as error:
            failed += 1
            print(f"Could not remove {cluster.release}: {error}")
    return 1 if failed else 0
