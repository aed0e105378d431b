"""Tuning on Kubernetes: a fresh Ray cluster per run, results and checkpoints in S3."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import luigi

from aframe_tune.config import RayClusterParameters, check_dns_label, data, parameters_of, ray_head, ray_worker, s3, ssh
from aframe_tune.errors import AframeTuneError, ConfigError, Problems
from aframe_tune.console import end_live, say
from aframe_tune.tasks.base import TuneParameters, is_remote, progress_view, search_loggers
from aframe_tune.tasks.logs import library_lines_shown, register_secret, route_logs_through_root
from aframe_tune.signals import install_stop_handlers
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.loggers import wandb_settings
from aframe_tune.tune.outcome import SearchOutcome, plural, trials_planned
from aframe_tune.tune.s3 import S3Location, S3Storage
from aframe_tune.tune.spec import TuneSpec

if TYPE_CHECKING:
    from aframe_tune.cluster.description import ClusterDescription
    from aframe_tune.cluster.values import GitSync, S3Credentials, WorkerResources

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


def check_trial_fits_a_worker(spec: TuneSpec, worker: WorkerResources) -> None:
    """A trial that asks for more than one worker pod has would never be scheduled."""
    if spec.gpus_per_trial > worker.gpus:
        raise ConfigError(
            f"{spec.path}: gpus_per_trial = {spec.gpus_per_trial}, but each worker pod has {worker.gpus} GPUs "
            "([luigi_ray_worker] gpus_per_replica in tune.cfg), so no trial could start; lower gpus_per_trial "
            "or raise gpus_per_replica", key=f"{spec.path}::gpus_per_trial")
    if spec.cpus_per_trial > worker.cpus:
        raise ConfigError(
            f"{spec.path}: cpus_per_trial = {spec.cpus_per_trial}, but each worker pod has {worker.cpus} CPUs "
            "([luigi_ray_worker] cpus_per_gpu x gpus_per_replica in tune.cfg), so no trial could start; lower "
            "cpus_per_trial or raise cpus_per_gpu", key=f"{spec.path}::cpus_per_trial")


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
    """Deploy a Ray cluster on Kubernetes, run the search there, export ``best.pt`` to S3.

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
        return S3ObjectTarget(self.location.child("best.pt"), s3().endpoint_url or None)

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
        train_path = problems.result(lambda: self.config_file("train_config"))
        cluster = problems.result(self._cluster)
        git = problems.result(self._git_sync)
        credentials = problems.result(s3_credentials)
        train_overrides = tuple(data().lightning_args())
        spec = None
        if tune_path and train_path:
            spec = problems.result(lambda: check_search_inputs(tune_path, TrainConfig(train_path, train_overrides)))
        if spec is not None and cluster is not None:
            problems.result(lambda: check_trial_fits_a_worker(spec, cluster.worker))
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
        from aframe_tune.cluster.session import new_release_name, ray_cluster_session, use_new_ray_token

        route_logs_through_root()
        install_stop_handlers()
        token = use_new_ray_token()  # before checking the inputs, which imports Ray
        search = self.check_inputs()
        values = search.cluster.values(search.credentials, token, wandb_api_key=os.environ.get("WANDB_API_KEY", ""),
                                       git_sync=search.git_sync, extra_env=wandb_settings())
        release = new_release_name(SEARCH_RELEASE_PREFIX)
        announce_remote_search(search)
        lock = ClusterRunLock(search.cluster.target, search.location.url, release)
        deploying = partial(say, "Deploying Ray cluster %s; waiting for its head and a worker", release)
        with ray_cluster_session(search.cluster, release, values, lock, deploying) as address:
            outcome = self._tune(search, address.ray_client_url)
        say("\n".join(outcome.lines()))

    def _tune(self, search: RemoteSearch, address: str) -> SearchOutcome:
        from aframe_tune.tune.export import export_best_trial
        from aframe_tune.tune.handoff import LEGACY_TUNE_OUTPUT, run_search
        from aframe_tune.tune.local_ray import connect_ray_client, disconnect_ray_client
        from aframe_tune.tune.loggers import usable_on_cluster
        from aframe_tune.tune.progress_reporter import ship_by_value
        from aframe_tune.tune.results import check_search_finished

        started = time.monotonic()
        quiet = not library_lines_shown()
        # runtime_env (ship_code) belongs to the connection, so it is given here too; so is the
        # output engine Tune's loop uses on the cluster, since the live view replaces its tables.
        runtime_env = dict(search.runtime_env or {})
        if quiet:
            runtime_env["env_vars"] = dict(LEGACY_TUNE_OUTPUT)
            ship_by_value()
        connect_ray_client(address, runtime_env=runtime_env or None, quiet=quiet)
        # disconnected before the cluster is removed, also when the search fails: a connected
        # client whose cluster goes away warns at every attempt to reconnect
        try:
            loggers = usable_on_cluster(search.arguments.loggers)
            results = run_search(dataclasses.replace(search.arguments, loggers=loggers),
                                 progress=progress_view(search.spec) if quiet else None)
            end_live()
            check_search_finished(results, search.spec.num_samples)
            storage = S3Storage(s3().endpoint_url or None)  # this machine's endpoint, not the pods'
            with tempfile.TemporaryDirectory(prefix="aframe-tune-export-") as scratch:
                best = export_best_trial(results, search.spec, search.arguments.train_config,
                                         search.arguments.train_overrides, Path(scratch))
                # best.pt last: it is the output law checks, so it must not precede best.json.
                storage.upload(Path(scratch) / "best.json", search.location.child("best.json"))
                storage.upload(Path(scratch) / "best.pt", search.location.child("best.pt"))
        finally:
            disconnect_ray_client()
        return SearchOutcome.of_search(best, search.location.url, search.spec.experiment_name, results,
                                       elapsed_s=time.monotonic() - started)


def announce_remote_search(search: RemoteSearch) -> None:
    """Say what the run is about to do, once everything is checked."""
    worker = search.cluster.worker
    say("Tuning on Kubernetes through %s: %s, on %s with %s each; results in %s", search.cluster.target.describe(),
        trials_planned(search.spec), plural(worker.replicas, "worker pod"), plural(worker.gpus, "GPU"),
        search.location.url)
