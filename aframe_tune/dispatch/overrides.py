"""jobs.yaml as the command line overrides it: ``--mode``, ``--ray-address`` and ``--clusters-file``,
the same for ``aframe-tune dispatch`` and the ``DispatchJobs`` law task."""

from __future__ import annotations

from pathlib import Path

from aframe_tune.dispatch.clusters_file import read_clusters_file
from aframe_tune.dispatch.jobs import DispatchPlan, load_jobs


def plan_from_command_line(jobs_file: Path, mode: str | None = None, ray_address: str | None = None,
                           clusters_file: Path | None = None) -> DispatchPlan:
    """The checked plan of ``jobs_file``, with what the command line gives in place of its own
    (the clusters listed in ``clusters_file`` replace its ``clusters:``)."""
    clusters = read_clusters_file(clusters_file) if clusters_file else ()
    return load_jobs(jobs_file).overridden(mode, ray_address, clusters)
