"""``aframe-tune report RUN_DIR``: tables, a summary and figures of a search."""

from __future__ import annotations

import argparse
import os


def add_report_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report", help="write a report of a search (table, summary.md, figures) into RUN_DIR/report/",
        description="Read the Ray Tune experiment in RUN_DIR (finished, interrupted or still running) and "
                    "write RUN_DIR/report/: trials.csv, summary.md and PNG figures (learning curves, the "
                    "metric against each hyperparameter, the best trial's curves).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="the run directory (AFRAME_TRAIN_RUN_DIR in run.sh): a local path or s3://BUCKET/PREFIX")
    parser.add_argument("--name", help="the experiment's folder in RUN_DIR (run_config.name); default: the only one")
    parser.add_argument("--metric", help="the metric to rank trials by; default: the search's (tune_config.metric)")
    parser.add_argument("--mode", choices=["min", "max"], help="whether lower or higher is better; default: the search's")
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="S3 endpoint of an s3:// RUN_DIR; default: $AWS_ENDPOINT_URL")
    parser.set_defaults(command=report_command)


def report_command(args: argparse.Namespace) -> int:
    from aframe_tune.report import headline, make_report

    report = make_report(args.run_dir, name=args.name, metric=args.metric, mode=args.mode,
                         endpoint_url=args.endpoint_url)
    for line in headline(report.experiment):
        print(line)
    print(f"Report: {report.location}/summary.md ({len(report.files)} files)")
    return 0
