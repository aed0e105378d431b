"""Cluster readiness latency on the emulated Kubernetes API server.

aframe-tune's wait (:meth:`aframe_tune.cluster.chart_backend.ChartBackend.wait_until_ready`: one
watch of the release's pods) against a loop that lists the pods every 2 s
until the head and a worker are ready (what the reference pipeline does), on the same
API server, with the same pod life cycle played out by a stand-in kubelet:

- every pod is created Pending; then scheduled; then Running but not Ready, one by one, as its
  image is pulled;
- the workers turn Ready one by one, and the head, the last pod the search needs, last, at a
  random moment (so the poll loop's phase is random too).

The latency is from the head's turning Ready (the API server storing it) to the wait's return,
the moment ``TuneRemote`` hands off to lightray; the requests are those the wait made.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from aframe_tune.cluster.chart_backend import ChartBackend
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.names import COMPONENT, INSTANCE
from aframe_tune.cluster.pods import ClusterState, read_pod_state
from aframe_tune.cluster.target import KubeTarget
from tests.k8s.emulator import KubernetesEmulator

RELEASE = "aframe-tune-bench01"
NAMESPACE = "default"
POLL_INTERVAL_S = 2.0


async def poll_until_usable(target: KubeTarget, release: str, timeout_s: float) -> None:
    """The baseline: list the release's pods every 2 s until usable."""
    api = await KubeApi.connect(target)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pods = await api.list("pods", labels={INSTANCE: release})
        state = ClusterState({pod["metadata"]["name"]: read_pod_state(pod) for pod in pods})
        if state.usable:
            return
        await asyncio.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"{release} was not usable within {timeout_s} s")


async def watch_until_usable(target: KubeTarget, release: str, timeout_s: float) -> None:
    """aframe-tune's wait: one watch of the release's pods."""
    await ChartBackend(target).wait_until_ready(release, timeout_s)


WAITERS = {"watch": watch_until_usable, "poll_2s": poll_until_usable}


def _pod(name: str, component: str) -> dict:
    return {"metadata": {"name": name, "labels": {INSTANCE: RELEASE, COMPONENT: component}},
            "spec": {"containers": [{"name": "ray", "image": "rayproject/ray"}]},
            "status": {"phase": "Pending"}}


class StandInKubelet(threading.Thread):
    """Plays one release's pods through their life cycle; records when the head turned Ready."""

    def __init__(self, api: KubernetesEmulator, workers: int, rng: random.Random, pull_s: float) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.pull_s = pull_s
        self.names = ["head"] + [f"worker-{i}" for i in range(workers)]
        self.rng = rng
        self.head_ready_at: float | None = None
        self.state_changes = 0
        self.error: BaseException | None = None

    def _change(self, name: str, status: dict | None = None, condition: str | None = None) -> None:
        if status is not None:
            self.api.update_status("pods", NAMESPACE, name, status)
        if condition is not None:
            self.api.set_condition("pods", NAMESPACE, name, condition, True)
        self.state_changes += 1

    def run(self) -> None:
        try:
            time.sleep(0.3)
            for name in self.names:
                self._change(name, condition="PodScheduled")
            for name in self.names:  # images pulled one after the other
                time.sleep(self.pull_s / len(self.names))
                self._change(name, status={"phase": "Running", "containerStatuses": [
                    {"name": "ray", "ready": False, "state": {"running": {}}}]})
            for name in self.names[1:]:
                self._change(name, condition="Ready")
                time.sleep(0.5 / len(self.names))
            time.sleep(self.rng.uniform(0.0, POLL_INTERVAL_S))
            self.head_ready_at = time.perf_counter()
            self._change("head", condition="Ready")
        except BaseException as error:  # noqa: BLE001 (reported by the measurement)
            self.error = error


@dataclass(frozen=True)
class ReadinessRun:
    waiter: str
    workers: int
    latency_s: float
    api_requests: int
    state_changes: int

    def as_json(self) -> dict:
        return {"waiter": self.waiter, "workers": self.workers, "latency_s": self.latency_s,
                "api_requests": self.api_requests, "state_changes": self.state_changes}


def measure_once(waiter: str, workers: int, rng: random.Random, pull_s: float = 4.0,
                 timeout_s: float = 60.0) -> ReadinessRun:
    """One release coming up, waited for by ``waiter``; its pods' images take ``pull_s`` to pull
    (real clusters take minutes: the poll loop's request count grows with it, the watch's does not)."""
    with tempfile.TemporaryDirectory(prefix="aframe-bench-k8s-") as scratch, KubernetesEmulator() as api:
        target = KubeTarget(namespace=NAMESPACE, kubeconfig=api.write_kubeconfig(Path(scratch) / "kubeconfig"))
        for name in ["head"] + [f"worker-{i}" for i in range(workers)]:
            api.create("pods", NAMESPACE, _pod(name, "head" if name == "head" else "worker"))
        api.clear_request_log()
        kubelet = StandInKubelet(api, workers, rng, pull_s)
        kubelet.start()
        asyncio.run(WAITERS[waiter](target, RELEASE, timeout_s))
        returned_at = time.perf_counter()
        requests = len(api.request_log)
        kubelet.join()
        if kubelet.error is not None or kubelet.head_ready_at is None:
            raise RuntimeError(f"the stand-in kubelet failed: {kubelet.error!r}")
        return ReadinessRun(waiter, workers, returned_at - kubelet.head_ready_at, requests, kubelet.state_changes)


def summarise(runs: list[ReadinessRun]) -> dict:
    """Median latency and requests per (waiter, workers)."""
    summary: dict = {}
    for key in sorted({(r.waiter, r.workers) for r in runs}):
        group = [r for r in runs if (r.waiter, r.workers) == key]
        summary[f"{key[0]}/{key[1]}"] = {
            "latency_s": statistics.median(r.latency_s for r in group),
            "api_requests": statistics.median(r.api_requests for r in group),
            "state_changes": statistics.median(r.state_changes for r in group),
        }
    return summary
