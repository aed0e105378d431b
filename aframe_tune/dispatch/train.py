"""A training job of ``aframe-tune dispatch``: ``python -m aframe_tune.dispatch.train CLI_CLASS fit ...``
runs the LightningCLI class ``CLI_CLASS`` (a dotted path) with the remaining arguments."""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m aframe_tune.dispatch.train package.module.LightningCLIClass fit [ARGS...]",
              file=sys.stderr)
        return 2
    module_name, _, class_name = argv[0].rpartition(".")
    try:
        cli_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        print(f"cannot import the LightningCLI class {argv[0]!r} ({error}); check cli in jobs.yaml", file=sys.stderr)
        return 2
    sys.argv = [f"{argv[0]}", *argv[1:]]  # as if CLI_CLASS were the program: LightningCLI reads sys.argv
    cli_class()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
