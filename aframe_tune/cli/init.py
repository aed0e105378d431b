"""``aframe-init``: scaffold an experiment directory."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import NoReturn

from aframe_tune.errors import AframeTuneError
from aframe_tune.presets import DEFAULT_PRESET, PRESETS
from aframe_tune.scaffold import Experiment, check_s3_url
from aframe_tune.tune.command_spec import TrainableKind


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr rather than usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    presets = "; ".join(
        f"{preset.name}: {preset.summary}" + (f" (pip install 'aframe-tune[{preset.extra}]')" if preset.extra else "")
        for preset in PRESETS.values()
    )
    parser = OneLineErrorParser(
        prog="aframe-init",
        description="Create an experiment directory with tune.cfg, tune.yaml, train.yaml (or train.py, for a "
        "command) and run.sh.",
    )
    parser.add_argument("pipeline", choices=["offline"], help="the pipeline to set up")
    parser.add_argument("--mode", required=True, choices=["tune"], help="what the experiment does")
    parser.add_argument(
        "--directory", required=True, type=Path, help="where to write the experiment's files"
    )
    parser.add_argument(
        "--s3-bucket",
        metavar="s3://BUCKET/PREFIX",
        help="tune on Kubernetes with results in this S3 prefix; default: locally, with results "
        "in DIRECTORY/training",
    )
    parser.add_argument(
        "--search", choices=list(PRESETS), default=DEFAULT_PRESET, metavar="{" + ",".join(PRESETS) + "}",
        help=f"how tune.yaml searches, commented there: {presets}",
    )
    parser.add_argument(
        "--trainable", choices=[kind.value for kind in TrainableKind], default=TrainableKind.LIGHTNING.value,
        help="what each trial runs: lightning, the demo LightningCLI model (tune.yaml, train.yaml); command, an "
        "example training command of plain PyTorch (tune.yaml, train.py) to replace with your own; "
        "default: lightning",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite the files of an existing experiment"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    directory = args.directory.expanduser().absolute()
    try:
        run_dir = check_s3_url(args.s3_bucket) if args.s3_bucket else str(directory / "training")
        trainable = TrainableKind(args.trainable)
        experiment = Experiment(directory=directory, run_dir=run_dir, mode=args.mode, search=args.search,
                                trainable=trainable)
        experiment.check_writable(force=args.force)
        experiment.write()
    except AframeTuneError as error:
        print(f"aframe-init: error: {error}", file=sys.stderr)
        return 1
    where = "on Kubernetes" if args.s3_bucket else "on this machine"
    print(f"Created a tuning experiment in {directory} (results: {run_dir}, tuned {where}, "
          f"search: {args.search}).")
    preset = PRESETS[args.search]
    if preset.module and importlib.util.find_spec(preset.module) is None:
        print(f"The {preset.name} search needs its library here and where trials run:  "
              f"pip install 'aframe-tune[{preset.extra}]'")
    edit = "train.py" if experiment.trainable is TrainableKind.COMMAND else "train.yaml"
    print(f"Edit tune.yaml and {edit} there, then run:  bash {directory / 'run.sh'}")
    return 0


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
