"""The Ray head's dashboard (and with it Ray's Jobs API), reached from this machine through the
Kubernetes API, as ``kubectl port-forward`` reaches it: no Service of the release faces outside
the cluster.

The forward runs on an event loop of its own, in a thread, so that synchronous callers (Ray's
``JobSubmissionClient``) can use its local address while it lasts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.names import COMPONENT, HEAD, INSTANCE
from aframe_tune.cluster.pods import read_pod_state
from aframe_tune.cluster.target import KubeTarget

logger = logging.getLogger(__name__)

DASHBOARD_PORT = 8265  # the chart's ports.dashboard, which KubeRay's heads use as well
# seconds to wait for the forward to open (reading the head pod, binding a local port)
OPEN_TIMEOUT_S = 60.0


async def ready_head_pod(api: KubeApi, release: str) -> str:
    """The name of the release's head pod that is Running and Ready."""
    pods = await api.list("pods", labels={INSTANCE: release, COMPONENT: HEAD},
                          doing=f"looking for the head pod of Ray cluster {release}")
    for raw in pods:
        state = read_pod_state(raw)
        if state.ready:
            return raw["metadata"]["name"]
    raise ClusterError(f"Ray cluster {release} has no ready head pod to forward its dashboard from")


@dataclass
class _Forward:
    """What the forwarding thread tells the caller: the local port, or why there is none."""

    opened: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    error: BaseException | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop: asyncio.Event | None = None


async def _serve(target: KubeTarget, release: str, remote_port: int, forward: _Forward) -> None:
    try:
        api = await KubeApi.connect(target)
        pod = await ready_head_pod(api, release)
        async with api.port_forward(pod, remote_port, doing=f"forwarding the dashboard of Ray cluster {release}") as port:
            forward.loop, forward.stop, forward.port = asyncio.get_running_loop(), asyncio.Event(), port
            forward.opened.set()
            await forward.stop.wait()
    except Exception as error:  # handed to the caller's thread, which raises it
        forward.error = error
    finally:
        forward.opened.set()


@contextmanager
def forwarded_dashboard(target: KubeTarget, release: str, remote_port: int = DASHBOARD_PORT) -> Iterator[str]:
    """Forward a local port to the dashboard of the release's ready head pod for the block; yield
    its address, ``http://127.0.0.1:PORT`` (Ray's Jobs API answers there).

    Raises:
        ClusterError: the head pod cannot be found or the forward cannot be opened.
    """
    forward = _Forward()
    thread = threading.Thread(target=asyncio.run, args=(_serve(target, release, remote_port, forward),),
                              name=f"dashboard-forward-{release}", daemon=True)
    thread.start()
    if not forward.opened.wait(OPEN_TIMEOUT_S):
        raise ClusterError(f"forwarding the dashboard of Ray cluster {release} did not start within "
                           f"{OPEN_TIMEOUT_S:.0f} s")
    if forward.error is not None:
        raise forward.error
    logger.debug("Ray cluster %s's dashboard is forwarded to 127.0.0.1:%d", release, forward.port)
    try:
        yield f"http://127.0.0.1:{forward.port}"
    finally:
        if forward.loop is not None and forward.stop is not None and not forward.loop.is_closed():
            forward.loop.call_soon_threadsafe(forward.stop.set)
        thread.join(10)
