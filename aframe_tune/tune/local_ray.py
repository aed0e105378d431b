"""Starting, or joining, the Ray instance a local search runs on."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

# Ray replaces 127.0.0.1 with the machine's routable address unless "cluster mode" is off, and
# a local search has no business listening on the network. The variable is read when Ray is
# imported, so it is set before the first import below.
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def start_or_join_ray(num_cpus: int | None = None) -> str:
    """Join the cluster at ``RAY_ADDRESS`` if set, else start a Ray instance on loopback.

    A started instance lives as long as this process (Ray ties its processes to the driver),
    so a killed driver leaves nothing running.

    Args:
        num_cpus: CPUs the started instance may use; ``None`` for all of the machine's.

    Returns:
        The address of the cluster's GCS, for the logs.
    """
    address = os.environ.get("RAY_ADDRESS") or None
    if address is None:
        os.environ.update(LOOPBACK_ONLY)
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context().gcs_address
    if address is None:
        context = ray.init(num_cpus=num_cpus, include_dashboard=False)
        logger.info("Started a local Ray instance at %s", context.address_info["gcs_address"])
    else:
        context = ray.init(address=address)
        logger.info("Joined the Ray cluster at %s", address)
    return context.address_info["gcs_address"]
