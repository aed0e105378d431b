"""The three ways to run one search that the benchmark compares, each as a fresh process.

- ``pipeline``: this product, ``aframe-init`` then ``bash run.sh`` (law, checks, local Ray, lightray,
  export of ``best.pt``);
- ``lightray``: the plain ``lightray`` console script with the same tune.yaml and train.yaml;
- ``raw_tune``: a ``ray.tune.Tuner`` with a function trainable (``bench.raw_tune``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from bench.workload import Workload

REPOSITORY = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONTENDERS = ("pipeline", "lightray", "raw_tune")


@dataclass(frozen=True)
class Launch:
    """One search to run.

    Args:
        contender: one of :data:`CONTENDERS`.
        workload: the search's size.
        directory: a fresh directory for its configuration, results, logs and events.
    """

    contender: str
    workload: Workload
    directory: Path

    @property
    def events(self) -> Path:
        return self.directory / "events"

    @property
    def run_dir(self) -> Path:
        return self.directory / "training"

    @property
    def log(self) -> Path:
        return self.directory / "output.log"

    def prepare(self) -> None:
        """Write the search's configuration (and, for the pipeline, scaffold it with aframe-init)."""
        self.directory.mkdir(parents=True)
        self.events.mkdir()
        if self.contender == "pipeline":
            subprocess.run([str(BIN / "aframe-init"), "offline", "--mode", "tune", "--directory",
                            str(self.directory / "experiment")], check=True, capture_output=True,
                           env=environment(self))
            # the scaffold's run directory is experiment/training; keep it where the others keep theirs
            run_sh = self.directory / "experiment" / "run.sh"
            run_sh.write_text(run_sh.read_text().replace(str(self.directory / "experiment" / "training"),
                                                         str(self.run_dir)))
        config_dir = self.directory / "experiment" if self.contender == "pipeline" else self.directory
        config_dir.mkdir(exist_ok=True)
        (config_dir / "tune.yaml").write_text(yaml.safe_dump(self.workload.tune_config(), sort_keys=False))
        (config_dir / "train.yaml").write_text(yaml.safe_dump(self.workload.train_config(), sort_keys=False))

    def command(self) -> list[str]:
        if self.contender == "pipeline":
            return ["bash", str(self.directory / "experiment" / "run.sh")]
        if self.contender == "lightray":
            return [str(BIN / "lightray"), "--config", str(self.directory / "tune.yaml"),
                    f"--run_config.storage_path={self.run_dir}", "--",
                    "--config", str(self.directory / "train.yaml")]
        if self.contender == "raw_tune":
            return [sys.executable, "-m", "bench.raw_tune", str(self.run_dir), json.dumps(asdict(self.workload))]
        raise ValueError(f"unknown contender {self.contender!r}; choose one of {', '.join(CONTENDERS)}")

    def start(self) -> tuple[subprocess.Popen, float]:
        """Start the search in its own process group; returns it and the time it was started."""
        started = time.time()
        process = subprocess.Popen(self.command(), stdout=self.log.open("a"), stderr=subprocess.STDOUT,
                                   cwd=self.directory, env=environment(self), start_new_session=True)
        return process, started


def environment(launch: Launch) -> dict[str, str]:
    """A clean environment: no inherited Ray cluster; the bench importable by Ray's workers; events
    recorded; a data cache of this search's own, so every search starts cold."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("RAY_", "AFRAME_", "TUNE_", "LAW_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    env["AFRAME_BENCH_EVENTS"] = str(launch.events)
    env["AFRAME_TUNE_DATA_CACHE"] = str(launch.directory / "data-cache")
    return env


def stop_group(process: subprocess.Popen) -> None:
    """Kill whatever is left of a search's process group (Ray's processes included)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def finished(launch: Launch, process: subprocess.Popen) -> bool:
    """Whether the search completed: every trial trained to its end, or with a scheduler (which
    may stop a trial at a report) reported at least once; and the pipeline made best.pt."""
    if launch.contender == "pipeline" and (process.returncode != 0 or not (launch.run_dir / "best.pt").is_file()):
        return False
    if launch.contender == "raw_tune" and process.returncode != 0:
        return False
    # lightray's console script exits 1 even when the search succeeds: it returns the ResultGrid
    trained = ("end", "progress") if launch.workload.preset else ("end",)
    ended = set()
    for path in launch.events.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event["event"] in trained:
                ended.add(event["trial"])
    return len(ended) >= launch.workload.trials
