"""The console: user-facing lines, and one live line rewritten in place on a terminal only."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from aframe_tune import console


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def fresh_console() -> Iterator[None]:
    saved = (list(console.console.handlers), console.console.propagate, console.console.level)
    console.console.handlers.clear()
    console.console.propagate = True
    yield
    console.console.handlers[:] = saved[0]
    console.console.propagate, console.console.level = saved[1], saved[2]


def test_live_lines_are_plain_lines_in_a_file(fresh_console: None) -> None:
    stream = io.StringIO()
    console.setup_console(stream)
    assert not console.is_interactive()
    console.say("Tuning on %s", "this machine")
    console.show_live("0s | 0/2 trials done")
    console.show_live("10s | 1/2 trials done")
    console.end_live()
    console.say("Search finished")
    assert stream.getvalue() == "Tuning on this machine\n0s | 0/2 trials done\n10s | 1/2 trials done\nSearch finished\n"


def test_on_a_terminal_the_live_line_is_rewritten_and_other_lines_go_above_it(fresh_console: None) -> None:
    stream = Terminal()
    console.setup_console(stream)
    assert console.is_interactive()
    console.show_live("0s | 0/2")
    console.show_live("1s | 1/2")
    console.say("a warning-free line")
    console.end_live()
    console.say("done")
    clear = "\r\x1b[K"
    assert stream.getvalue() == f"{clear}0s | 0/2{clear}1s | 1/2{clear}a warning-free line\n1s | 1/2\n{clear}done\n"
    # what a person sees: the last state of each line
    screen = [line.split(clear)[-1] for line in stream.getvalue().split("\n")]
    assert screen == ["a warning-free line", "1s | 1/2", "done", ""]


def test_without_run_sh_s_handler_console_lines_reach_the_root_logger(fresh_console: None,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        console.say("Ray cluster %s is ready", "r-1")
    assert [record.getMessage() for record in caplog.records] == ["Ray cluster r-1 is ready"]
