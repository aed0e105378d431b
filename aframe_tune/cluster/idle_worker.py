"""Gives an idle worker of a search back while the search runs (backend ``chart``).

Runs beside ``ray start --block`` in each worker pod of a release that runs a search
(``charts/ray-cluster/templates/worker.yaml``). Once a trial has run somewhere in the cluster,
a worker that has had nothing to do for ``--idle-timeout`` seconds, while no trial waits for
room, asks Ray to drain it for idleness (the raylet refuses if work reached it meanwhile), and
exits 0 once its node is gone. The pod's script then stops Ray and the pod succeeds. The worker
Job has ``completions`` equal to its parallelism, so Kubernetes runs one pod fewer from then on: a
worker that finished is not replaced, one that failed still is. This is what KubeRay's autoscaler
does for backend ``kuberay`` (idle timeout, drain, pod removed), without any right on the API.

``ray.autoscaler.v2.sdk.get_cluster_status`` is what ``ray status`` reads; the drain is the GCS call
that ``ray drain-node`` and Ray's autoscaler make (the SDK's own client, so no ``ray`` binary is
looked for on the PATH).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ray._raylet import GcsClient
from ray.autoscaler.v2.schema import ClusterStatus
from ray.autoscaler.v2.sdk import get_cluster_status
from ray.core.generated.autoscaler_pb2 import DrainNodeReason

logger = logging.getLogger("aframe_tune.idle_worker")

# resources a node uses whether or not it runs a trial (its ``node:<ip>`` markers are skipped too)
IGNORED_RESOURCES = ("memory", "object_store_memory")
DRAIN_REASON = "DRAIN_NODE_REASON_IDLE_TERMINATION"


@dataclass(frozen=True)
class WorkerView:
    """What one look at the cluster says about this worker.

    Args:
        node_id: this worker's Ray node (hex), or None while it has not joined.
        idle_s: how long it has run nothing.
        work_seen: some node of the cluster runs something (a trial has started).
        demand: something waits for room (a trial's placement group, a task or an actor).
        workers: worker nodes alive, this one included.
    """

    node_id: str | None
    idle_s: float
    work_seen: bool
    demand: bool
    workers: int


def uses_resources(usage: dict[str, float]) -> bool:
    """A node runs something: it uses CPUs, GPUs or a custom resource (not memory or its own marker)."""
    return any(used > 0 for name, used in usage.items()
               if name not in IGNORED_RESOURCES and not name.startswith("node:"))


def read_view(status: ClusterStatus, instance_id: str) -> WorkerView:
    """This worker (Ray's instance id is its pod's name) as ``status`` shows it."""
    nodes = [*status.active_nodes, *status.idle_nodes]
    mine = next((node for node in nodes if node.instance_id == instance_id), None)
    demands = status.resource_demands
    idle_ms = mine.resource_usage.idle_time_ms if mine is not None and mine.resource_usage is not None else 0
    workers = sum(1 for node in nodes if "node:__internal_head__" not in node.total_resources())
    return WorkerView(
        node_id=mine.node_id if mine is not None else None,
        idle_s=idle_ms / 1000 if mine is not None and mine.node_status == "IDLE" else 0.0,
        work_seen=any(uses_resources(node.used_resources()) for node in nodes),
        demand=bool(demands.placement_group_demand or demands.ray_task_actor_demand),
        workers=workers)


@dataclass
class IdleWatch:
    """Decides, look after look, whether this worker may go.

    Args:
        idle_timeout_s: seconds with nothing to do before it goes.
        min_workers: workers the cluster keeps whatever they do.
    """

    idle_timeout_s: float
    min_workers: int = 0
    started: bool = False  # a trial ran somewhere: before that, every worker is idle

    def may_go(self, view: WorkerView) -> bool:
        self.started = self.started or view.work_seen
        return (self.started and view.node_id is not None and not view.demand
                and view.idle_s >= self.idle_timeout_s and view.workers > self.min_workers)


def drain(gcs_address: str, node_id: str, idle_s: float) -> bool:
    """Ask Ray to drain the node for idleness; False when it refuses (work reached it)."""
    accepted, refusal = GcsClient(address=gcs_address).drain_node(
        node_id, DrainNodeReason.Value(DRAIN_REASON), f"idle for {idle_s:.0f} s with no trial waiting", 0)
    if not accepted:
        logger.info("Ray kept this worker: %s", refusal)
    return bool(accepted)


def gone(gcs_address: str, node_id: str, timeout_s: float = 60.0) -> bool:
    """Wait until the drained node has left the cluster."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = get_cluster_status(gcs_address)
        except Exception:  # a slow answer: a drained node still leaves
            time.sleep(1)
            continue
        if all(node.node_id != node_id for node in [*status.active_nodes, *status.idle_nodes]):
            return True
        time.sleep(1)
    return False


def look_interval(idle_timeout_s: float) -> float:
    """Seconds between looks: four per idle timeout, so a worker goes at most a quarter late, but
    no more than once a second (each look reads the whole cluster's state from the GCS)."""
    return min(5.0, max(1.0, idle_timeout_s / 4))


def watch(gcs_address: str, instance_id: str, idle: IdleWatch, interval_s: float) -> None:
    """Return once this worker has been drained and has left the cluster."""
    while True:
        time.sleep(interval_s)
        try:
            view = read_view(get_cluster_status(gcs_address), instance_id)
            released = idle.may_go(view) and drain(gcs_address, view.node_id or "", view.idle_s) \
                and gone(gcs_address, view.node_id or "")
        except Exception as error:  # the head restarting, a slow answer: look again
            logger.info("Could not read or change the cluster's state (%s)", error)
            continue
        if released:
            logger.warning("Worker %s gave its resources back: idle for %.0f s, with no trial waiting",
                           instance_id, view.idle_s)
            return


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aframe_tune.cluster.idle_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="the head's GCS, host:port")
    parser.add_argument("--idle-timeout", type=float, required=True, help="seconds with nothing to do")
    parser.add_argument("--min-workers", type=int, default=0, help="workers kept whatever they do; default: 0")
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between looks; default: a quarter of the idle timeout, within 1 to 5")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    instance_id = os.environ.get("RAY_CLOUD_INSTANCE_ID", "")
    if not instance_id:
        logger.error("RAY_CLOUD_INSTANCE_ID (the pod's name) is not set: this worker stays until the search ends")
        return 2
    interval = args.interval if args.interval is not None else look_interval(args.idle_timeout)
    watch(args.address, instance_id, IdleWatch(args.idle_timeout, args.min_workers), interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
