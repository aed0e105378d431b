"""Running a dispatch's jobs through Ray's Jobs API: how jobs reach a cluster this product
deployed (through its head's dashboard, forwarded over the Kubernetes API), with no Ray Client.

Each job is one Ray job. Its entrypoint (``dispatch/job_entry.py``) asks for the job's CPUs,
GPUs and memory (``entrypoint_num_cpus``...), so Ray's scheduler keeps jobs from sharing what they
asked for, as it does for the Ray tasks of a local dispatch. The folder of jobs.yaml travels as
the runtime environment's working directory; the job's output comes back as its Ray job log.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from ray.exceptions import RayError
from ray.job_submission import JobDetails, JobStatus as RayJobStatus, JobSubmissionClient
from ray.util.state import StateApiClient
from ray.util.state.common import ListApiOptions, StateResource

from aframe_tune.console import quiet_http_requests
from aframe_tune.dispatch.jobs import DispatchError, DispatchPlan, Job
from aframe_tune.dispatch.job_entry import GPUS_HEADER
from aframe_tune.dispatch.placement import NodeResources
from aframe_tune.signals import StoppedBySignal

logger = logging.getLogger(__name__)

ENTRY_MODULE = "aframe_tune.dispatch.job_entry"
# seconds a head may refuse submissions (its job agent still starting) before that is an error
SUBMIT_TIMEOUT_S = 120.0
# seconds a cluster listed as running (clusters:) may take to answer: it is up, or it is unreachable
RUNNING_CLUSTER_TIMEOUT_S = 10.0
RETRY_S = 2.0
TOKEN_VARIABLE = "RAY_AUTH_TOKEN"
# variables by which Ray's job and state clients replace the address they are given
ADDRESS_VARIABLES = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")
# how Ray's clients fail: RuntimeError for an answer they did not like, OSError (requests' errors,
# Ray's ConnectionError) for no answer, RayError or ValueError for a Ray address they could not resolve
CLIENT_ERRORS = (RuntimeError, OSError, RayError, ValueError)


@dataclass(frozen=True)
class SubmittedJob:
    """A Ray job as the dispatch reads it from the Jobs API.

    Args:
        submission_id: the Ray job's id.
        state: Ray's state of it (``PENDING``, ``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``STOPPED``).
        exit_code: the entrypoint's exit status, once it ended and if Ray knows it.
        node: the node its entrypoint runs on.
        message: Ray's word on it (why it failed, when it did not run at all).
    """

    submission_id: str
    state: RayJobStatus
    exit_code: int | None = None
    node: str = ""
    message: str = ""

    @classmethod
    def from_details(cls, details: JobDetails) -> SubmittedJob:
        return cls(details.submission_id or "", details.status, details.driver_exit_code,
                   details.driver_node_id or "", details.message or "")

    @property
    def started(self) -> bool:
        return self.state is not RayJobStatus.PENDING

    @property
    def ended(self) -> bool:
        return self.state.is_terminal()


def submission_id(job: Job, dispatch_id: str) -> str:
    """The Ray job's id: a Ray cluster keeps the ids of its past jobs and refuses one twice, so a
    rerun of a job on a running cluster needs another (``dispatch_id`` differs between dispatches)."""
    return f"aframe-tune-job-{job.name}-{dispatch_id}"


def new_dispatch_id() -> str:
    return secrets.token_hex(3)


@contextmanager
def _given_address_only() -> Iterator[None]:
    """Within the block, Ray's clients use the address they are given: they prefer
    ``$RAY_ADDRESS``/``$RAY_API_SERVER_ADDRESS`` to it, which would send every cluster's jobs
    to one cluster."""
    saved = {name: os.environ.pop(name) for name in ADDRESS_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def entrypoint(job: Job, workdir: str, shipped_from: str) -> str:
    """The shell command Ray runs for ``job``: :mod:`~aframe_tune.dispatch.job_entry` and the job's command."""
    return shlex.join(["python", "-m", ENTRY_MODULE, "--name", job.name, "--kind", job.kind,
                       "--cpus", f"{job.resources.cpus:g}", "--gpus", f"{job.resources.gpus:g}",
                       "--workdir", workdir, "--shipped-from", shipped_from, "--", *job.argv])


def without_ray_preamble(log: str) -> str:
    """The job's log from the header its entrypoint wrote, without the lines Ray writes before
    (the runtime environment's setting up); all of it where there is no header (it never ran)."""
    lines = log.splitlines(keepends=True)
    for index, line in enumerate(lines[1:], start=1):
        if line.startswith(GPUS_HEADER):
            return "".join(lines[index - 1:])
    return log


def gpus_in_log(log: str) -> str:
    """The GPU ids a job was shown, from its log's header."""
    for line in log.splitlines()[:2]:
        if line.startswith(GPUS_HEADER):
            return line[len(GPUS_HEADER):]
    return ""


def _token_header() -> dict[str, str] | None:
    """The token as the Authorization header, where ``$RAY_AUTH_TOKEN`` holds one. Ray adds it
    itself only where token authentication was on when Ray was first imported, and a dispatch that
    deploys its cluster makes the cluster's token after that."""
    token = os.environ.get(TOKEN_VARIABLE)
    return {"Authorization": f"Bearer {token}"} if token else None


def _unanswered(error: Exception) -> bool:
    return isinstance(error, (ConnectionError, requests.ConnectionError))


def _not_ready_for_jobs(error: Exception) -> bool:
    # Ray answers 500 ("No available agent") until the head's job agent is up
    return _unanswered(error) or "status code 5" in str(error)


class RayJobsClient:
    """Ray's ``JobSubmissionClient`` for one cluster of a dispatch, wrapped once: submitting a job
    with its resources and files, reading every job's state in one request, stopping them, and
    listing the cluster's nodes. Ray's errors (``CLIENT_ERRORS``) become :class:`DispatchError` here.

    Args:
        address: the Jobs API (``http://HOST:PORT``), or a Ray address (``ray://HOST:PORT``,
            ``HOST:PORT``) of a head with a dashboard, which Ray's client resolves to it.
        runtime_env: what every job's runtime environment holds (the shipped folder).
        shipped_from: the folder sent as the runtime environment's working directory.
        stop_signals: stop signals received; a submission waiting for the head gives up on one.
        dispatch_id: what tells this dispatch's Ray jobs from earlier ones' (see :func:`submission_id`).
        ready_timeout_s: how long a head that does not answer, or refuses submissions as not
            ready, is waited for: a cluster just deployed may need minutes, a running one none.
    """

    def __init__(self, address: str, runtime_env: dict[str, Any], shipped_from: str,
                 stop_signals: list[int], dispatch_id: str = "", ready_timeout_s: float = SUBMIT_TIMEOUT_S) -> None:
        self.address = address
        self._ready_timeout_s = ready_timeout_s
        self._runtime_env = runtime_env
        self._shipped_from = shipped_from
        self._stop_signals = stop_signals
        self._dispatch_id = dispatch_id or new_dispatch_id()
        self._submitted: set[str] = set()
        # Ray's job client sets its own logger to INFO when imported, which the CLI's level overrules
        quiet_http_requests(logging.getLogger().level)
        # the dashboard may answer a few seconds after the head pod is ready
        with _given_address_only():
            self._client = self._until_ready("connecting",
                                             lambda: JobSubmissionClient(address, headers=_token_header()), _unanswered)
        self.address = self._client.get_address()  # http://HOST:PORT, where a Ray address was given

    def nodes(self) -> tuple[NodeResources, ...]:
        """The cluster's live nodes, from Ray's state API."""
        headers = {"Content-Type": "application/json", **(_token_header() or {})}
        with _given_address_only():
            state_api = self._call("reaching the state API", lambda: StateApiClient(self.address, headers=headers))
        found = self._call("listing the cluster's nodes", lambda: state_api.list(
            StateResource.NODES, options=ListApiOptions(), raise_on_missing_output=False))
        return tuple(NodeResources.from_ray(node.resources_total) for node in found if node.state == "ALIVE")

    def _call(self, doing: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except CLIENT_ERRORS as error:
            raise DispatchError(f"{doing} to Ray's Jobs API at {self.address} failed: {error}") from None

    def _until_ready(self, doing: str, call: Callable[[], Any], not_ready: Callable[[Exception], bool]) -> Any:
        """``call()``, again every ``RETRY_S`` while it fails as ``not_ready`` says, for up to
        ``ready_timeout_s`` and until a stop signal."""
        deadline = time.monotonic() + self._ready_timeout_s
        while True:
            try:
                return call()
            except CLIENT_ERRORS as error:
                waited = not_ready(error) and time.monotonic() > deadline
                if not not_ready(error) or waited or self._stop_signals:
                    within = f" (no answer within {self._ready_timeout_s:.0f} s)" if waited else ""
                    raise DispatchError(f"{doing} to Ray's Jobs API at {self.address} failed{within}: {error}") from None
                logger.info("The Ray head is not ready for %s yet (%s); trying again", doing, error)
                time.sleep(RETRY_S)

    def submit(self, job: Job, workdir: str) -> str:
        """Submit ``job``; while the head refuses submissions as not ready (its job agent starts
        after its dashboard), try again for up to ``ready_timeout_s``."""
        runtime_env = {**self._runtime_env, "env_vars": dict(job.env)} if job.env else dict(self._runtime_env)
        options: dict[str, Any] = {"entrypoint_num_cpus": job.resources.cpus,
                                   "entrypoint_num_gpus": job.resources.gpus}
        if job.resources.memory_bytes:
            options["entrypoint_memory"] = job.resources.memory_bytes
        submitted = self._until_ready(
            f"submitting job {job.name}",
            lambda: self._client.submit_job(entrypoint=entrypoint(job, workdir, self._shipped_from),
                                            submission_id=self.submitted_id(job),
                                            runtime_env=runtime_env, **options),
            _not_ready_for_jobs)
        self._submitted.add(submitted)
        return submitted

    def submitted_id(self, job: Job) -> str:
        """The submission id of ``job``'s Ray job through this client."""
        return submission_id(job, self._dispatch_id)

    def states(self) -> dict[str, SubmittedJob]:
        """Every job this client submitted, by submission id."""
        found = (SubmittedJob.from_details(details) for details in self._call("listing jobs", self._client.list_jobs))
        return {job.submission_id: job for job in found if job.submission_id in self._submitted}

    def log(self, job_id: str) -> str:
        return without_ray_preamble(self._call(f"reading the log of {job_id}",
                                               lambda: self._client.get_job_logs(job_id)))

    def stop_unfinished(self) -> None:
        """Ask Ray to stop every job that has not ended (its entrypoint's process group gets SIGTERM)."""
        for job_id, job in self.states().items():
            if not job.ended:
                self._call(f"stopping {job_id}", lambda: self._client.stop_job(job_id))


def run_through_jobs_api(plan: DispatchPlan, to_run: list[Job], client_of: Callable[[Job], RayJobsClient],
                         workdir: Callable[[Job], str], on_change: Callable[[Job, SubmittedJob, str | None], None],
                         stop_signals: list[int], poll_s: float) -> None:
    """Submit ``to_run``, each job through its cluster's client (all at once, or one after another
    in ``sequential`` mode), and follow them until each has ended; ``on_change`` hears of each job
    that started (log ``None``) or ended (with its log). A stop signal stops the jobs still
    running and is raised as StoppedBySignal."""
    waiting = list(to_run)
    running: list[Job] = []
    seen_started: set[str] = set()
    try:
        while waiting or running:
            if stop_signals:
                raise StoppedBySignal(stop_signals[0])
            while waiting and (plan.mode == "parallel" or not running):
                job = waiting.pop(0)
                client_of(job).submit(job, workdir(job))
                running.append(job)
            for client in {client_of(job) for job in running}:  # one request per cluster
                states = client.states()
                for job in [job for job in running if client_of(job) is client]:
                    state = states.get(client.submitted_id(job))
                    if state is None:
                        continue
                    if state.started and job.name not in seen_started:
                        seen_started.add(job.name)
                        on_change(job, state, None)
                    if state.ended:
                        running.remove(job)
                        on_change(job, state, client.log(state.submission_id))
            if waiting or running:
                time.sleep(poll_s)
    finally:
        for client in {client_of(job) for job in running}:
            client.stop_unfinished()
