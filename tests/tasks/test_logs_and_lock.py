"""Expected failures print as one line; one driver per run directory."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aframe_tune.errors import ConfigError, RunDirectoryBusyError
from aframe_tune.tasks.lock import LOCK_FILE, run_directory_lock
from aframe_tune.tasks.logs import LUIGI_LOGGER, REDACTED, AframeTuneErrorFilter, SecretRedactor, register_secret


def record_for(error: Exception) -> logging.LogRecord:
    try:
        raise error
    except Exception:
        return logging.getLogger(LUIGI_LOGGER).makeRecord(
            LUIGI_LOGGER, logging.ERROR, __file__, 1, "Worker failed %s", ("Task()",), sys.exc_info()
        )


def test_our_errors_lose_the_traceback() -> None:
    record = record_for(ConfigError("tune.yaml: tune_config.metric is not set"))
    AframeTuneErrorFilter().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == "aframe-tune: tune.yaml: tune_config.metric is not set"


def test_secrets_are_masked_in_messages_and_tracebacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-Redact9Check")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0123456789abcdef")
    register_secret("-----BEGIN OPENSSH PRIVATE KEY-----\nFakeKeyLine7Redact\n-----END OPENSSH PRIVATE KEY-----\n")
    record = record_for(ValueError("signed with fake-secret-Redact9Check"))
    record.msg, record.args = "headers %s %s", ("Authorization: 0123456789abcdef", "FakeKeyLine7Redact")
    SecretRedactor().filter(record)
    formatted = logging.Formatter().format(record)
    for secret in ("fake-secret-Redact9Check", "0123456789abcdef", "FakeKeyLine7Redact"):
        assert secret not in formatted
    assert formatted.startswith(f"headers Authorization: {REDACTED} {REDACTED}")
    assert f"ValueError: signed with {REDACTED}" in formatted


def test_bugs_keep_the_traceback() -> None:
    record = record_for(KeyError("surprise"))
    AframeTuneErrorFilter().filter(record)
    assert record.exc_info is not None


def test_debug_logging_keeps_the_traceback() -> None:
    logger = logging.getLogger(LUIGI_LOGGER)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        record = record_for(ConfigError("x"))
        AframeTuneErrorFilter().filter(record)
        assert record.exc_info is not None
    finally:
        logger.setLevel(previous)


def test_second_holder_is_refused(tmp_path: Path) -> None:
    with run_directory_lock(tmp_path):
        with pytest.raises(RunDirectoryBusyError, match=f"already being tuned by process {os.getpid()}"):
            with run_directory_lock(tmp_path):
                pass
    with run_directory_lock(tmp_path):  # released on exit
        pass


def test_lock_dies_with_a_killed_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path;"
         "from aframe_tune.tasks.lock import run_directory_lock\n"
         "with run_directory_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
         str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunDirectoryBusyError):
        with run_directory_lock(tmp_path):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    deadline = time.monotonic() + 5
    with run_directory_lock(tmp_path):
        assert time.monotonic() < deadline
    assert (tmp_path / LOCK_FILE).exists()
