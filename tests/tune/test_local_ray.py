"""How Ray client connection errors are worded for the user, and Ray's usage hook made safe to run
while the checks record usage."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from ray._common.usage import usage_lib
from ray._private import worker

from aframe_tune.tune.local_ray import client_error_summary, hold_usage_locks_in_rays_usage_hook

# what ray.util.client raises when the head's client server could not start a server for us
SERVER_START_FAILURE = """Initialization failure from server:
Traceback (most recent call last):
  File "/ray/util/client/server/proxier.py", line 772, in Datapath
    raise RuntimeError(
RuntimeError: Starting Ray client server failed. See ray_client_server_23000.err for detailed logs.
"""


def test_a_server_side_traceback_is_summed_up_by_its_last_line() -> None:
    summary = client_error_summary(ConnectionError(SERVER_START_FAILURE))
    assert summary == ("RuntimeError: Starting Ray client server failed. See ray_client_server_23000.err for "
                       "detailed logs.")
    assert client_error_summary(ConnectionError("refused")) == "refused"
    assert client_error_summary(ConnectionError()) == "ConnectionError"


def record_tags_while(hook: Callable[[], None]) -> list[RuntimeError]:
    """Run Ray's post-init usage hook a few times while another thread records usage tags, as
    ``usage_lib.record_extra_usage_tag`` records them (under their lock); the errors it raised."""
    stop = threading.Event()

    def record() -> None:
        number = 0
        while not stop.is_set():
            with usage_lib._recorded_extra_usage_tags_lock:
                usage_lib._recorded_extra_usage_tags[f"recorded_{number}"] = "1"
            number += 1
            time.sleep(0)

    errors: list[RuntimeError] = []
    recorder = threading.Thread(target=record)
    recorder.start()
    try:
        for _ in range(20):
            try:
                hook()
            except RuntimeError as error:
                errors.append(error)
    finally:
        stop.set()
        recorder.join()
    return errors


def test_rays_usage_hook_no_longer_races_what_the_checks_record(monkeypatch: pytest.MonkeyPatch) -> None:
    # the usage as if ray.init had just connected; each put yields to the recording thread
    monkeypatch.setattr(usage_lib, "_internal_kv_initialized", lambda: True)
    monkeypatch.setattr(usage_lib, "_put_extra_usage_tag", lambda key, value, gcs_client=None: time.sleep(0))
    monkeypatch.setattr(usage_lib, "_recorded_extra_usage_tags", {f"before_{n}": "1" for n in range(2000)})
    monkeypatch.setattr(worker, "_post_init_hooks", list(worker._post_init_hooks))

    errors = record_tags_while(usage_lib.put_pre_init_usage_stats)
    assert errors and "changed size during iteration" in str(errors[0])  # Ray's own hook races
    hold_usage_locks_in_rays_usage_hook()
    hooks = [hook for hook in worker._post_init_hooks if getattr(hook, "wrapped", None) is usage_lib.put_pre_init_usage_stats]
    assert len(hooks) == 1 and usage_lib.put_pre_init_usage_stats not in worker._post_init_hooks
    assert record_tags_while(hooks[0]) == []
