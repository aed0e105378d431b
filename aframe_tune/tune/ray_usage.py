"""Ray's usage records (telemetry), made safe and cheap for the driver.

Ray records, in the driver, which of its libraries and features a program uses, and sends the
record only where usage stats are enabled. Two of its recorders cost the driver something it
should not pay; each is replaced by one that records the same, and a Ray without them is left
as it is.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any

# Ray's own integrations' callbacks, which Ray's record counts by name
INTEGRATION_CALLBACKS = ("WandbLoggerCallback", "MLflowLoggerCallback", "CometLoggerCallback", "AimLoggerCallback")


def _holding_usage_locks(hook: Callable[[], None], first: Any, second: Any) -> Callable[[], None]:
    def locked_hook() -> None:
        with first, second:
            hook()

    locked_hook.wrapped = hook  # type: ignore[attr-defined]
    return locked_hook


def hold_usage_locks_in_rays_usage_hook() -> None:
    """Make Ray's post-``ray.init`` usage hook copy the usage recorded so far under its locks.

    The hook (Ray 2.60, ``usage_lib.put_pre_init_usage_stats``) iterates the library names and
    tags recorded before ``ray.init`` without the locks that guard them. The checks, running
    while Ray starts, record some (building a scheduler records ``tag_scheduler``, importing
    Ray Tune records ``tune``), and Python then raises "dictionary changed size during
    iteration" in ``ray.init``. Holding both locks cannot deadlock: the hook takes neither, and
    Ray records under one at a time. A Ray without this hook is left as it is.
    """
    # Ray's private modules, imported only once Ray's environment is prepared (local_ray.prepare_ray_environment)
    try:
        from ray._common.usage import usage_lib
        from ray._private import worker
    except ImportError:
        return
    hooks = worker._post_init_hooks
    for index, hook in enumerate(hooks):
        if hook is usage_lib.put_pre_init_usage_stats:
            hooks[index] = _holding_usage_locks(hook, usage_lib._recorded_library_usages_lock,
                                                usage_lib._recorded_extra_usage_tags_lock)


def callback_counts(callbacks: Iterable[Any] | None) -> dict[str, int]:
    """What Ray records of a search's callbacks: each of Ray's own by its class name, any other as
    ``CustomLoggerCallback`` or ``CustomCallback``, and nothing that is not a Tune callback."""
    from ray.tune import Callback
    from ray.tune.logger import LoggerCallback
    from ray.tune.utils.callback import DEFAULT_CALLBACK_CLASSES

    rays = {*INTEGRATION_CALLBACKS, *(cls.__name__ for cls in DEFAULT_CALLBACK_CLASSES)}
    counts: collections.Counter[str] = collections.Counter()
    for callback in callbacks or []:
        if not isinstance(callback, Callback):
            continue
        name = type(callback).__name__
        counts[name if name in rays else "CustomLoggerCallback" if isinstance(callback, LoggerCallback)
               else "CustomCallback"] += 1
    return dict(counts)


def count_callbacks_by_name() -> None:
    """Have Ray count a search's callbacks without importing its integrations' libraries.

    ``ray.tune.run`` records the callbacks a search was given (Ray 2.60,
    ``ray.air._internal.usage._count_callbacks``), and finds Ray's own by importing each
    integration's module to get its class, and with it MLflow and W&B where they are installed:
    about 1.3 s before the first trial, and ~53 MB of the driver's memory, on the benchmark
    machine, for a search that uses neither. A search without callbacks skips the count; every
    aframe-tune search has some (its stop handlers). Ray compares the classes' names, so the
    count is the same without them.
    """
    try:
        from ray.air._internal import usage
    except ImportError:
        return
    if callable(getattr(usage, "_count_callbacks", None)):
        usage._count_callbacks = callback_counts
