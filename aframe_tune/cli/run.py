"""``run.sh``'s entry point: check tune.cfg, then ``law run`` the tune task.

tune.cfg is checked first because law reads LAW_CONFIG_FILE while it starts (a file it cannot
parse would end in a configparser traceback) and luigi reads options only when a task needs
them (a mistyped value would fail with a traceback mid-run, an unknown option not at all). The
run stays in this process, so the driver's pid (and what a signal to it does) is the same as
with ``law run``.
"""

from __future__ import annotations

import atexit
import configparser
import os
import sys
from pathlib import Path
from typing import NoReturn

from aframe_tune.config import check_config_file_syntax
from aframe_tune.console import setup_console
from aframe_tune.errors import ConfigError

# the exit code tune.cfg gives a failed task ([luigi_retcode] task_failed), used for a file
# luigi cannot even read
EXIT_CONFIG_ERROR = 30
TUNE_TASK = "aframe_tune.tasks.TuneTask"
DEBUG_FLAG = "--debug"
LOG_LEVEL_FLAG = "--log-level"
# The user sees aframe-tune's own lines, warnings and errors; INFO or DEBUG add every library's.
DEFAULT_LOG_LEVEL = "WARNING"


def configured_log_level(config_file: Path | None) -> str | None:
    """tune.cfg's ``[luigi_core] log_level``, if it sets one."""
    if config_file is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config_file)
    return parser.get("luigi_core", "log_level", fallback=None) or parser.get("core", "log_level", fallback=None)


def law_arguments(arguments: list[str], config_file: Path | None = None) -> list[str]:
    """``law run`` arguments; ``--debug`` (tracebacks with every error) is ``--log-level DEBUG``,
    and without a level here or in tune.cfg the level is ``WARNING`` (luigi's own is DEBUG)."""
    law_args = [argument for argument in arguments if argument != DEBUG_FLAG]
    if DEBUG_FLAG in arguments:
        law_args += [LOG_LEVEL_FLAG, "DEBUG"]
    elif not any(arg.split("=")[0] == LOG_LEVEL_FLAG for arg in law_args) and not configured_log_level(config_file):
        law_args += [LOG_LEVEL_FLAG, DEFAULT_LOG_LEVEL]
    return law_args


def check_config_file(path: Path) -> None:
    """Check tune.cfg's syntax, then its sections, options and values."""
    check_config_file_syntax(path)
    from aframe_tune.tasks import config_sections

    config_sections().check(path)


def main(argv: list[str] | None = None) -> None:
    """Run the tune task with ``argv`` as extra ``law run`` arguments (``--log-level`` etc.)."""
    config_file = Path(os.environ["LAW_CONFIG_FILE"]) if os.environ.get("LAW_CONFIG_FILE") else None
    if config_file:
        try:
            check_config_file(config_file)
        except ConfigError as error:
            print(f"aframe-tune: {error}", file=sys.stderr)
            sys.exit(EXIT_CONFIG_ERROR)
    arguments = law_arguments(sys.argv[1:] if argv is None else argv, config_file)
    setup_console()
    from law.cli.cli import run

    from aframe_tune.signals import exit_status, received_stop_signal

    try:
        run(["run", TUNE_TASK, *arguments])
    except SystemExit as exit_:
        signum = received_stop_signal()
        if signum is not None and exit_.code != 0:
            exit_skipping_teardown(exit_status(signum))
        if isinstance(exit_.code, int) or exit_.code is None:
            exit_skipping_teardown(exit_.code or 0)
        raise


def exit_skipping_teardown(code: int) -> NoReturn:
    """Exit with ``code`` once the at-exit handlers have run and the output is flushed, skipping
    the interpreter's teardown of every module.

    With torch, Lightning and Ray loaded, that teardown takes 1.5-2 s, all of it after the run is
    over (docs/benchmarks.md). Nothing of aframe-tune's is left to finalise by then: every file
    it writes is closed in its own ``with`` block.
    """
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython's; absent elsewhere
    if run_exit_handlers is None:
        sys.exit(code)
    run_exit_handlers()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
