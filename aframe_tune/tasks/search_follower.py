"""``run.sh``'s side of a search that runs in the cluster: following it from this machine.

The search records where it stands in its S3 run directory (``search-status.json``), and the
object it lives by (its search Job, or its RayJob) is one of the API server's. The status is read
every few seconds, and the object is watched (one request, not one per look); neither needs a
connection to the Ray cluster, and a lost connection to either is waited out. Stopping this
process (Ctrl-C, a closed terminal) only stops the following: the search goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.inventory import find_ray_clusters, remove_ray_cluster
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.names import SEARCH, product_labels
from aframe_tune.cluster.search_object import SearchObject, SearchObjectRef, SearchObjectWatch, read_search_object
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.console import end_live, is_interactive, say, show_live
from aframe_tune.tune.progress import Pace, short_duration
from aframe_tune.tune.s3 import S3Location, S3Storage, StorageError
from aframe_tune.tune.search_status import STOP_FILE, SearchState, SearchStatus, read_saved_output, read_search_status
from aframe_tune.signals import run_async

logger = logging.getLogger(__name__)

FOLLOW_EVERY_S = 3.0
# looks in a row that find the search object ended or gone, with no end recorded, before the
# search counts as failed or lost
GONE_LOOKS = 3
JOB_FAILED = "the search Job failed (is aframe-tune installed in the image?)"
# seconds the release has, once the search ended, to remove itself
REMOVAL_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class FollowedSearch:
    """A search in the cluster, as this machine finds it.

    Args:
        target: the cluster and namespace.
        search: the object it lives by, which names its release.
        location: the S3 run directory.
        endpoint_url: this machine's S3 endpoint (``None``: boto3's default).
    """

    target: KubeTarget
    search: SearchObjectRef
    location: S3Location
    endpoint_url: str | None

    @property
    def release(self) -> str:
        return self.search.release

    def job_failed(self, lines: list[str], failure: str = "") -> SearchStatus:
        """The status of a search whose object failed before the search could record an end (a
        search Job with an image without aframe-tune, a RayJob that KubeRay failed)."""
        now = time.time()
        output = "".join(f"\n  {line.rstrip()}" for line in lines)
        why = f"{self.search.describe()} failed: {failure}" if failure and self.search.kind == "RayJob" else JOB_FAILED
        return SearchStatus(SearchState.FAILED, self.release, now, now, None,
                            f"{why}; its last lines:{output}" if output else why)

    def lost(self) -> SearchStatus:
        """The status of a search whose Job is gone without recording an end."""
        now = time.time()
        return SearchStatus(SearchState.FAILED, self.release, now, now, None,
                            f"{self.search.describe()} is gone, and the search recorded no "
                            "end (the release was removed by hand, or by aframe-tune cleanup)")


async def last_lines(api: KubeApi, release: str, count: int = 15) -> list[str]:
    """The last lines of the output of the release's newest search Job pod."""
    pods = await api.list("pods", labels=product_labels(release, component=SEARCH))
    if not pods:
        return []
    newest = max(pods, key=lambda pod: pod["metadata"].get("creationTimestamp", ""))
    try:
        return [line async for line in api.pod_logs(newest["metadata"]["name"])][-count:]
    except ClusterError as error:
        return [f"(its log could not be read: {error})"]


class Contact:
    """Says once that the cluster or the storage cannot be reached, and once that it can again."""

    def __init__(self) -> None:
        self.lost_since: float | None = None

    def failed(self, error: Exception) -> None:
        if self.lost_since is None:
            self.lost_since = time.monotonic()
            logger.warning("Lost contact with the search (%s); it goes on in the cluster, and this machine keeps "
                           "trying", error)

    def succeeded(self) -> None:
        if self.lost_since is not None:
            say("In contact with the search again after %s", short_duration(time.monotonic() - self.lost_since))
            self.lost_since = None


def read_status(storage: S3Storage, search: FollowedSearch) -> SearchStatus | None:
    """The search's status, if this release's search has written one."""
    return read_search_status(storage, search.location, search.release)


# what the follower says before the search reports trials: before it has written a status, and
# once it runs (its driver checked the experiment, no trial has reported yet)
NOT_STARTED = "waiting for the search to start"
NO_RESULT_YET = "the search is running; waiting for its trials' first results"


def status_line(search: FollowedSearch, status: SearchStatus | None) -> str:
    """The line that says where the search stands: its progress once it has some, else what it
    is doing or waiting for."""
    if status is not None and status.progress is not None:
        return status.progress.line()
    if status is None:
        waiting = NOT_STARTED
    else:
        waiting = status.message or (NO_RESULT_YET if status.state is SearchState.RUNNING else NOT_STARTED)
    return f"Ray cluster {search.release}: {waiting}"


@dataclass(frozen=True)
class SearchEnd:
    """How a followed search ended.

    Args:
        status: its last status.
        left_behind: its object ended, or went, with no end recorded: no pod of it removed the
            release, which this machine then removes.
    """

    status: SearchStatus
    left_behind: bool = False


async def follow(search: FollowedSearch, storage: S3Storage) -> SearchEnd:
    """Show the search's progress line until it ends; return how it ended."""
    following = Following(search)
    try:
        return await following.run(storage)
    finally:
        await following.stop_watching()


class Following:
    """The state of :func:`follow`: its connection and watch of the search object, and what it
    has shown."""

    def __init__(self, search: FollowedSearch) -> None:
        self.search = search
        self.pace = Pace(is_interactive())
        self.contact = Contact()
        self.gone = 0
        self.waiting = ""
        self.api: KubeApi | None = None
        self.watch: SearchObjectWatch | None = None

    async def stop_watching(self) -> None:
        if self.watch is not None:
            await self.watch.close()
        self.api, self.watch = None, None

    async def look(self, storage: S3Storage) -> tuple[SearchStatus | None, SearchObject | None]:
        """The search's status and its object, as they are now."""
        self.api = self.api or await KubeApi.connect(self.search.target)
        self.watch = self.watch or await SearchObjectWatch.start(self.api, self.search.search)
        status = await asyncio.to_thread(read_status, storage, self.search)
        return status, self.watch.current()

    async def run(self, storage: S3Storage) -> SearchEnd:
        while True:
            try:
                status, found = await self.look(storage)
                self.contact.succeeded()
            except (ClusterError, StorageError) as error:
                self.contact.failed(error)
                if isinstance(error, ClusterError):
                    await self.stop_watching()
                await asyncio.sleep(FOLLOW_EVERY_S)
                continue
            end = await self.ended(status, found)
            if end is not None:
                return end
            self.show(status)
            await asyncio.sleep(FOLLOW_EVERY_S)

    async def ended(self, status: SearchStatus | None, found: SearchObject | None) -> SearchEnd | None:
        if status is not None and status.state.ended:
            if status.progress is not None:
                show_live(status.progress.line())  # where it ended, whatever the pace
            return SearchEnd(status)
        # the object may end a moment before the search's end shows in S3: look a few times more
        self.gone = self.gone + 1 if found is None or found.finished else 0
        if self.gone < GONE_LOOKS:
            return None
        if found is None:
            return SearchEnd(self.search.lost())
        lines = await last_lines(self.api, self.search.release) if self.api is not None else []
        return SearchEnd(self.search.job_failed(lines, found.failure), left_behind=True)

    def show(self, status: SearchStatus | None) -> None:
        line = status_line(self.search, status)
        if status is not None and status.progress is not None:
            if self.pace.due(status.progress, time.monotonic()):
                show_live(line)
        elif line != self.waiting:
            self.waiting = line
            show_live(line)


async def wait_until_removed(api: KubeApi, search: SearchObjectRef, timeout_s: float = REMOVAL_TIMEOUT_S) -> bool:
    """Wait until the release's search object, the last of its objects it deletes, is gone."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if await read_search_object(api, search) is None:
                return True
        except ClusterError as error:
            logger.info("Could not check that Ray cluster %s is gone (%s)", search.release, error)
        await asyncio.sleep(FOLLOW_EVERY_S)
    return False


async def removed(search: FollowedSearch) -> bool:
    try:
        api = await KubeApi.connect(search.target)
    except ClusterError as error:
        logger.info("Could not check that Ray cluster %s is gone (%s)", search.release, error)
        return False
    return await wait_until_removed(api, search.search)


def read_status_of(run_dir: str, release: str | None) -> SearchStatus | None:
    """The status in ``run_dir`` (of ``release``'s search, if given), read with this machine's
    S3 endpoint (``AWS_ENDPOINT_URL``)."""
    return read_search_status(S3Storage(), S3Location.parse(run_dir), release)


def saved_output_of(run_dir: str) -> str | None:
    """The output the last search of ``run_dir`` saved when it ended (:func:`read_saved_output`)."""
    return read_saved_output(S3Storage(), S3Location.parse(run_dir))


def request_stop(run_dir: str, release: str) -> None:
    """Ask ``release``'s search to stop (it looks every few seconds), saving its state."""
    S3Storage().write_text(release, S3Location.parse(run_dir).child(STOP_FILE))


async def remove_release(search: FollowedSearch) -> None:
    """Remove a release whose search Job failed and so cannot remove it."""
    api = await KubeApi.connect(search.target)
    for cluster in await find_ray_clusters(api, search.release):
        await remove_ray_cluster(api, cluster)


def follow_search(search: FollowedSearch) -> SearchStatus:
    """Follow the search until it ends (see :func:`follow`) and its release has removed itself
    (or, when its search Job failed, remove the release here)."""
    end = run_async(follow(search, S3Storage(search.endpoint_url)))
    end_live()
    if end.left_behind:
        run_async(remove_release(search))
    elif run_async(removed(search)):
        say("Ray cluster %s removed itself", search.release)
    else:
        logger.warning("Ray cluster %s has not removed itself %.0f s after the search ended; remove it with: "
                       "aframe-tune cleanup", search.release, REMOVAL_TIMEOUT_S)
    return end.status
