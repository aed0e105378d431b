"""Stop signals: a wait in asyncio (the cluster's readiness, the lock, following a search) ends
at once with StoppedBySignal, whatever the event loop was running when the signal came."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from aframe_tune import signals
from aframe_tune.signals import StoppedBySignal, install_stop_handlers, run_async


@pytest.fixture
def stop_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS}
    install_stop_handlers()
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
    signals._received.clear()


async def busy_callbacks_for(seconds: float, finished: list[str]) -> None:
    """Waits on a future while plain callbacks keep the loop busy: a signal almost always lands in
    one of them (where asyncio logs and forgets an exception), not in this coroutine."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_later(seconds, lambda: done.done() or done.set_result(None))

    def spin() -> None:
        busy_until = time.monotonic() + 0.05
        while time.monotonic() < busy_until:
            pass
        if not done.done():
            loop.call_soon(spin)

    loop.call_soon(spin)
    try:
        await done
    finally:
        finished.append("cleaned up")


@pytest.mark.parametrize("signum", signals.STOP_SIGNALS)
def test_a_stop_signal_cancels_a_wait_in_asyncio_and_is_raised(stop_handlers: None, signum: int) -> None:
    finished: list[str] = []
    threading.Timer(0.5, os.kill, (os.getpid(), signum)).start()
    started = time.monotonic()
    with pytest.raises(StoppedBySignal) as stopped:
        run_async(busy_callbacks_for(10, finished))
    assert time.monotonic() - started < 5
    assert stopped.value.signum == signum and finished == ["cleaned up"]


def test_a_wait_without_a_signal_returns_its_result(stop_handlers: None) -> None:
    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    assert run_async(answer()) == 42
    assert run_async(answer()) == 42  # the next wait is not cancelled by an earlier one
