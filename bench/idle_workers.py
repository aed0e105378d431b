"""The idle fraction of worker-seconds: of the time worker pods were held during a search, the
share in which they ran no trial (issue: nothing may hold GPUs it does not use).

A sampler looks once a second at which worker pods are held (from the API server: a pod holds its
resources from its creation until it has terminated) and which Ray nodes run something (from the
head's GCS, as ``ray status`` shows it, through ``python -m bench.node_usage``). The window starts
at the first sample in which a worker runs a trial (the search started: time before is the
cluster's start-up, measured by the readiness benchmark) and ends once no worker is held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class IdleFraction:
    """Worker-seconds of one search.

    Args:
        held_s: worker-seconds held in the window.
        idle_s: of those, the worker-seconds with no trial running.
        released_early: workers that were given back while another still ran a trial.
    """

    held_s: float
    idle_s: float
    released_early: int

    @property
    def fraction(self) -> float:
        return self.idle_s / self.held_s if self.held_s else 0.0

    def as_json(self) -> dict:
        return {"held_s": round(self.held_s, 1), "idle_s": round(self.idle_s, 1), "fraction": round(self.fraction, 4),
                "released_early": self.released_early}


@dataclass(frozen=True)
class Sample:
    """One look: the worker pods held (by pod IP) and, of those, the ones running something."""

    t: float
    held: frozenset[str]
    busy: frozenset[str]


def idle_fraction(samples: list[Sample]) -> IdleFraction:
    """Worker-seconds held and idle, from the first sample with a busy worker on."""
    start = next((i for i, sample in enumerate(samples) if sample.busy & sample.held), None)
    if start is None:
        return IdleFraction(0.0, 0.0, 0)
    held = idle = 0.0
    gone_early: set[str] = set()
    for sample, following in zip(samples[start:], samples[start + 1:]):
        dt = following.t - sample.t
        held += dt * len(sample.held)
        idle += dt * len(sample.held - sample.busy)
        if following.busy & following.held:  # gone while another worker still ran a trial
            gone_early |= sample.held - following.held
    return IdleFraction(held, idle, len(gone_early))


@dataclass
class IdleSampler:
    """Samples once a second in a thread, from ``held_pods`` (pod IPs of the worker pods held now)
    and ``head`` (the head's GCS address and Ray token, None until it has started)."""

    held_pods: Callable[[], set[str]]
    head: Callable[[], tuple[str, str] | None]
    interval_s: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _busy: frozenset[str] = frozenset()
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> IdleSampler:
        self._thread = threading.Thread(target=self._run, name="idle-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def result(self) -> IdleFraction:
        return idle_fraction(self.samples)

    def _run(self) -> None:
        usage: subprocess.Popen | None = None
        try:
            while not self._stop.wait(self.interval_s):
                if usage is None and (head := self.head()) is not None:
                    usage = self._follow_usage(*head)
                self.samples.append(Sample(time.time(), frozenset(self.held_pods()), self._busy))
        finally:
            if usage is not None:
                usage.kill()
                usage.wait()

    def _follow_usage(self, address: str, token: str) -> subprocess.Popen:
        env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
        process = subprocess.Popen([sys.executable, "-m", "bench.node_usage", address], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPOSITORY)

        def read() -> None:
            for line in process.stdout or []:
                busy = json.loads(line)["busy"]
                self._busy = frozenset(ip for ip, running in busy.items() if running)

        threading.Thread(target=read, name="idle-sampler-usage", daemon=True).start()
        return process
