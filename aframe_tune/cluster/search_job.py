"""The search's pod of a release: ``python -m aframe_tune.cluster.search_job``, in the cluster
(the search Job's, or with backend ``kuberay`` the RayJob's submitter).

It submits the search to the head through Ray's Jobs API, under the release's name as its
submission id (so a replacement pod, or a second one, follows the same search rather than
starting another), copies the search's output to its own log (``aframe-tune logs``), and when the
search ends, whatever its end, removes the whole release: nothing holds GPUs once the search is
over, with no one watching. A search that never starts (the head never comes up) is given up
after ``AFRAME_TUNE_READY_TIMEOUT`` seconds (and ``HEAD_WAIT_GRACE_S``), and the release removed too. When it starts, it makes
its search object the owner of the release, so that the release goes with that object should no
pod live to remove it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.job_submission import JobStatus, JobSubmissionClient

from aframe_tune.cluster.errors import ClusterError
from aframe_tune.errors import AframeTuneError
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.release_removal import adopt_release, remove_own_release
from aframe_tune.cluster.search_object import SearchObjectRef, read_search_object
from aframe_tune.config import ClusterBackendName
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.console import quiet_http_requests
from aframe_tune.tune.cluster_settings import EXPERIMENT_ENV, SETTINGS_FILE, ClusterSearchSettings
from aframe_tune.tune.s3 import S3Location, S3Storage
from aframe_tune.tune.search_status import (
    OUTPUT_FILE,
    STATUS_FILE,
    STOP_FILE,
    SearchState,
    SearchStatus,
    read_search_status,
)
from aframe_tune.signals import run_async

logger = logging.getLogger(__name__)

SEARCH_ENTRYPOINT = "python -m aframe_tune.tune.cluster_search"
POLL_S = 5.0
# The search's pod waits this much longer for the head than the user's machine does
# (ready_timeout), so that a run.sh that is watching reports a head that never starts first,
# naming what its pod does; both clocks start when the release is installed, and raced.
HEAD_WAIT_GRACE_S = 30.0
# seconds the head may not answer before the search counts as lost with it
LOST_AFTER_S = 30.0
# seconds the head may refuse the submission (its job agent still starting) before that is an error
SUBMIT_TIMEOUT_S = 600.0
# seconds a search asked to stop (max_runtime) has before it is stopped outright
STOP_GRACE_S = 300.0
HEAD_LOST = "the Ray head was lost (its pod was deleted or failed), and the search with it"


def connected_client(dashboard: str, timeout_s: float) -> JobSubmissionClient | None:
    """A Jobs API client of the head's dashboard, once it answers; None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return JobSubmissionClient(dashboard)
        except (ConnectionError, RuntimeError) as error:  # not up yet: the head is still starting
            if time.monotonic() > deadline:
                logger.error("The Ray head's dashboard %s did not answer within %.0f s (%s)", dashboard, timeout_s, error)
                return None
            time.sleep(POLL_S)


def submitted(client: JobSubmissionClient, release: str, settings: ClusterSearchSettings) -> bool:
    """Submit the search, unless a search of this release was submitted already; False when it
    was, but the head no longer knows it (the head was lost, and the search with it)."""
    try:
        info = client.get_job_info(release)
        logger.info("Following the search %s, submitted before (%s)", release, info.status)
        return True
    except RuntimeError:  # no such job: this pod is the first, or the head that ran it is gone
        pass
    if started_before(settings):
        return False
    runtime_env: dict[str, Any] = {"working_dir": settings.working_dir} if settings.working_dir else {}
    deadline = time.monotonic() + SUBMIT_TIMEOUT_S
    while True:
        try:
            client.submit_job(entrypoint=SEARCH_ENTRYPOINT, submission_id=release, runtime_env=runtime_env or None)
            logger.info("Submitted the search %s to the Ray head", release)
            return True
        except RuntimeError as error:  # a head whose dashboard answers before its job agent does
            if known_to(client, release):  # another pod of the Job submitted it meanwhile
                return True
            if time.monotonic() > deadline:
                raise
            logger.info("The Ray head cannot take the search yet (%s); trying again", error)
            time.sleep(POLL_S)


def known_to(client: JobSubmissionClient, release: str) -> bool:
    try:
        client.get_job_info(release)
        return True
    except RuntimeError:
        return False


def started_before(settings: ClusterSearchSettings) -> bool:
    """Whether this release's search has recorded a status: it was submitted and ran."""
    try:
        return read_search_status(S3Storage(), S3Location.parse(settings.run_dir), settings.release) is not None
    except AframeTuneError:
        return False


class Deadline:
    """``max_runtime``: the search is asked to stop (it saves its state, as for ``aframe-tune stop``),
    and stopped outright if it has not within ``STOP_GRACE_S``."""

    def __init__(self, settings: ClusterSearchSettings, max_runtime_s: float) -> None:
        self.settings = settings
        self.asked_at = time.monotonic() + max_runtime_s if max_runtime_s else None
        self.forced_at = self.asked_at + STOP_GRACE_S if self.asked_at is not None else None

    def enforce(self, client: JobSubmissionClient) -> None:
        now = time.monotonic()
        if self.asked_at is not None and now > self.asked_at:
            logger.warning("The search has run for [luigi_TuneRemote] max_runtime: stopping it")
            S3Storage().write_text(self.settings.release, S3Location.parse(self.settings.run_dir).child(STOP_FILE))
            self.asked_at = None
        if self.forced_at is not None and now > self.forced_at:
            logger.warning("The search did not stop within %.0f s of being asked: stopping it now", STOP_GRACE_S)
            client.stop_job(self.settings.release)
            self.forced_at = None


@dataclass
class CopiedOutput:
    """The search's output, copied to this Job's log as it comes, and kept to be saved at the end."""

    text: str = ""

    def update(self, logs: str) -> None:
        if len(logs) > len(self.text):
            sys.stdout.write(logs[len(self.text):])
            sys.stdout.flush()
            self.text = logs

    def save(self, settings: ClusterSearchSettings) -> None:
        """Save the output in the run directory, where ``aframe-tune logs`` finds it once the release is gone."""
        if not self.text:
            return
        try:
            S3Storage().write_text(self.text, S3Location.parse(settings.run_dir).child(OUTPUT_FILE))
        except Exception as error:  # the release is removed all the same
            logger.warning("Could not save the search's output (%s)", error)


def followed(client: JobSubmissionClient, release: str, deadline: Deadline, output: CopiedOutput) -> Any | None:
    """Copy the search's output here as it comes; return its ``JobDetails`` once it ended, or
    None when the head stopped answering for ``LOST_AFTER_S`` (the head was lost)."""
    failing_since = None
    while True:
        deadline.enforce(client)
        try:
            info = client.get_job_info(release)
            logs = client.get_job_logs(release)
        except Exception as error:  # the Jobs API's client raises whatever requests and Ray raise
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > LOST_AFTER_S:
                logger.error("The Ray head has not answered for %.0f s (%s)", LOST_AFTER_S, error)
                return None
            time.sleep(POLL_S)
            continue
        failing_since = None
        output.update(logs)
        if JobStatus(info.status).is_terminal():
            return info
        time.sleep(POLL_S)


def record_end(settings: ClusterSearchSettings, state: SearchState, message: str) -> None:
    """Record how the search ended where it could not (it never started, or died): its status in
    S3 is what the user's machine reports."""
    storage = S3Storage()
    run_dir = S3Location.parse(settings.run_dir)
    location = run_dir.child(STATUS_FILE)
    try:
        current = read_search_status(storage, run_dir, settings.release)
    except AframeTuneError as error:  # unreadable: replaced
        logger.warning("Could not read the search's status (%s)", error)
        current = None
    if current is not None and current.state.ended:
        return
    now = time.time()
    started = current.started_at if current is not None else now
    try:
        storage.write_text(SearchStatus(state, settings.release, started, now, None, message).to_json(), location)
    except Exception as error:
        logger.warning("Could not record the search's end (%s)", error)


def searched(settings: ClusterSearchSettings, timeout_s: float) -> bool:
    """Submit (or find) the search, follow it to its end and record how it ended; whether it succeeded."""
    release = settings.release
    client = connected_client(os.environ["AFRAME_TUNE_DASHBOARD"], timeout_s)
    if client is None:
        record_end(settings, SearchState.FAILED, f"the Ray head did not start within {timeout_s:.0f} s")
        return False
    if not submitted(client, release, settings):
        record_end(settings, SearchState.FAILED, HEAD_LOST)
        return False
    output = CopiedOutput()
    try:
        info = followed(client, release, Deadline(settings, float(os.environ.get("AFRAME_TUNE_MAX_RUNTIME") or 0)),
                        output)
    finally:
        output.save(settings)
    if info is None:
        record_end(settings, SearchState.FAILED, HEAD_LOST)
        return False
    logger.info("The search ended: %s%s", info.status, f" ({info.message})" if info.message else "")
    if info.status == JobStatus.SUCCEEDED:
        return True
    state = SearchState.STOPPED if info.status == JobStatus.STOPPED else SearchState.FAILED
    record_end(settings, state, info.message or f"the search ended {info.status}")
    return False


async def own_the_release(target: KubeTarget, search: SearchObjectRef) -> None:
    """Make the search object the owner of the release (:func:`adopt_release`), if run.sh has not;
    a failure is only a warning: the search goes on, and this pod still removes the release."""
    try:
        api = await KubeApi.connect(target, doing=f"connecting to Kubernetes to adopt Ray cluster {search.release}")
        found = await read_search_object(api, search)
        if found is not None:
            await adopt_release(api, found)
    except ClusterError as error:
        logger.warning("Could not make %s the owner of its release (%s)", search.describe(), error)


def run() -> int:
    """Submit, follow, record the end, remove the release; the exit status is the search's."""
    release = os.environ["AFRAME_TUNE_RELEASE"]
    folder = Path(os.environ.get(EXPERIMENT_ENV, "."))
    settings = ClusterSearchSettings.from_json((folder / SETTINGS_FILE).read_text(), str(folder / SETTINGS_FILE))
    keep = os.environ.get("AFRAME_TUNE_KEEP_RELEASE") == "true"
    search = SearchObjectRef(release, ClusterBackendName(os.environ.get("AFRAME_TUNE_BACKEND", "chart")))
    target = KubeTarget(os.environ.get("POD_NAMESPACE", ""))
    if not keep:
        run_async(own_the_release(target, search))
    try:
        succeeded = searched(settings, float(os.environ.get("AFRAME_TUNE_READY_TIMEOUT", "1800")) + HEAD_WAIT_GRACE_S)
    except Exception as error:  # whatever went wrong here, the release must not be left holding GPUs
        logger.exception("Following the search failed")
        record_end(settings, SearchState.FAILED, f"the search Job failed: {type(error).__name__}: {error}")
        succeeded = False
    if keep:
        logger.warning("Keeping Ray cluster %s as asked (keep_cluster); remove it with: aframe-tune cleanup --release %s "
                       "--yes", release, release)
        return 0 if succeeded else 1
    try:
        run_async(remove_own_release(target, search, os.environ.get("AFRAME_TUNE_RUN_LOCK", "")))
    except ClusterError as error:
        logger.error("Could not remove Ray cluster %s: %s", release, error)
        return 1
    return 0 if succeeded else 1


def end_on_sigterm() -> None:
    """End at once when the pod is deleted or evicted, without removing the release (a replacement
    pod follows the same search). As a container's first process, Python ignores a SIGTERM it does
    not handle, and the kubelet would wait out the pod's grace period (30 s) before killing it."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


if __name__ == "__main__":
    end_on_sigterm()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    quiet_http_requests(logging.INFO)  # the Kubernetes client's request lines are not the search's output
    sys.exit(run())
