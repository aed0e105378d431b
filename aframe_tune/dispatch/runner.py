"""Running a :class:`~aframe_tune.dispatch.jobs.DispatchPlan` on a Ray cluster.

Each job is a Ray task that asks for the job's CPUs, GPUs and memory and runs the job's command
as a child process, so Ray's scheduler keeps jobs from sharing what they asked for. The child
sees only the GPUs Ray gave the task (``CUDA_VISIBLE_DEVICES``, empty for a job without GPUs),
writes its output to the job's log, and dies with the task. Jobs that finished are recorded
(``LOG_DIR/NAME.done.json``, a law target) and skipped when the plan runs again unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aframe_tune.cluster.description import ClusterDescription
from aframe_tune.dispatch.job_entry import relocated
from aframe_tune.dispatch.jobs import DispatchError, DispatchPlan, Job, gibibytes
from aframe_tune.dispatch.kubernetes import deployed_dispatch_cluster, shipped_runtime_env, worker_node
from aframe_tune.dispatch.placement import ClusterCapacity, NodeResources, largest, place_jobs
from aframe_tune.errors import ConfigError, Problems
from aframe_tune.signals import StoppedBySignal
from aframe_tune.tune.local_ray import LOOPBACK_ONLY, is_loopback

if TYPE_CHECKING:  # imported where used: it imports Ray, which reads the environment once, when imported
    from aframe_tune.dispatch.ray_jobs import RayJobsClient

logger = logging.getLogger(__name__)

# addresses of Ray's Jobs API (a head's dashboard), as Ray's own ``ray job submit`` takes them
JOBS_API_SCHEMES = ("http://", "https://")
# states a job goes through, as the status table shows them


class JobState(StrEnum):
    """A dispatched job's state, as the status table shows it."""

    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "done earlier"


def definition_hash(job: Job) -> str:
    """What a job is, for telling whether a recorded completion is still this job's."""
    return hashlib.sha256(json.dumps([job.kind, job.argv, asdict(job.resources), job.env]).encode()).hexdigest()[:16]


@dataclass
class JobStatus:
    """Where one job stands.

    Args:
        job: the job.
        state: where the job is (waiting, running, succeeded, failed or done earlier).
        started: when it started (``time.time()``), if it has.
        seconds: how long it ran, once it ended.
        exit_code: its exit status, once it ended.
        gpus: the GPU ids it was given.
        node: the node it ran on.
        cluster: the name of the cluster of jobs.yaml's ``clusters:`` that runs it, where there are several.
    """

    job: Job
    state: JobState = JobState.WAITING
    started: float | None = None
    seconds: float | None = None
    exit_code: int | None = None
    gpus: str = ""
    node: str = ""
    cluster: str = ""

    def elapsed(self) -> str:
        if self.seconds is not None:
            seconds = self.seconds
        elif self.started is not None:
            seconds = time.time() - self.started
        else:
            return "-"
        return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


@dataclass
class DispatchResult:
    """The outcome of a dispatch: every job's final status."""

    statuses: list[JobStatus] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(status.state in (JobState.SUCCEEDED, JobState.SKIPPED) for status in self.statuses)


def completion_path(plan: DispatchPlan, job: Job) -> Path:
    return plan.log_dir / f"{job.name}.done.json"


def log_path(plan: DispatchPlan, job: Job) -> Path:
    return plan.log_dir / f"{job.name}.log"


def working_directory(plan: DispatchPlan, job: Job) -> Path:
    """Where a job runs: a command in jobs.yaml's folder (its relative paths start there), a
    training run or search in a folder of its own (where relative logger paths put their files)."""
    return plan.root if job.kind == "command" else plan.log_dir / job.name


def done_earlier(plan: DispatchPlan, job: Job) -> bool:
    """Whether the job completed in an earlier dispatch, as it is defined now."""
    path = completion_path(plan, job)
    if not path.is_file():
        return False
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if recorded.get("definition") != definition_hash(job):
        logger.warning("Job %s changed since it completed; running it again", job.name)
        return False
    return True


def _die_with_parent() -> None:
    # The job's process gets SIGTERM when the Ray worker running it dies (a cancelled job, a
    # stopped dispatch), rather than running on unowned. Linux only, as Ray's GPU workers are.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_job_process(job: Job, workdir: str, log_file: str, dispatcher_node: str | None, board: Any,
                    shipped_from: str | None = None) -> JobOutcome:
    """The body of a job's Ray task: run the job's command with only the task's GPUs visible.

    Args:
        job: the job.
        workdir: its working directory (created if missing).
        log_file: where to write its output on the dispatcher's node.
        dispatcher_node: the dispatcher's Ray node (``None`` for a Ray client). On any other node,
            the output goes to a temporary file whose text is returned, for the dispatcher to write.
        board: the :class:`JobBoard` actor told when the job starts.
        shipped_from: the dispatcher's folder that the runtime environment sent as the worker's
            working directory, if one was (see :func:`relocated`).
    """
    import subprocess
    import tempfile

    import ray

    gpus = ",".join(str(gpu) for gpu in ray.get_gpu_ids())
    node = ray.get_runtime_context().get_node_id()
    if node != dispatcher_node:
        log_file = None
    board.started.remote(job.name, gpus, node)
    env = dict(os.environ)
    env.update(dict(job.env))
    env["CUDA_VISIBLE_DEVICES"] = gpus  # empty: no GPUs for a job that asked for none
    if job.kind == "tune":  # run.sh starts a Ray instance of its own, with this job's share of the node
        env.pop("RAY_ADDRESS", None)
    argv, workdir = relocated(list(job.argv), workdir, shipped_from, job.name)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    own_log = log_file is None
    if own_log:
        descriptor, log_file = tempfile.mkstemp(prefix=f"aframe-tune-{job.name}-", suffix=".log")
        os.close(descriptor)
    if job.kind == "tune":
        argv += ["--TuneLocal-cpus", str(max(1, int(job.resources.cpus)))]
    with open(log_file, "w") as log:
        log.write(f"# {' '.join(argv)}\n# CUDA_VISIBLE_DEVICES={gpus}\n")
        log.flush()
        exit_code = subprocess.call(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    text = None
    if own_log:
        text = Path(log_file).read_text(errors="replace")
        os.unlink(log_file)
    return JobOutcome(exit_code, text, gpus, node)


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended.

    Args:
        exit_code: its command's exit status; ``None`` when it ended without one (its task or
            Ray job died, or never started).
        log: its output, when it has to be written on the dispatcher's machine (``None``: the
            job wrote its log there itself).
        gpus: the GPU ids it was shown.
        node: the Ray node it ran on.
    """

    exit_code: int | None
    log: str | None
    gpus: str = ""
    node: str = ""


class JobBoard:
    """A Ray actor the jobs' tasks tell when they start (Ray cannot say whether a submitted
    task is running or still waiting for resources)."""

    def __init__(self) -> None:
        self._started: dict[str, tuple[float, str, str]] = {}

    def started(self, name: str, gpus: str, node: str) -> None:
        self._started[name] = (time.time(), gpus, node)

    def snapshot(self) -> dict[str, tuple[float, str, str]]:
        return dict(self._started)


def check_jobs_fit(plan: DispatchPlan, nodes: Sequence[NodeResources]) -> None:
    """Refuse, before any job starts, jobs that no node of the cluster could ever run."""
    most = largest(nodes)
    problems = Problems()
    for job in plan.jobs:
        if any(node.can_run(job.resources) for node in nodes):
            continue
        wants = job.resources
        short = ", ".join(part for part in (
            f"{wants.cpus:g} CPUs (largest node: {most.cpus:g})" if wants.cpus > most.cpus else "",
            f"{wants.gpus:g} GPUs (largest node: {most.gpus:g})" if wants.gpus > most.gpus else "",
            f"{gibibytes(wants.memory_bytes)} of memory (largest node: {gibibytes(most.memory_bytes)})"
            if wants.memory_bytes > most.memory_bytes else "",
        ) if part) or "more than any single node has of all of it at once"
        problems.add(ConfigError(
            f"{plan.path}: job {job.name!r} asks for {short}; no node of the Ray cluster could run it. Lower its "
            "cpus/gpus/memory in jobs.yaml, or use a bigger cluster", key=f"{plan.path}::{job.name}"))
    problems.raise_if_any()


def live_nodes(nodes: list[dict[str, Any]]) -> list[NodeResources]:
    """The live nodes of ``ray.nodes()``."""
    return [NodeResources.from_ray(node.get("Resources", {})) for node in nodes if node.get("Alive")]


@dataclass(frozen=True)
class RayConnection:
    """Where the jobs run.

    Args:
        address: a Ray address (``ray://HOST:PORT`` or ``HOST:PORT``), ``None`` for a new local
            instance.
        runtime_env: Ray's runtime environment of the connection (the folder sent to a deployed
            cluster), if any.
        shipped_from: the folder sent as the runtime environment's working directory, if one is.
        dashboard: the Jobs API address (``http://HOST:PORT``) of a cluster the dispatch
            deployed; its jobs are submitted there, as Ray jobs, instead of run as Ray tasks.
    """

    address: str | None = None
    runtime_env: dict[str, Any] | None = None
    shipped_from: str | None = None
    dashboard: str | None = None


@contextmanager
def ray_cluster_for(plan: DispatchPlan) -> Iterator[RayConnection]:
    """The plan's Ray cluster: a cluster deployed on Kubernetes for the length of the block
    (jobs.yaml's ``cluster:``), or ``ray_address``/``$RAY_ADDRESS``/a new local instance. The
    jobs reach a deployed cluster, or an ``http(s)://`` address, through Ray's Jobs API."""
    if plan.cluster is None:
        address = plan.ray_address or os.environ.get("RAY_ADDRESS") or None
        if address and address.startswith(JOBS_API_SCHEMES):
            yield RayConnection(runtime_env=shipped_runtime_env(plan.root, plan.log_dir), shipped_from=str(plan.root),
                                dashboard=address)
        else:
            yield RayConnection(address)
        return
    from aframe_tune.signals import install_stop_handlers

    # Ctrl-C or SIGTERM while the cluster starts must unwind through its removal
    install_stop_handlers()
    with deployed_dispatch_cluster(plan.cluster, plan.path) as dashboard:
        yield RayConnection(runtime_env=shipped_runtime_env(plan.root, plan.log_dir), shipped_from=str(plan.root),
                            dashboard=dashboard)


def nodes_with_workers(cluster: ClusterDescription, stop_signals: list[int],
                       pause_s: float = 0.5) -> list[dict[str, Any]]:
    """``ray.nodes()`` once a worker of the deployed cluster has joined: its pod turns ready
    before its Ray node registers with the head, and the head (no CPUs) runs no job."""
    import ray

    deadline = time.monotonic() + cluster.ready_timeout_s
    while True:
        if stop_signals:
            raise StoppedBySignal(stop_signals[0])
        nodes = ray.nodes()
        if any(node.get("Alive") and node.get("Resources", {}).get("CPU", 0) for node in nodes):
            return nodes
        if time.monotonic() > deadline:
            raise DispatchError(f"no worker of the deployed Ray cluster joined its head within "
                                f"{cluster.ready_timeout_s:.0f} s (jobs.yaml cluster.ready_timeout)")
        time.sleep(pause_s)


def start_ray(connection: RayConnection) -> str | None:
    """Start or join the Ray cluster; return this process's node id (``None`` for a Ray
    client, which is no node)."""
    from aframe_tune.tune.local_ray import connect_ray_client, prepare_ray_environment, start_or_join_ray

    address = connection.address
    if address and address.startswith("ray://"):
        # a copy: ray.init replaces the working directory in it by the uploaded package's URI
        connect_ray_client(address, runtime_env=dict(connection.runtime_env or {}) or None)
        return None
    if address:
        os.environ["RAY_ADDRESS"] = address
    prepare_ray_environment()
    start_or_join_ray()
    import ray

    return ray.get_runtime_context().get_node_id()


def dispatch(plan: DispatchPlan, show: Callable[[list[JobStatus]], None], poll_s: float = 2.0) -> DispatchResult:
    """Run the plan's jobs (those not done earlier) and record the ones that succeed.

    Args:
        plan: the checked plan.
        show: called with every job's status whenever one changes.
        poll_s: how often to look at the jobs.
    """
    statuses = {job.name: JobStatus(job, JobState.SKIPPED if done_earlier(plan, job) else JobState.WAITING)
                for job in plan.jobs}
    to_run = [job for job in plan.jobs if statuses[job.name].state == JobState.WAITING]
    show(list(statuses.values()))
    if not to_run:
        return DispatchResult(list(statuses.values()))
    if plan.clusters:
        _run_on_clusters(plan, to_run, statuses, show, poll_s)
        return DispatchResult(list(statuses.values()))
    if plan.cluster is not None:  # a job no pod could run must not cost a cluster start
        check_jobs_fit(plan, [worker_node(plan.cluster)])
    with ray_cluster_for(plan) as connection:
        if connection.dashboard is not None:
            _submit_jobs(plan, to_run, statuses, connection, show, poll_s)
        else:
            _run_jobs(plan, to_run, statuses, connection, show, poll_s)
    return DispatchResult(list(statuses.values()))


def _submit_jobs(plan: DispatchPlan, to_run: list[Job], statuses: dict[str, JobStatus], connection: RayConnection,
                 show: Callable[[list[JobStatus]], None], poll_s: float) -> None:
    """Run the jobs on one cluster (a deployed one, or at an ``http(s)://`` address) through
    Ray's Jobs API (see ``dispatch/ray_jobs.py``)."""
    # imported here, like Ray in _run_jobs: a local dispatch does not pay for Ray's job client
    from aframe_tune.dispatch.ray_jobs import RayJobsClient

    stop_signals = _record_stop_signals()
    client = RayJobsClient(connection.dashboard, dict(connection.runtime_env or {}), connection.shipped_from or "",
                           stop_signals)
    if plan.cluster is None:  # a running cluster at ray_address (a deployed one was checked against its pods)
        check_jobs_fit(plan, client.nodes())
    _follow_submitted(plan, to_run, statuses, lambda job: client, stop_signals, show, poll_s)


def _run_on_clusters(plan: DispatchPlan, to_run: list[Job], statuses: dict[str, JobStatus],
                     show: Callable[[list[JobStatus]], None], poll_s: float) -> None:
    """Spread the jobs over jobs.yaml's ``clusters:``, each reached through its Jobs API: refuse
    the jobs no cluster can run, then run each on the cluster ``placement.py`` chooses."""
    if any(is_loopback(cluster.address) for cluster in plan.clusters):
        # read when Ray is imported: a loopback head's GCS address must not become this machine's network address
        os.environ.update(LOOPBACK_ONLY)
    from aframe_tune.dispatch.ray_jobs import RUNNING_CLUSTER_TIMEOUT_S, RayJobsClient, new_dispatch_id

    stop_signals = _record_stop_signals()
    runtime_env, dispatch_id = shipped_runtime_env(plan.root, plan.log_dir), new_dispatch_id()
    clients: dict[str, RayJobsClient] = {}
    unreachable = []
    for cluster in plan.clusters:
        try:
            clients[cluster.name] = RayJobsClient(cluster.address, dict(runtime_env), str(plan.root), stop_signals,
                                                  dispatch_id, ready_timeout_s=RUNNING_CLUSTER_TIMEOUT_S)
        except DispatchError as error:
            unreachable.append(f"cluster {cluster.name!r}: {error}")
    if unreachable:
        raise DispatchError(f"{plan.path}: no job was started, as not every cluster answered; check their "
                            f"addresses (clusters: or --clusters-file): {'; '.join(unreachable)}")
    capacities = [ClusterCapacity(name, client.nodes()) for name, client in clients.items()]
    cluster_of = {placement.job.name: placement.cluster for placement in place_jobs(to_run, capacities, plan.path)}
    for name, cluster in cluster_of.items():
        statuses[name].cluster = cluster
    show(list(statuses.values()))
    _follow_submitted(plan, to_run, statuses, lambda job: clients[cluster_of[job.name]], stop_signals, show, poll_s)


def _follow_submitted(plan: DispatchPlan, to_run: list[Job], statuses: dict[str, JobStatus],
                      client_of: Callable[[Job], RayJobsClient], stop_signals: list[int],
                      show: Callable[[list[JobStatus]], None], poll_s: float) -> None:
    """Submit each job through its cluster's ``RayJobsClient`` and keep its status as it goes."""
    from aframe_tune.dispatch.ray_jobs import SubmittedJob, gpus_in_log, run_through_jobs_api

    plan.log_dir.mkdir(parents=True, exist_ok=True)

    def on_change(job: Job, state: SubmittedJob, log: str | None) -> None:
        status = statuses[job.name]
        if status.state == JobState.WAITING:
            status.state, status.started, status.node = JobState.RUNNING, time.time(), state.node
        if log is not None:
            if state.exit_code is None and state.message:
                log += f"\n# Ray: {state.message}\n"
                logger.error("Job %s did not run to its end: %s", job.name, state.message)
            _record_outcome(plan, status, JobOutcome(state.exit_code, log, gpus_in_log(log), state.node))
        show(list(statuses.values()))

    run_through_jobs_api(plan, to_run, client_of, lambda job: str(working_directory(plan, job)), on_change,
                         stop_signals, poll_s)


def _run_jobs(plan: DispatchPlan, to_run: list[Job], statuses: dict[str, JobStatus], connection: RayConnection,
              show: Callable[[list[JobStatus]], None], poll_s: float) -> None:
    driver_node = start_ray(connection)  # first: Ray reads some settings from the environment when imported
    import ray

    stop_signals = _record_stop_signals()  # after ray.init, which installs a SIGTERM handler of its own
    task = ray.remote(max_retries=0)(run_job_process)

    def submit(job: Job) -> Any:
        options = {"num_cpus": job.resources.cpus, "num_gpus": job.resources.gpus}
        if job.resources.memory_bytes:
            options["memory"] = job.resources.memory_bytes
        return task.options(name=f"aframe-tune-job-{job.name}", **options).remote(
            job, str(working_directory(plan, job)), str(log_path(plan, job)), driver_node, board, connection.shipped_from)

    waiting = list(to_run)
    running: dict[Any, Job] = {}
    last_shown: list[tuple[str, str]] = []
    try:
        check_jobs_fit(plan, live_nodes(nodes_with_workers(plan.cluster, stop_signals) if plan.cluster is not None
                                        else ray.nodes()))
        plan.log_dir.mkdir(parents=True, exist_ok=True)
        board = ray.remote(num_cpus=0)(JobBoard).remote()
        while waiting or running:
            if stop_signals:
                raise StoppedBySignal(stop_signals[0])  # unwinds through the clean-up below
            while waiting and (plan.mode == "parallel" or not running):
                job = waiting.pop(0)
                running[submit(job)] = job
            ready, _ = ray.wait(list(running), num_returns=1, timeout=poll_s)
            for name, (started, gpus, node) in ray.get(board.snapshot.remote()).items():
                status = statuses[name]
                if status.state == JobState.WAITING:
                    status.state, status.started, status.gpus, status.node = JobState.RUNNING, started, gpus, node
            for ref in ready:
                _finish(plan, statuses[running.pop(ref).name], ref)
            shown = [(status.job.name, status.state) for status in statuses.values()]
            if shown != last_shown:
                show(list(statuses.values()))
                last_shown = shown
    finally:
        for ref in running:  # interrupted: stop the jobs still running, their processes with them
            ray.cancel(ref, force=True)
        # Ray's own at-exit shutdown is unregistered when it starts an instance (see local_ray);
        # without a shutdown, Ray's core crashes while the interpreter exits
        ray.shutdown()


def _record_stop_signals() -> list[int]:
    """Record SIGINT and SIGTERM instead of raising where they land: raised inside Ray's waiting
    (C++), an exception comes out as a SystemError. The dispatch loop looks at the record."""
    import threading

    received: list[int] = []
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda number, frame: received.append(number))
    return received


def _finish(plan: DispatchPlan, status: JobStatus, ref: Any) -> None:
    import ray

    try:
        outcome = ray.get(ref)
    except Exception as error:  # the task itself died (its node was lost, it was killed)
        logger.error("Job %s ended without an exit status: %s", status.job.name, error)
        outcome = JobOutcome(None, None, status.gpus, status.node)
    _record_outcome(plan, status, outcome)


def _record_outcome(plan: DispatchPlan, status: JobStatus, outcome: JobOutcome) -> None:
    """Write the job's log (if it came back) and its state; record it done if it succeeded."""
    status.seconds = time.time() - (status.started or time.time())
    status.exit_code = outcome.exit_code
    status.gpus, status.node = outcome.gpus, outcome.node
    if outcome.log is not None:
        log_path(plan, status.job).write_text(outcome.log)
    status.state = JobState.SUCCEEDED if status.exit_code == 0 else JobState.FAILED
    if status.state == JobState.SUCCEEDED:
        from law import LocalFileTarget

        LocalFileTarget(str(completion_path(plan, status.job))).dump(
            {"definition": definition_hash(status.job), "seconds": round(status.seconds, 1),
             "gpus": status.gpus, "node": status.node, "cluster": status.cluster}, formatter="json")
