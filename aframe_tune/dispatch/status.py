"""The live status table of ``aframe-tune dispatch`` and its closing summary."""

from __future__ import annotations

import time
from pathlib import Path

from aframe_tune.dispatch.jobs import DispatchPlan
from aframe_tune.dispatch.runner import JobState, JobStatus, log_path

STATES = (JobState.RUNNING, JobState.WAITING, JobState.SUCCEEDED, JobState.FAILED, JobState.SKIPPED)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def status_table(statuses: list[JobStatus], plan: DispatchPlan) -> list[str]:
    """A heading with the counts by state, then one row per job; with a CLUSTER column where
    jobs.yaml spreads the jobs over several clusters."""
    counts = ", ".join(f"{sum(s.state == state for s in statuses)} {state}" for state in STATES
                       if any(s.state == state for s in statuses))
    several = bool(plan.clusters)
    rows = [("JOB", "KIND", "STATE", "TIME", "ASKS FOR", *(("CLUSTER",) if several else ()), "GPUS", "LOG")]
    for status in statuses:
        state = status.state if status.exit_code in (None, 0) else f"{status.state} ({status.exit_code})"
        gpus = status.gpus if status.state not in (JobState.WAITING, JobState.SKIPPED) and status.gpus else "-"
        cluster = (status.cluster or "-",) if several else ()
        rows.append((status.job.name, status.job.kind, state, status.elapsed(), status.job.resources.describe(),
                     *cluster, gpus, _relative(log_path(plan, status.job))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [f"[{time.strftime('%H:%M:%S')}] {counts}"]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
    return lines


def closing_summary(statuses: list[JobStatus], plan: DispatchPlan) -> str:
    failed = [status for status in statuses if status.state not in (JobState.SUCCEEDED, JobState.SKIPPED)]
    if not failed:
        skipped = sum(status.state == JobState.SKIPPED for status in statuses)
        note = f" ({skipped} done earlier, skipped)" if skipped else ""
        return f"All {len(statuses)} jobs succeeded{note}."
    listed = "; ".join(
        f"{status.job.name} (exit status {status.exit_code if status.exit_code is not None else 'none: it was stopped'}, "
        f"log {_relative(log_path(plan, status.job))})" for status in failed)
    return (f"{len(failed)} of {len(statuses)} jobs failed: {listed}. Run the same command again to rerun "
            "them; jobs that succeeded are skipped.")
