"""``aframe-tune report``: a search's trials as a table, a summary and figures, from a local or
an ``s3://`` run directory, finished or still running."""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aframe_tune.report.experiment import ExperimentRecord, ReportError, read_experiment
from aframe_tune.report.summary import headline, write_report

__all__ = ["Report", "ReportError", "make_report", "headline"]

logger = logging.getLogger(__name__)
# what a report needs from a run directory: not the checkpoints, nor an earlier report
_NOT_NEEDED = re.compile(r"(^|/)(checkpoint_\d+|report)/|(^|/)best\.pt$")


@dataclass(frozen=True)
class Report:
    """A written report.

    Args:
        experiment: what was read.
        location: the report folder (a local path or an s3:// URL).
        files: the files written there.
    """

    experiment: ExperimentRecord
    location: str
    files: list[str]


def make_report(run_dir: str, *, name: str | None = None, metric: str | None = None,
                mode: str | None = None, endpoint_url: str | None = None) -> Report:
    """Read the experiment in ``run_dir`` and write the report into ``run_dir/report/``.

    An ``s3://`` run directory is read through a local copy of its small files (results,
    states, errors; no checkpoints), and the report is uploaded next to them.
    """
    if not run_dir.startswith("s3://"):
        local = Path(run_dir).expanduser().absolute()
        if not local.is_dir():
            raise ReportError(f"{local} is not a directory; give the run directory (AFRAME_TRAIN_RUN_DIR in run.sh)")
        record = read_experiment(local, name=name, metric=metric, mode=mode)
        files = write_report(record, local / "report")
        return Report(record, str(local / "report"), [str(path) for path in files])

    from aframe_tune.tune.s3 import S3Location, S3Storage

    location = S3Location.parse(run_dir)
    storage = S3Storage(endpoint_url)
    with tempfile.TemporaryDirectory(prefix="aframe-tune-report-") as scratch:
        copy = Path(scratch) / "run"
        if not storage.download_prefix(location, copy, skip=lambda key: bool(_NOT_NEEDED.search(key))):
            raise ReportError(f"{location.url} holds nothing; give the run directory (AFRAME_TRAIN_RUN_DIR in run.sh)")
        record = read_experiment(copy, name=name, metric=metric, mode=mode, shown_as=location.url)
        target = location.child("report")
        files = []
        for path in write_report(record, Path(scratch) / "report"):
            storage.upload(path, target.child(path.name))
            files.append(target.child(path.name).url)
    return Report(record, target.url, files)
