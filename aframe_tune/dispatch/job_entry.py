"""The entrypoint of a job submitted through Ray's Jobs API (``dispatch/ray_jobs.py``).

``python -m aframe_tune.dispatch.job_entry --name N --kind K --cpus C --gpus G --workdir W
--shipped-from S -- ARGV...`` runs in the job's driver process on a worker node, in the folder Ray
unpacked from the dispatcher's ``working_dir``. It does there what a job's Ray task does
(``runner.run_job_process``): it moves paths into that folder, shows the job only its own GPUs
(none for a job that asked for none: Ray leaves the driver's ``CUDA_VISIBLE_DEVICES`` alone then),
writes the header the job's log starts with, and becomes the job's command, whose output Ray
keeps as the job's log.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from aframe_tune.dispatch.jobs import PYTHON

GPUS_HEADER = "# CUDA_VISIBLE_DEVICES="


def relocated(argv: list[str], workdir: str, shipped_from: str | None, name: str) -> tuple[list[str], str]:
    """A job's command and working directory for the Ray worker running it.

    ``{python}`` becomes the worker's Python. Where the dispatcher's folder ``shipped_from`` was
    sent as the runtime environment's working directory (the worker's current directory), paths
    into it are moved there; a working directory outside it becomes one inside it.
    """
    argv = [sys.executable if part == PYTHON else part for part in argv]
    if shipped_from is None:
        return argv, workdir
    here = os.getcwd()
    argv = [part.replace(shipped_from + "/", here + "/") for part in argv]
    if workdir == shipped_from or workdir.startswith(shipped_from + "/"):
        return argv, here + workdir[len(shipped_from):]
    return argv, os.path.join(here, ".aframe-tune-jobs", name)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aframe_tune.dispatch.job_entry")
    parser.add_argument("--name", required=True)
    parser.add_argument("--kind", required=True, choices=["train", "tune", "command"])
    parser.add_argument("--cpus", type=float, required=True)
    parser.add_argument("--gpus", type=float, required=True)
    parser.add_argument("--workdir", required=True, help="the job's working directory on the dispatcher's machine")
    parser.add_argument("--shipped-from", required=True, help="the dispatcher's folder sent as working_dir")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    return parser


def main(arguments: list[str]) -> int:
    options = parser().parse_args(arguments)
    argv = options.argv[1:] if options.argv[:1] == ["--"] else options.argv
    argv, workdir = relocated(argv, options.workdir, options.shipped_from, options.name)
    env = dict(os.environ)
    if not options.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    gpus = env.get("CUDA_VISIBLE_DEVICES", "")
    if options.kind == "tune":  # run.sh starts a Ray instance of its own, with this job's share of the node
        env.pop("RAY_ADDRESS", None)
        argv += ["--TuneLocal-cpus", str(max(1, int(options.cpus)))]
    Path(workdir).mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    # the log's header, as a job run as a Ray task writes it
    sys.stdout.write(f"# {shlex.join(argv)}\n{GPUS_HEADER}{gpus}\n")
    sys.stdout.flush()
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        sys.stderr.write(f"cannot run {argv[0]!r}: {error}\n")
        return 127
    return 0  # not reached: the command replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
