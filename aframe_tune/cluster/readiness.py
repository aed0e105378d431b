"""Waiting, by watching rather than polling, until a Ray release can run the search."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aframe_tune.cluster.errors import ClusterError, translate_kubernetes_error
from aframe_tune.cluster.pods import INSTANCE_LABEL, ClusterState, read_pod_state

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
T = TypeVar("T")


async def wait_for_head_and_worker(
    api: Any,
    release: str,
    namespace: str,
    timeout_s: float,
    progress: Progress = logger.info,
    context: str = "current",
) -> ClusterState:
    """Return once the release's head pod and at least one worker pod are Running and Ready.

    One watch request follows every pod of the release; each change is reported through
    ``progress`` as one line, and pod problems (image pull failures, crash loops, pods that no
    node can take) are reported as they appear.

    Args:
        api: a ``kr8s.asyncio.Api``.
        release: the helm release name.
        namespace: the release's namespace.
        timeout_s: give up after this many seconds.
        progress: receives each new progress line.
        context: the kube context, for error messages.

    Raises:
        ClusterError: on a problem that cannot resolve itself, or when ``timeout_s`` passes;
            the message lists every pod's problem.
    """
    pods: dict[str, Any] = {}
    state = ClusterState({})
    reported: set[str] = set()
    last_line = ""

    async def follow() -> ClusterState:
        nonlocal state, last_line
        async for event, pod in api.async_watch(
            "pods", namespace=namespace, label_selector={INSTANCE_LABEL: release}
        ):
            raw = pod.raw
            if event == "DELETED":
                pods.pop(raw["metadata"]["name"], None)
            else:
                pods[raw["metadata"]["name"]] = read_pod_state(raw)
            state = ClusterState(dict(pods))
            line = f"Ray cluster {release}: {state.summary()}"
            if line != last_line:
                progress(line)
                last_line = line
            for problem in state.problems():
                if problem not in reported:
                    reported.add(problem)
                    logger.warning("Ray cluster %s: %s", release, problem)
            permanent = [f"{p.name}: {p.problem}" for p in state.pods.values() if p.permanent]
            if permanent:
                raise ClusterError(
                    f"Ray cluster {release} cannot start: {'; '.join(permanent)}. Fix the "
                    "image or configuration in tune.cfg and run run.sh again"
                )
            if state.usable:
                return state
        raise ClusterError(f"the watch of Ray cluster {release}'s pods ended unexpectedly")

    def timed_out() -> str:
        problems = state.problems()
        why = f" Problems: {'; '.join(problems)}." if problems else ""
        return (
            f"Ray cluster {release} was not ready after {timeout_s:.0f} s ({state.summary()}).{why} "
            "Raise [luigi_TuneRemote] ready_timeout if the cluster is just slow to schedule"
        )

    return await _watch_with_deadline(
        follow(), timeout_s, timed_out, f"watching Ray cluster {release}'s pods", context
    )


async def wait_for_client_address(
    api: Any, service: str, namespace: str, timeout_s: float, context: str = "current"
) -> str:
    """The external IP or hostname of the LoadBalancer ``service``, once it has one."""

    async def follow() -> str:
        async for _event, obj in api.async_watch(
            "services", namespace=namespace, field_selector={"metadata.name": service}
        ):
            for ingress in ((obj.raw.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
                host = ingress.get("ip") or ingress.get("hostname")
                if host:
                    return host
        raise ClusterError(f"the watch of service {service} ended unexpectedly")

    def timed_out() -> str:
        return (
            f"service {service} got no external address within {timeout_s:.0f} s: the cluster may "
            "not provide LoadBalancer services; ask its administrators, or raise ready_timeout"
        )

    return await _watch_with_deadline(follow(), timeout_s, timed_out, f"watching service {service}", context)


async def _watch_with_deadline(
    watch: Awaitable[T], timeout_s: float, timed_out: Callable[[], str], doing: str, context: str
) -> T:
    """Await ``watch`` for at most ``timeout_s``; a timeout or transport error is a ClusterError."""
    try:
        return await asyncio.wait_for(watch, timeout_s)
    except TimeoutError:
        raise ClusterError(timed_out()) from None
    except ClusterError:
        raise
    except Exception as error:
        raise translate_kubernetes_error(error, doing, context) from None
