"""The task ``run.sh`` runs: tune locally or remotely depending on the run directory."""

from __future__ import annotations

import law

from aframe_tune.tasks.base import TuneParameters, is_remote
from aframe_tune.tasks.local import TuneLocal
from aframe_tune.tasks.remote import TuneRemote


class TuneTask(TuneParameters, law.WrapperTask):
    """``TuneLocal`` for a local run directory, ``TuneRemote`` for an ``s3://`` one."""

    def requires(self) -> TuneLocal | TuneRemote:
        task = TuneRemote if is_remote(self.resolved_run_dir) else TuneLocal
        return task.req(self, run_dir=self.resolved_run_dir)
