"""``python -m bench.node_usage GCS_ADDRESS``: once a second, one JSON line of which Ray nodes run
something: ``{"t": unix time, "busy": {node ip: bool}}`` (used CPU or GPU, as ``ray status`` shows).

A process of its own, so that it can carry the cluster's Ray token in its environment."""

from __future__ import annotations

import json
import sys
import time

from ray.autoscaler.v2.sdk import get_cluster_status

from aframe_tune.cluster.idle_worker import uses_resources


def main(address: str) -> None:
    while True:
        try:
            status = get_cluster_status(address, timeout=5)
        except Exception:  # the head is gone (the release removed): the sampler stops us
            time.sleep(1)
            continue
        busy = {node.ip_address: uses_resources(node.used_resources())
                for node in [*status.active_nodes, *status.idle_nodes]}
        print(json.dumps({"t": time.time(), "busy": busy}), flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1])
