"""The search object as one watch keeps it for run.sh's follower: every change seen, a request
per watch rather than one per look, and a watch that ends or fails said so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.search_object import SearchObject, SearchObjectRef, SearchObjectWatch
from aframe_tune.cluster.target import KubeTarget
from tests.k8s.emulator import KubernetesEmulator

pytestmark = pytest.mark.cluster
SEARCH = SearchObjectRef("tune-abc")
JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": SEARCH.name},
       "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never",
                                                       "containers": [{"name": "search", "image": "x"}]}}}}


async def seen(watch: SearchObjectWatch, wanted, timeout_s: float = 10.0) -> SearchObject | None:
    """The object, once ``wanted(object)`` holds, looking as often as the follower may."""
    async with asyncio.timeout(timeout_s):
        while not wanted(found := watch.current()):
            await asyncio.sleep(0.01)
    return found


def test_the_watch_sees_the_search_end_and_go_with_a_request_per_watch(tmp_path: Path) -> None:
    with KubernetesEmulator() as emulator:
        target = KubeTarget("default", emulator.write_kubeconfig(tmp_path / "kubeconfig"))
        emulator.create("jobs", "default", JOB)

        async def scenario() -> None:
            api = await KubeApi.connect(target)
            emulator.clear_request_log()
            watch = await SearchObjectWatch.start(api, SEARCH)
            try:
                assert not (await seen(watch, lambda found: found is not None)).finished
                emulator.set_condition("jobs", "default", SEARCH.name, "Complete")
                await seen(watch, lambda found: found is not None and found.finished)
                emulator.close_watches()  # a server's watch timeout: read again and watch again
                await asyncio.sleep(0.5)
                emulator.delete("jobs", "default", SEARCH.name)
                await seen(watch, lambda found: found is None)
            finally:
                await watch.close()

        asyncio.run(scenario())
        jobs = emulator.requests(path="/jobs")
        # thousands of looks above; a read and a watch, then the same after the server ended the watch
        assert [(r.method, r.watch) for r in jobs] == [("GET", False), ("GET", True)] * 2, [r.path for r in jobs]


def test_a_watch_that_loses_the_server_says_so(tmp_path: Path) -> None:
    emulator = KubernetesEmulator().start()
    try:
        target = KubeTarget("default", emulator.write_kubeconfig(tmp_path / "kubeconfig"))
        emulator.create("jobs", "default", JOB)

        async def scenario() -> None:
            watch = await SearchObjectWatch.start(await KubeApi.connect(target), SEARCH)
            try:
                await seen(watch, lambda found: found is not None)
                emulator.stop()
                with pytest.raises(ClusterError):
                    await seen(watch, lambda found: False, timeout_s=30)
            finally:
                await watch.close()

        asyncio.run(scenario())
    finally:
        emulator.stop()
