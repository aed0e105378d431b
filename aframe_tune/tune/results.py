"""Reading a finished (or interrupted) Ray Tune search."""

from __future__ import annotations

import logging

from aframe_tune.errors import TuningError

logger = logging.getLogger(__name__)


def check_search_finished(results, num_samples: int) -> None:
    """Fail if the search stopped early (Ctrl-C), so that law does not take it for finished.

    Ray Tune marks a trial's last result ``done`` when it completes or the scheduler stops it,
    and gives a trial whose retries are spent an error; a trial cut off by Ctrl-C has neither.
    (The ResultGrid's status counts cannot tell: Tune's clean-up marks interrupted trials
    terminated.) Failed trials count as finished: the best of the others is still worth
    exporting, and re-running retries them.
    """
    failed = [result for result in results if result.error is not None]
    unfinished = [
        result for result in results if result.error is None and not result.metrics.get("done")
    ]
    if failed:
        logger.warning(
            "%d of %d trials failed; their errors are in their trial directories under %s",
            len(failed), len(results), results.experiment_path,
        )
    if len(results) < num_samples or unfinished:
        done = len(results) - len(unfinished)
        raise TuningError(
            f"The search stopped before it finished ({done} of {num_samples} trials done); "
            "run run.sh again to resume it where it stopped"
        )
