"""Where a search that runs in the cluster stands, as one JSON object in its S3 run directory.

The search writes it as it goes (``tune/cluster_search.py``); ``run.sh`` and ``aframe-tune
status`` read it from any machine, with no connection to the Ray cluster.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aframe_tune.tune.progress import SearchProgress
from aframe_tune.tune.s3 import S3Location, S3Storage

STATUS_FILE = "search-status.json"
# the search's output, as its search Job copied it, saved when the search ends (the Job's log
# goes with the release)
OUTPUT_FILE = "search-output.log"
# ``aframe-tune stop`` writes the release's name here; the search of that release stops, saving its state
STOP_FILE = "search-stop"


class SearchState(StrEnum):
    """The life of a search in the cluster, as its driver records it."""

    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def ended(self) -> bool:
        return self in (SearchState.SUCCEEDED, SearchState.FAILED, SearchState.STOPPED)


@dataclass(frozen=True)
class SearchStatus:
    """One search's state, trials and best result, and when it started.

    Args:
        state: where it is in its life.
        release: the Ray cluster release it runs on.
        started_at: when its driver started (seconds since the epoch).
        updated_at: when this was written.
        progress: trials by state and the best so far, once the search has started.
        message: why it failed or stopped, or what it is waiting for.
    """

    state: SearchState
    release: str
    started_at: float
    updated_at: float
    progress: SearchProgress | None = None
    message: str = ""

    def to_json(self) -> str:
        data: dict[str, Any] = dataclasses.asdict(self)
        if self.progress is not None:
            data["progress"]["best_params"] = [list(pair) for pair in self.progress.best_params]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SearchStatus:
        """Read what :meth:`to_json` wrote; raises ``ValueError`` for anything else."""
        try:
            data = json.loads(text)
            progress = data.get("progress")
            if progress is not None:
                progress = SearchProgress(**{**progress, "best_params": tuple(
                    (str(key), value) for key, value in progress.get("best_params") or [])})
            return cls(SearchState(data["state"]), str(data["release"]), float(data["started_at"]),
                       float(data["updated_at"]), progress, str(data.get("message", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as error:  # JSONDecodeError is a ValueError
            raise ValueError(f"not a search status ({error})") from None

    def moved_on(self, state: SearchState, progress: SearchProgress | None = None, message: str = "") -> SearchStatus:
        """This status in ``state``, written now."""
        return dataclasses.replace(self, state=state, updated_at=time.time(),
                                   progress=progress if progress is not None else self.progress, message=message)

    @property
    def elapsed_s(self) -> float:
        end = self.updated_at if self.state.ended else time.time()
        return max(0.0, end - self.started_at)


def read_search_status(storage: S3Storage, run_dir: S3Location, release: str | None = None) -> SearchStatus | None:
    """The status in ``run_dir`` (only ``release``'s search's, if given); None where there is none,
    or it cannot be read as one. Storage failures are raised (``StorageError``)."""
    location = run_dir.child(STATUS_FILE)
    if not storage.exists(location):
        return None
    try:
        status = SearchStatus.from_json(storage.read_text(location))
    except ValueError:
        return None
    return status if release in (None, status.release) else None


def read_saved_output(storage: S3Storage, run_dir: S3Location) -> str | None:
    """The output its search Job saved when the last search of ``run_dir`` ended; None if none did."""
    location = run_dir.child(OUTPUT_FILE)
    return storage.read_text(location) if storage.exists(location) else None
