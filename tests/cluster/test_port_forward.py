"""KubeApi.port_forward: a pod's port on a local port, through the emulated API server's
port-forward, lasting past an expired credential."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.target import KubeTarget
from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.test_emulator import EchoServer, echo_through, forwarded_pod

pytestmark = pytest.mark.cluster


@pytest.fixture
def expiring() -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator(token_lifetime=1) as server:
        yield server


def test_each_connection_reaches_the_pod_s_port_also_after_the_credential_expired(
        expiring: KubernetesEmulator, tmp_path: Path) -> None:
    expiring.create("pods", "default", forwarded_pod("web"))
    target = KubeTarget(namespace="default", kubeconfig=expiring.write_kubeconfig(tmp_path / "k"))
    payload = bytes(range(256)) * 4096  # 1 MiB: many frames each way
    with closing(EchoServer()) as echo:
        expiring.port_forward_resolver = lambda namespace, name, port: echo.server_address

        async def scenario() -> list[bytes]:
            api = await KubeApi.connect(target)
            async with api.port_forward("web", 8265) as port:
                first = await asyncio.to_thread(echo_through, port, b"hello")
                await asyncio.sleep(2.5)  # the credential expired
                second = await asyncio.to_thread(echo_through, port, payload)
                return [first, second]

        assert asyncio.run(asyncio.wait_for(scenario(), 60)) == [b"hello", payload]
    upgrades = [r.status for r in expiring.requests("GET", path=r"/pods/web/portforward$")]
    assert upgrades[0] == 101 and upgrades[-1] == 101 and 401 in upgrades  # renewed, not given up
    assert len(upgrades) <= 4  # and not retried in a loop


def test_a_pod_that_does_not_exist_is_an_error_and_a_closed_port_ends_only_its_connection(
        tmp_path: Path) -> None:
    with KubernetesEmulator() as emulator:
        emulator.create("pods", "default", forwarded_pod("web"))
        emulator.port_forward_resolver = lambda namespace, name, port: None  # nothing listens
        target = KubeTarget(namespace="default", kubeconfig=emulator.write_kubeconfig(tmp_path / "k"))

        async def scenario() -> bytes:
            api = await KubeApi.connect(target)
            with pytest.raises(ClusterError, match="the pod does not exist"):
                async with api.port_forward("nope", 8265):
                    pass
            async with api.port_forward("web", 8265) as port:
                return await asyncio.to_thread(echo_through, port, b"hello")

        assert asyncio.run(asyncio.wait_for(scenario(), 30)) == b""  # closed, not hung
