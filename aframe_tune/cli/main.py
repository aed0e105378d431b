"""``aframe-tune``: the commands around tuning runs (``report``, ``cleanup``, ``dispatch``, ``status``,
``logs``, ``stop``)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

from aframe_tune.cli.cleanup import add_cleanup_command
from aframe_tune.cli.dispatch import add_dispatch_command
from aframe_tune.cli.init import OneLineErrorParser
from aframe_tune.cli.report import add_report_command
from aframe_tune.cli.searches import add_search_commands
from aframe_tune.console import quiet_http_requests, setup_console
from aframe_tune.errors import AframeTuneError


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="aframe-tune", description="Commands around aframe-tune's tuning runs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens, with tracebacks of errors")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND",
                                     parser_class=OneLineErrorParser)
    add_report_command(commands)
    add_cleanup_command(commands)
    add_dispatch_command(commands)
    add_search_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_http_requests(logging.getLogger().level)
    setup_console()  # what a command does (a cluster deployed, ready, removed), at every level
    try:
        return args.command(args)
    except AframeTuneError as error:
        if args.verbose:
            logging.exception("aframe-tune failed")
        print(f"aframe-tune: error: {error}", file=sys.stderr)
        return 1


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
