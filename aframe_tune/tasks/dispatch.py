"""``DispatchJobs``: ``aframe-tune dispatch`` as a law task, for workflows that dispatch jobs."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

import law
import luigi

from aframe_tune.dispatch.jobs import DispatchPlan
from aframe_tune.dispatch.overrides import plan_from_command_line
from aframe_tune.dispatch.runner import DispatchError, completion_path, dispatch, done_earlier
from aframe_tune.dispatch.status import closing_summary, status_table

logger = logging.getLogger(__name__)


class DispatchJobs(law.Task):
    """Run the jobs of a jobs.yaml on Ray; complete once every job has succeeded.

    ``law run aframe_tune.tasks.DispatchJobs --jobs-file jobs.yaml``
    """

    jobs_file = luigi.Parameter(description="the jobs.yaml listing the jobs")
    mode = luigi.OptionalParameter(default=None, significant=False,
                                   description="parallel or sequential; default: jobs.yaml's mode")
    ray_address = luigi.OptionalParameter(default=None, significant=False,
                                          description="the Ray cluster; default: jobs.yaml's, else $RAY_ADDRESS, "
                                          "else a new local instance")
    clusters_file = luigi.OptionalParameter(default=None, significant=False,
                                            description="spread the jobs over the Ray clusters listed there (Isaac "
                                            "Lab's ~/.cluster_config format); replaces jobs.yaml's clusters:")

    @cached_property
    def plan(self) -> DispatchPlan:
        """jobs.yaml, read once (luigi asks for the outputs and completeness several times)."""
        return plan_from_command_line(Path(self.jobs_file), self.mode, self.ray_address,
                                      Path(self.clusters_file) if self.clusters_file else None)

    def output(self) -> dict[str, law.LocalFileTarget]:
        plan = self.plan
        return {job.name: law.LocalFileTarget(str(completion_path(plan, job))) for job in plan.jobs}

    def complete(self) -> bool:
        plan = self.plan
        return all(done_earlier(plan, job) for job in plan.jobs)

    def run(self) -> None:
        plan = self.plan
        result = dispatch(plan, lambda statuses: logger.info("\n".join(status_table(statuses, plan))))
        summary = closing_summary(result.statuses, plan)
        if not result.succeeded:
            raise DispatchError(summary)
        logger.info(summary)
