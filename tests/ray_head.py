"""A Ray head started with ``ray start`` on loopback, as a user's existing cluster would be."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import clean_environment


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def loopback_ray_head(num_gpus: int = 0, client_port: int | None = None) -> Iterator[str]:
    """A Ray head started with `ray start` on 127.0.0.1, as a user's existing cluster would be.

    Ray counts GPUs as it is told, so a head with ``num_gpus`` schedules GPU trials on a machine
    without one (the trials themselves then train on the CPU). ``client_port``: where its Ray
    client server listens (``ray://127.0.0.1:PORT``); default: a free port, which goes unused.
    """
    env = clean_environment(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    ray = str(Path(sys.executable).parent / "ray")
    port = free_port()
    # Ray's Unix sockets live in the temp dir, and their paths may not exceed 107 bytes.
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as temp_dir:
        started = subprocess.run(
            [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=2", f"--num-gpus={num_gpus}", "--include-dashboard=false", "--disable-usage-stats",
             f"--ray-client-server-port={client_port or free_port()}",
             f"--temp-dir={temp_dir}"],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        try:
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)
