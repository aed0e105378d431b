"""A Ray head started with ``ray start`` on loopback, as a user's existing cluster would be."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.conftest import clean_environment


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def loopback_ray_head(num_gpus: int = 0, client_port: int | None = None,
                      dashboard_port: int | None = None) -> Iterator[str]:
    """A Ray head started with `ray start` on 127.0.0.1, as a user's existing cluster would be.

    Ray counts GPUs as it is told, so a head with ``num_gpus`` schedules GPU trials on a machine
    without one (the trials themselves then train on the CPU). ``client_port``: where its Ray
    client server listens (``ray://127.0.0.1:PORT``); default: a free port, which goes unused.
    ``dashboard_port``: serve the dashboard, and Ray's Jobs API, there (``http://127.0.0.1:PORT``);
    default: no dashboard. Only this head's processes are stopped afterwards (``ray stop`` would
    stop every Ray process on the machine).
    """
    env = clean_environment(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    ray = str(Path(sys.executable).parent / "ray")
    port = free_port()
    # Ray's Unix sockets live in the temp dir, and their paths may not exceed 107 bytes.
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as temp_dir:
        started = subprocess.run(
            [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=2", f"--num-gpus={num_gpus}", "--disable-usage-stats",
             *([f"--dashboard-port={dashboard_port}", "--dashboard-host=127.0.0.1"] if dashboard_port
               else ["--include-dashboard=false"]),
             f"--ray-client-server-port={client_port or free_port()}",
             # free ports for what Ray otherwise binds at fixed ones: a head left by another test, or
             # the user's own, would keep this head's job agent from starting ("No available agent")
             f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
             f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
             f"--temp-dir={temp_dir}"],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        try:
            yield f"127.0.0.1:{port}"
        finally:
            stop_processes_of(temp_dir, gcs_address=f"127.0.0.1:{port}")


def stop_processes_of(temp_dir: str, gcs_address: str, grace_s: float = 10) -> None:
    """End the processes of the Ray instance whose temp dir is ``temp_dir``: those that name it,
    or its GCS address, on their command line, and their children (the raylet's agents rename
    themselves ``ray::DashboardAgent``...). SIGTERM, then SIGKILL."""
    named = [process for process in psutil.process_iter(["cmdline"])
             if any(temp_dir in part or gcs_address in part for part in process.info["cmdline"] or [])]
    by_pid = {process.pid: process for process in named}
    for process in named:
        with contextlib.suppress(psutil.Error):
            by_pid.update({child.pid: child for child in process.children(recursive=True)})
    mine = list(by_pid.values())
    for process in mine:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(mine, timeout=grace_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=grace_s)
