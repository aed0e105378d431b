"""Waiting, by watching rather than polling, until a Ray release can run the search."""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.names import HEAD, INSTANCE, WORKER
from aframe_tune.cluster.pods import ClusterState, read_pod_state

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
T = TypeVar("T")


async def wait_for_head_and_worker(
    api: KubeApi, release: str, timeout_s: float, progress: Progress = logger.info
) -> ClusterState:
    """Return once the release's head pod and at least one worker pod are Running and Ready.

    One watch request follows every pod of the release; each change is reported through
    ``progress`` as one line, and pod problems (image pull failures, crash loops, pods that no
    node can take) are reported as they appear.

    Args:
        api: the API server, in the release's namespace.
        release: the helm release name.
        timeout_s: give up after this many seconds.
        progress: receives each new progress line.

    Raises:
        ClusterError: on a problem that cannot resolve itself, or when ``timeout_s`` passes;
            the message lists every pod's problem.
    """
    pods: dict[str, Any] = {}
    state = ClusterState({})
    reported: set[str] = set()
    last_line = ""

    def record(event: str, raw: dict[str, Any]) -> ClusterState:
        nonlocal last_line
        pod = read_pod_state(raw)
        if event == "DELETED" or pod.component not in (HEAD, WORKER):  # the search Job's: followed later
            pods.pop(raw["metadata"]["name"], None)
        else:
            pods[raw["metadata"]["name"]] = pod
        now = ClusterState(dict(pods))
        line = f"Ray cluster {release}: {now.summary()}"
        if line != last_line:
            progress(line)
            last_line = line
        for problem in now.problems():
            if problem not in reported:
                reported.add(problem)
                logger.warning("Ray cluster %s: %s", release, problem)
        permanent = [f"{p.name}: {p.problem}" for p in now.pods.values() if p.permanent]
        if permanent:
            raise ClusterError(f"Ray cluster {release} cannot start: {'; '.join(permanent)}. Fix the "
                               "image or configuration in tune.cfg and run run.sh again")
        return now

    async def follow() -> ClusterState:
        nonlocal state
        doing = f"watching Ray cluster {release}'s pods"
        async with aclosing(api.watch("pods", labels={INSTANCE: release}, doing=doing)) as events:
            async for event, raw in events:
                state = record(event, raw)
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

    return await _watch_with_deadline(follow(), timeout_s, timed_out)


async def _watch_with_deadline(watch: Awaitable[T], timeout_s: float, timed_out: Callable[[], str]) -> T:
    """Await ``watch`` for at most ``timeout_s``; a timeout is a ClusterError."""
    try:
        return await asyncio.wait_for(watch, timeout_s)
    except TimeoutError:
        raise ClusterError(timed_out()) from None


async def first_done(waiting: Awaitable[T], interrupting: Awaitable[Any]) -> tuple[bool, Any]:
    """Await both until one is done; cancel the other. ``(True, result)`` when ``waiting`` was first,
    ``(False, result)`` when ``interrupting`` was (an exception of the first done is raised)."""
    main = asyncio.ensure_future(waiting)
    other = asyncio.ensure_future(interrupting)
    try:
        done, _ = await asyncio.wait({main, other}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this task is cancelled (a stop signal): neither may outlive it
        for task in (main, other):
            if not task.done():
                task.cancel()
        await asyncio.gather(main, other, return_exceptions=True)
    return (True, main.result()) if main in done else (False, other.result())
