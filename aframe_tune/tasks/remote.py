"""Tuning on Kubernetes with S3 storage."""

from __future__ import annotations

import luigi

from aframe_tune.errors import NotYetSupportedError
from aframe_tune.tasks.base import TuneParameters


class TuneRemote(TuneParameters):
    """Deploy a Ray cluster on Kubernetes and run the search there (not built yet)."""

    git_url = luigi.OptionalParameter(
        default=None,
        significant=False,
        description="git repository the pods clone with git-sync; default: none (the image's code)",
    )
    git_ref = luigi.Parameter(
        default="main", significant=False, description="branch, tag or commit of git_url; default: main"
    )

    def complete(self) -> bool:
        return False

    def run(self) -> None:
        raise NotYetSupportedError(
            f"Remote tuning (run directory {self.resolved_run_dir}) is not available yet in this "
            "version of aframe-tune; set AFRAME_TRAIN_RUN_DIR to a local path to tune on this "
            "machine"
        )
