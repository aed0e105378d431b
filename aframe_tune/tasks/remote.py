"""Tuning on Kubernetes: a fresh Ray cluster per run, results and checkpoints in S3."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import luigi

from aframe_tune.config import RayClusterParameters, check_dns_label, data, parameters_of, ray_head, ray_worker, s3, ssh
from aframe_tune.errors import AframeTuneError, ConfigError, Problems, TuningError
from aframe_tune.console import end_live, say
from aframe_tune.tasks.base import TuneParameters, is_remote, search_loggers
from aframe_tune.tasks.logs import register_secret, route_logs_through_root
from aframe_tune.signals import StoppedBySignal, install_stop_handlers, run_async
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.best import BestTrial
from aframe_tune.tune.command_export import best_model_of
from aframe_tune.tune.command_spec import TrainableKind
from aframe_tune.tune.cluster_settings import SETTINGS_FILE, TRAIN_FILE, TUNE_FILE, ClusterSearchSettings
from aframe_tune.tune.loggers import wandb_settings
from aframe_tune.tune.outcome import SearchOutcome, plural, trials_planned
from aframe_tune.tune.s3 import S3Location, S3Storage
from aframe_tune.tune.search_status import SearchState, SearchStatus
from aframe_tune.tune.spec import TuneSpec

if TYPE_CHECKING:
    from aframe_tune.cluster.description import ClusterDescription
    from aframe_tune.cluster.search_object import SearchObjectRef
    from aframe_tune.cluster.values import GitSync, RayClusterValues, S3Credentials, WorkerResources

logger = logging.getLogger(__name__)

PRIVATE_KEY_MARKERS = ("-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
                       "-----BEGIN EC PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----")


class S3ObjectTarget(luigi.Target):
    """An object in S3, existing or not; law's completeness check for remote runs."""

    def __init__(self, location: S3Location, endpoint_url: str | None) -> None:
        self.location = location
        self.endpoint_url = endpoint_url

    def exists(self) -> bool:
        return S3Storage(self.endpoint_url).exists(self.location)

    def complete(self) -> bool:
        # law asks its outputs complete() where luigi asks exists().
        return self.exists()

    def __repr__(self) -> str:
        return f"S3ObjectTarget({self.location.url})"


def required_environment(name: str, why: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{name} is not set; {why}")
    return value


def read_ssh_key(path_text: str) -> str:
    """The private key git-sync clones with, checked to exist and to be a private key."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"tune.cfg [luigi_ssh] ssh_file = {path_text}: no such file; git_url is set, so the "
            "pods need a private key that can read it (or remove git_url)"
        )
    content = path.read_text(errors="replace")
    if not content.lstrip().startswith(PRIVATE_KEY_MARKERS):
        raise ConfigError(
            f"tune.cfg [luigi_ssh] ssh_file = {path_text} is not a private key (a public .pub "
            "file?); point it at the private key, such as ~/.ssh/id_ed25519"
        )
    return content


def s3_credentials() -> S3Credentials:
    """The S3 endpoint and keys the pods get: from tune.cfg and the environment. The endpoint is
    the pods' own (``pod_endpoint_url``); this machine uses ``endpoint_url``."""
    from aframe_tune.cluster.values import S3Credentials

    return S3Credentials(
        s3().for_pods(),
        required_environment("AWS_ACCESS_KEY_ID", "an s3:// run needs S3 credentials"),
        required_environment("AWS_SECRET_ACCESS_KEY", "an s3:// run needs S3 credentials"),
    )


def checked_cluster(cluster: ClusterDescription) -> ClusterDescription:
    """helm and the kube context, checked; the namespace resolved (``cluster/session.py``)."""
    # imported here: kr8s and pyhelm3 cost a third of a second that local runs do not pay
    from aframe_tune.cluster.session import checked_cluster as check

    return check(cluster)


def check_trials_fit_the_workers(spec: TuneSpec, worker: WorkerResources) -> None:
    """A trial fits a worker pod, and the trials that fit one use every GPU it holds: a worker pod
    holds its GPUs for the whole search, on a cluster shared with others."""
    problems = Problems()
    if spec.gpus_per_trial > worker.gpus:
        problems.add(ConfigError(
            f"{spec.path}: gpus_per_trial = {spec.gpus_per_trial}, but each worker pod has {worker.gpus} GPUs "
            "([luigi_ray_worker] gpus_per_replica in tune.cfg), so no trial could start; lower gpus_per_trial "
            "or raise gpus_per_replica", key=f"{spec.path}::gpus_per_trial"))
    if spec.cpus_per_trial > worker.cpus:
        problems.add(ConfigError(
            f"{spec.path}: cpus_per_trial = {spec.cpus_per_trial}, but each worker pod has {worker.cpus} CPUs "
            "([luigi_ray_worker] cpus_per_gpu x gpus_per_replica in tune.cfg), so no trial could start; lower "
            "cpus_per_trial or raise cpus_per_gpu", key=f"{spec.path}::cpus_per_trial"))
    problems.raise_if_any()
    unused = unused_gpus_per_worker(spec, worker)
    if unused:
        trials = "no trial asks for one" if spec.gpus_per_trial == 0 else (
            f"the {math.floor(worker.cpus / spec.cpus_per_trial)} trials its {worker.cpus} CPUs fit "
            f"(cpus_per_trial = {spec.cpus_per_trial}) use {worker.gpus - unused}")
        raise ConfigError(
            f"{spec.path}: each worker pod holds {plural(worker.gpus, 'GPU')} ([luigi_ray_worker] gpus_per_replica in "
            f"tune.cfg), but {trials}, so {unused} would sit idle for the whole search on a shared cluster; "
            + ("set gpus_per_trial (1, or 0.5 to share a GPU) for trials that train on GPUs, or gpus_per_replica "
               "= 0 for CPU-only worker pods" if spec.gpus_per_trial == 0 else
               "lower cpus_per_trial, raise cpus_per_gpu, or lower gpus_per_replica"),
            key=f"{spec.path}::gpus_per_trial")


def unused_gpus_per_worker(spec: TuneSpec, worker: WorkerResources) -> int:
    """Whole GPUs of a worker pod that no trial it can run at once asks for."""
    if worker.gpus == 0:
        return 0
    if spec.gpus_per_trial == 0:
        return worker.gpus
    trials = min(math.floor(worker.gpus / spec.gpus_per_trial + 1e-9),
                 math.floor(worker.cpus / spec.cpus_per_trial + 1e-9) if spec.cpus_per_trial else worker.gpus)
    return worker.gpus - math.ceil(trials * spec.gpus_per_trial - 1e-9)


def remote_tune_overrides(spec: TuneSpec) -> tuple[str, ...]:
    """What a remote search changes of tune.yaml: it never reuses trial processes.

    With ``reuse_actors``, a trial whose worker pod is lost can fail twice on the lost process
    (Ray 2.60), spending its retries, where without it Ray Tune moves it to a new pod. A trial
    on a GPU node runs for minutes or hours, so the seconds a new process costs matter little.
    """
    if not spec.reuse_actors:
        return ()
    logger.warning("%s: tune_config.reuse_actors is true, but a remote search starts a process per trial, "
                   "so that a trial whose pod is lost is retried on another one", spec.path)
    return ("--tune_config.reuse_actors=false",)


@dataclass(frozen=True)
class RemoteSearch:
    """A checked remote search, ready to deploy and run.

    Args:
        spec: what aframe-tune acts on in tune.yaml.
        location: the S3 run directory.
        cluster: the Ray cluster to deploy.
        arguments: lightray's arguments (without the cluster's address, known once it runs).
        credentials: S3 endpoint and keys for the pods (kept out of repr).
        git_sync: code cloned into the pods, if any.
        runtime_env: Ray runtime environment of the connection (``ship_code``), if any.
    """

    spec: TuneSpec
    location: S3Location
    cluster: ClusterDescription
    arguments: LightrayArguments
    credentials: S3Credentials
    git_sync: GitSync | None
    runtime_env: dict[str, Any] | None


class TuneRemote(TuneParameters, RayClusterParameters):
    """Deploy a Ray cluster on Kubernetes, run the search there, export ``best.pt`` (a command's
    ``best.json`` and ``best/``) to S3.

    Where and how the cluster runs (namespace, image, ...) are ``RayClusterParameters``.
    """

    git_url = luigi.OptionalParameter(
        default=None,
        significant=False,
        description="git repository the pods clone with git-sync; default: none (the image's code)",
    )
    git_ref = luigi.Parameter(
        default="main", significant=False, description="branch, tag or commit of git_url; default: main"
    )
    max_runtime = luigi.FloatParameter(
        default=0.0,
        significant=False,
        description="seconds a remote search may run before it is stopped (its state saved, for run.sh to "
        "resume) and its cluster removed, a safety net for GPUs; 0 for no limit; default: 0",
    )
    ship_code = luigi.OptionalParameter(
        default=None,
        significant=False,
        description="a local directory sent to the cluster as Ray's runtime-environment working "
        "directory (for uncommitted code, no SSH key needed); default: none",
    )

    def _shipped_code(self) -> Path | None:
        """The ``ship_code`` directory, checked, and importable here too (for checks and export)."""
        if not self.ship_code:
            return None
        path = Path(self.ship_code).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"tune.cfg [luigi_TuneRemote] ship_code = {self.ship_code}: no such directory")
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
        return path

    @property
    def location(self) -> S3Location:
        return S3Location.parse(self.resolved_run_dir)

    def output(self) -> S3ObjectTarget:
        # a command's search has no model to export: its result is best.json
        result = "best.json" if self.trainable() is TrainableKind.COMMAND else "best.pt"
        return S3ObjectTarget(self.location.child(result), s3().endpoint_url or None)

    def complete(self) -> bool:
        try:
            return super().complete()
        except AframeTuneError:
            # Unreachable storage is reported by run(), with its reason, not as a scheduling error.
            return False

    def check_inputs(self) -> RemoteSearch:
        """Check every input, the S3 bucket and the kube context before anything is created;
        every problem is reported at once."""
        # imported here: the checks import Ray, kr8s and lightray, which a local run must not pay for
        from aframe_tune.tune.inputs import check_search_inputs
        from aframe_tune.tune.train_config import TrainConfig

        problems = Problems()
        location = problems.result(self._location)
        working_dir = problems.result(self._shipped_code)
        tune_path = problems.result(lambda: self.config_file("tune_config"))
        trainable = self.trainable()
        train_path = None
        if trainable is TrainableKind.LIGHTNING:  # a command has no train.yaml
            train_path = problems.result(lambda: self.config_file("train_config"))
        cluster = problems.result(self._cluster)
        git = problems.result(self._git_sync)
        credentials = problems.result(s3_credentials)
        train_overrides = tuple(data().lightning_args()) if train_path else ()
        spec = None
        if tune_path and (train_path or trainable is not TrainableKind.LIGHTNING):
            train = TrainConfig(train_path, train_overrides) if train_path else None
            spec = problems.result(lambda: check_search_inputs(tune_path, train))
        if spec is not None and cluster is not None:
            problems.result(lambda: check_trials_fit_the_workers(spec, cluster.worker))
        loggers = problems.result(lambda: search_loggers(spec.experiment_name if spec else "tune"))
        if location is not None and credentials is not None:
            problems.result(lambda: S3Storage(s3().endpoint_url or None).check_bucket(location))
        if cluster is not None:
            cluster = problems.result(lambda: checked_cluster(cluster))
        problems.raise_if_any()
        return RemoteSearch(
            spec=spec,
            location=location,
            cluster=cluster,
            arguments=LightrayArguments(
                tune_config=tune_path,
                train_config=train_path,
                storage_path=location.url,
                tune_overrides=(*spec.lightray_overrides(), *remote_tune_overrides(spec)),
                train_overrides=train_overrides,
                cpus_per_trial=spec.cpus_per_trial,
                gpus_per_trial=spec.gpus_per_trial,
                loggers=loggers,
            ),
            credentials=credentials,
            git_sync=git,
            runtime_env={"working_dir": str(working_dir)} if working_dir is not None else None,
        )

    def _location(self) -> S3Location:
        if not is_remote(self.resolved_run_dir):
            raise ConfigError(f"TuneRemote needs an s3:// run directory, not {self.resolved_run_dir}")
        return self.location

    def _cluster(self) -> ClusterDescription:
        """The cluster [luigi_TuneRemote], [luigi_ray_head] and [luigi_ray_worker] describe."""
        from aframe_tune.cluster.description import describe_cluster

        if self.namespace:  # empty: the kube context's own
            check_dns_label(self.namespace, "TuneRemote", "namespace")
        head, worker = ray_head(), ray_worker()
        head.validate()
        worker.validate()
        options = {name: getattr(self, name) for name in parameters_of(RayClusterParameters)}
        return describe_cluster(options, head.param_kwargs, worker.param_kwargs)

    def _git_sync(self) -> GitSync | None:
        from aframe_tune.cluster.known_hosts import known_hosts_for
        from aframe_tune.cluster.values import GitSync

        if not self.git_url:
            return None
        problems = Problems()
        key = problems.result(lambda: read_ssh_key(ssh().ssh_file))
        known_hosts = problems.result(lambda: known_hosts_for(self.git_url, ssh().known_hosts))
        problems.raise_if_any()
        register_secret(key)
        return GitSync(self.git_url, self.git_ref, ssh_key=key, known_hosts=known_hosts)

    def run(self) -> None:
        # imported here: kr8s and pyhelm3 cost a third of a second that local runs do not pay
        from aframe_tune.cluster.lock import ClusterRunLock
        from aframe_tune.cluster.names import SEARCH_RELEASE_PREFIX
        from aframe_tune.cluster.session import deploy_search, new_release_name, use_new_ray_token

        route_logs_through_root()
        install_stop_handlers()
        token = use_new_ray_token()  # before checking the inputs, which imports Ray
        search = self.check_inputs()
        release = new_release_name(SEARCH_RELEASE_PREFIX)
        lock = ClusterRunLock(search.cluster.target, search.location.url, release)
        running = run_async(lock.search_in_cluster())
        if running is not None:
            in_cluster = running
            say("The search of %s is running in the cluster (Ray cluster %s); following it", search.location.url,
                running.release)
        else:
            announce_remote_search(search)
            try:
                in_cluster = deploy_search(
                    search.cluster, release, self._values(search, token, release), lock,
                    partial(say, "Deploying Ray cluster %s; waiting for its head and a worker", release))
            except StoppedBySignal as stop:
                if lock.handed_over:  # stopped on the way out of deploying: the search goes on
                    raise SearchDetached(stop.signum, release, search.location.url) from None
                raise
        self._follow(search, in_cluster, wait_for_pods=running is None)

    def _values(self, search: RemoteSearch, token: str, release: str) -> RayClusterValues:
        from aframe_tune.cluster.lock import lock_name
        from aframe_tune.cluster.values import SearchInCluster

        settings = ClusterSearchSettings(
            run_dir=search.location.url, release=release, tune_overrides=search.arguments.tune_overrides,
            train_overrides=search.arguments.train_overrides, loggers=search.arguments.loggers,
            working_dir=ship_code_to_s3(search.runtime_env, search.location))
        train = search.arguments.train_config  # None for a command
        experiment = ((TUNE_FILE, search.arguments.tune_config.read_text()),
                      *(((TRAIN_FILE, train.read_text()),) if train else ()), (SETTINGS_FILE, settings.to_json()))
        return search.cluster.values(
            search.credentials, token, wandb_api_key=os.environ.get("WANDB_API_KEY", ""), git_sync=search.git_sync,
            extra_env=wandb_settings(),
            search=SearchInCluster(experiment, ready_timeout_s=int(search.cluster.ready_timeout_s),
                                   max_runtime_s=int(self.max_runtime), keep=search.cluster.keep,
                                   lock_name=lock_name(search.location.url)))

    def _follow(self, search: RemoteSearch, in_cluster: SearchObjectRef, wait_for_pods: bool) -> None:
        """Follow the search until it ends, or detach when this process is stopped."""
        from aframe_tune.cluster.session import wait_until_search_cluster_ready
        from aframe_tune.tasks.search_follower import FollowedSearch, follow_search

        release = in_cluster.release
        followed = FollowedSearch(search.cluster.target, in_cluster, search.location, s3().endpoint_url or None)
        try:
            if wait_for_pods:
                wait_until_search_cluster_ready(search.cluster, in_cluster)
            status = follow_search(followed)
        except StoppedBySignal as stop:
            end_live()
            raise SearchDetached(stop.signum, release, search.location.url) from None
        end_live()
        say("\n".join(search_end(search, status).lines()))


class SearchDetached(StoppedBySignal):
    """``run.sh`` stopped following a search that goes on in the cluster (Ctrl-C, a closed terminal).

    Raised, rather than returned, so that law runs nothing that needs the search's result.
    """

    def __init__(self, signum: int, release: str, run_dir: str) -> None:
        AframeTuneError.__init__(
            self, f"Detached: the search goes on in the cluster (Ray cluster {release}), and removes it when it "
            f"ends.\nFollow it again: bash run.sh\nWhere it stands: aframe-tune status {run_dir}\nIts output: "
            f"aframe-tune logs -f {run_dir}\nStop it: aframe-tune stop {run_dir}")
        self.signum = signum


def search_end(search: RemoteSearch, status: SearchStatus) -> SearchOutcome:
    """What the user is told of a search that ended in the cluster; a failed one is raised."""
    if status.state is not SearchState.SUCCEEDED:
        raise TuningError(f"The search in the cluster {status.state.value}: {status.message}; its finished trials "
                          f"are kept in {search.location.url}: run run.sh again to resume it")
    storage = S3Storage(s3().endpoint_url or None)
    location = search.location.child("best.json")
    best = BestTrial.from_json(storage.read_text(location), location.url)
    progress = status.progress
    return SearchOutcome(best, search.location.url, search.spec.experiment_name,
                         trials=progress.total if progress else None, failed=progress.failed if progress else 0,
                         elapsed_s=status.elapsed_s, model=best_model_of(search.spec.runs_a_command, best))


def ship_code_to_s3(runtime_env: dict[str, Any] | None, location: S3Location) -> str | None:
    """``ship_code``'s directory as a zip in the run directory, which the head's Ray fetches as
    the search's working directory; its URL (None without ``ship_code``)."""
    folder = Path(runtime_env["working_dir"]) if runtime_env and runtime_env.get("working_dir") else None
    if folder is None:
        return None
    with tempfile.TemporaryDirectory(prefix="aframe-tune-code-") as scratch:
        archive = Path(scratch) / "code.zip"
        # Ray wants a remote working directory as a zip of one top-level folder
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not {".git", "__pycache__"} & set(path.relative_to(folder).parts):
                    zipped.write(path, Path("code") / path.relative_to(folder))
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
        target = location.child(f"code/{digest}.zip")
        S3Storage(s3().endpoint_url or None).upload(archive, target)
    return target.url


def announce_remote_search(search: RemoteSearch) -> None:
    """Say what the run is about to do, once everything is checked."""
    worker = search.cluster.worker
    say("Tuning on Kubernetes through %s: %s, on %s with %s each; results in %s", search.cluster.target.describe(),
        trials_planned(search.spec), plural(worker.replicas, "worker pod"), plural(worker.gpus, "GPU"),
        search.location.url)
    for line in search.arguments.loggers.announcements():
        say("%s", line)
