"""Ray's usage records: its post-init hook made safe to run while the checks record usage, and
the search's callbacks counted as Ray counts them, without importing its integrations' libraries."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from ray import tune
from ray._common.usage import usage_lib
from ray._private import worker
from ray.air._internal import usage
from ray.air.integrations.wandb import WandbLoggerCallback
from ray.tune.logger import CSVLoggerCallback, LoggerCallback

from aframe_tune.tune.ray_usage import callback_counts, hold_usage_locks_in_rays_usage_hook
from aframe_tune.tune.stop import ReinstallStopHandlers


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


class OwnLogger(LoggerCallback):
    pass


def test_the_callbacks_are_counted_as_ray_counts_them() -> None:
    callbacks = [ReinstallStopHandlers(), WandbLoggerCallback(project="p"), CSVLoggerCallback(), OwnLogger(),
                 tune.Callback(), object()]
    assert callback_counts(callbacks) == usage._count_callbacks(callbacks)
    assert callback_counts(callbacks) == {"CustomCallback": 2, "WandbLoggerCallback": 1, "CSVLoggerCallback": 1,
                                          "CustomLoggerCallback": 1}
    assert callback_counts(None) == usage._count_callbacks(None) == {}


COUNT_A_SEARCH_S_CALLBACKS = """
import sys
from ray.air._internal import usage
from aframe_tune.tune.ray_usage import count_callbacks_by_name
from aframe_tune.tune.stop import ReinstallStopHandlers
count_callbacks_by_name()
usage.tag_callbacks([ReinstallStopHandlers()])
print(sorted(name for name in ("mlflow", "wandb") if name in sys.modules))
"""


def test_counting_a_search_s_callbacks_imports_neither_mlflow_nor_wandb() -> None:
    for replaced in (True, False):  # without the replacement, Ray's own count imports both
        script = COUNT_A_SEARCH_S_CALLBACKS if replaced else COUNT_A_SEARCH_S_CALLBACKS.replace(
            "count_callbacks_by_name()\n", "")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.splitlines()[-1] == ("[]" if replaced else "['mlflow', 'wandb']")
