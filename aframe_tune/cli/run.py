"""``run.sh``'s entry point: check that tune.cfg can be read, then ``law run`` the tune task.

The check comes first because law reads LAW_CONFIG_FILE while it starts: a file it cannot
parse would otherwise end in a configparser traceback. The run stays in this process, so the
driver's pid (and what a signal to it does) is the same as with ``law run``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from aframe_tune.config import check_config_file_syntax
from aframe_tune.errors import ConfigError

# the exit code tune.cfg gives a failed task ([luigi_retcode] task_failed), used for a file
# luigi cannot even read
EXIT_CONFIG_ERROR = 30
TUNE_TASK = "aframe_tune.tasks.TuneTask"


def main(argv: list[str] | None = None) -> None:
    """Run the tune task with ``argv`` as extra ``law run`` arguments (``--log-level`` etc.)."""
    arguments = sys.argv[1:] if argv is None else argv
    config_file = os.environ.get("LAW_CONFIG_FILE")
    if config_file:
        try:
            check_config_file_syntax(Path(config_file))
        except ConfigError as error:
            print(f"aframe-tune: {error}", file=sys.stderr)
            sys.exit(EXIT_CONFIG_ERROR)
    from law.cli.cli import run

    run(["run", TUNE_TASK, *arguments])


if __name__ == "__main__":
    main()
