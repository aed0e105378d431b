"""Fixtures shared by the whole suite: scaffolded experiments and running them for real."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

# Fixtures shared by the suite: the loopback S3 server and the emulated Kubernetes cluster.
pytest_plugins = ["tests.s3_server", "tests.emulated_cluster"]

BIN = Path(sys.executable).parent

# Test traffic stays on this machine: no usage telemetry (MLflow's, and any tool that honours
# DO_NOT_TRACK), W&B offline unless a test says otherwise. Child processes inherit these.
for _name, _value in {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "WANDB_MODE": "offline"}.items():
    os.environ.setdefault(_name, _value)


def set_dotted(mapping: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested dicts, creating levels as needed."""
    *parents, last = dotted.split(".")
    for key in parents:
        mapping = mapping.setdefault(key, {})
    mapping[last] = value


def edit_yaml(path: Path, changes: dict[str, Any]) -> None:
    """Apply dotted-key changes to a YAML file (comments are lost, which tests don't mind)."""
    content = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        set_dotted(content, dotted, value)
    path.write_text(yaml.safe_dump(content, sort_keys=False))


def clean_environment(**overrides: str) -> dict[str, str]:
    """The environment for a child process: no inherited Ray cluster or AFRAME paths."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RAY_", "AFRAME_", "TUNE_", "LAW_"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides)
    return env


def aframe_init(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``aframe-init`` console script."""
    return subprocess.run(
        [str(BIN / "aframe-init"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_environment(),
        timeout=120,
    )


# A search small enough for the test suite: few trials, short epochs, little data.
TINY_TUNE = {
    "tune_config.num_samples": 2,
    "tune_config.scheduler.init_args.max_t": 2,
    "tune_config.scheduler.init_args.grace_period": 2,
    # the trailing comma (as copied from Python code) is accepted, and normalized for lightray
    "param_space": {"model.learning_rate": "tune.choice([1e-3, 3e-3]),"},
}
TINY_TRAIN = {"trainer.max_epochs": 2, "data.num_train": 2048, "data.num_valid": 512}


@pytest.fixture
def experiment(tmp_path: Path) -> Callable[..., Path]:
    """Scaffold an experiment with aframe-init and shrink it; returns its directory."""

    def make(
        tune: dict[str, Any] | None = None,
        train: dict[str, Any] | None = None,
        name: str = "experiment",
    ) -> Path:
        directory = tmp_path / name
        result = aframe_init("offline", "--mode", "tune", "--directory", str(directory))
        assert result.returncode == 0, result.stderr
        edit_yaml(directory / "tune.yaml", {**TINY_TUNE, **(tune or {})})
        edit_yaml(directory / "train.yaml", {**TINY_TRAIN, **(train or {})})
        return directory

    return make


class ArgvSampler:
    """Samples every process's command line while a run is going on."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.3):
            listing = subprocess.run(["ps", "-ww", "-eo", "args", "--no-headers"], capture_output=True, text=True)
            self.seen.update(listing.stdout.splitlines())

    def __enter__(self) -> ArgvSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_sh_command(directory: Path, *args: str) -> list[str]:
    return ["bash", str(directory / "run.sh"), *args]


@contextmanager
def background_run_sh(
    directory: Path, log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Run an experiment's run.sh in the background, output to ``log``; killed if still running.

    run.sh execs Python, so the process is the driver itself.
    """
    driver = subprocess.Popen(
        run_sh_command(directory), stdout=log.open("w"), stderr=subprocess.STDOUT,
        cwd=directory.parent, env=env or clean_environment(),
    )
    try:
        yield driver
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(30)


def wait_while_running(
    driver: subprocess.Popen, log: Path, condition: Callable[[], Any], timeout: float, what: str
) -> Any:
    """Poll ``condition`` while the background driver runs; fail at once, with the driver's
    output, if it exits first, and after ``timeout`` seconds otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if driver.poll() is not None:
            raise AssertionError(f"the driver exited ({driver.returncode}) before {what}:\n"
                                 f"{log.read_text()[-6000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{log.read_text()[-6000:]}")
        time.sleep(0.5)


def run_experiment(
    directory: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run an experiment's run.sh to completion from an unrelated working directory."""
    return subprocess.run(
        run_sh_command(directory, *args),
        capture_output=True,
        text=True,
        cwd=directory.parent,
        env=env or clean_environment(),
        timeout=timeout,
    )
