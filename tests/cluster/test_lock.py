"""The S3 run directory's lock, a renewed ConfigMap, against the emulated API server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aframe_tune.cluster.target import KubeTarget
from aframe_tune.cluster.lock import ClusterRunLock, LockHolder, held_run_lock, lock_name
from aframe_tune.errors import RunDirectoryBusyError
from tests.k8s.emulator import KubernetesEmulator

pytestmark = pytest.mark.cluster
RUN_DIR = "s3://bucket/my-tune"


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # tokens expire within a test: renewals must get new ones
    with KubernetesEmulator(token_lifetime=2) as api:
        monkeypatch.setenv("KUBECONFIG", str(api.write_kubeconfig(tmp_path / "kubeconfig")))
        yield api, KubeTarget(namespace="default")


def holder_data(api: KubernetesEmulator) -> dict[str, str]:
    return api.get("configmaps", "default", lock_name(RUN_DIR))["data"]


def test_lock_names_are_dns_labels_and_the_same_for_one_run_directory() -> None:
    assert lock_name(RUN_DIR) == lock_name(RUN_DIR + "/")
    assert lock_name(RUN_DIR) != lock_name("s3://bucket/other")
    assert len(lock_name(RUN_DIR)) <= 63 and lock_name(RUN_DIR).islower()


def test_a_second_driver_is_refused_while_the_first_renews(target) -> None:
    api, kube = target
    first = ClusterRunLock(kube, RUN_DIR, "aframe-tune-aaaaaa", ttl_s=2.0)
    with held_run_lock(first, renew_every_s=0.3) as previous:
        assert previous is None
        assert holder_data(api)["release"] == "aframe-tune-aaaaaa"
        time.sleep(2.5)  # longer than the TTL: only renewal keeps it
        # a driver elsewhere (another host) finds it alive
        other = ClusterRunLock(kube, RUN_DIR, "aframe-tune-bbbbbb", ttl_s=2.0)
        other.me = LockHolder("another-host", 4242, "aframe-tune-bbbbbb", 0.0)
        with pytest.raises(RunDirectoryBusyError, match=rf"already being tuned by process {os.getpid()} on "
                                                         rf"{socket.gethostname()} \(Ray cluster aframe-tune-aaaaaa"):
            asyncio.run(other.acquire())
    # released on the way out
    assert api.get("configmaps", "default", lock_name(RUN_DIR)) is None


def test_a_lock_whose_holder_died_is_taken_over_and_names_its_release(target) -> None:
    api, kube = target
    # a driver on this host that is gone (a finished process's pid)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = LockHolder(socket.gethostname(), int(dead.stdout), "aframe-tune-dead00", round(time.time(), 3))
    api.create("configmaps", "default", {"metadata": {"name": lock_name(RUN_DIR)}, "data": stale.to_data()})
    lock = ClusterRunLock(kube, RUN_DIR, "aframe-tune-cccccc")
    assert asyncio.run(lock.acquire()) == stale
    assert holder_data(api)["pid"] == str(os.getpid())


def test_a_lock_not_renewed_within_its_ttl_is_taken_over(target) -> None:
    api, kube = target
    silent = LockHolder("another-host", 4242, "aframe-tune-old000", round(time.time() - 120, 3))
    api.create("configmaps", "default", {"metadata": {"name": lock_name(RUN_DIR)}, "data": silent.to_data()})
    assert asyncio.run(ClusterRunLock(kube, RUN_DIR, "aframe-tune-dddddd", ttl_s=60).acquire()) == silent


def test_release_leaves_a_lock_another_driver_took(target) -> None:
    api, kube = target
    lock = ClusterRunLock(kube, RUN_DIR, "aframe-tune-eeeeee")
    asyncio.run(lock.acquire())
    thief = LockHolder("another-host", 4242, "aframe-tune-ffffff", time.time())
    current = api.get("configmaps", "default", lock_name(RUN_DIR))
    api.apply("configmaps", "default", {**current, "data": thief.to_data()})
    asyncio.run(lock.release())
    assert holder_data(api)["host"] == "another-host"
