"""Tuning on Kubernetes: a fresh Ray cluster per run, results and checkpoints in S3."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import luigi

from aframe_tune.config import data, ray_head, ray_worker, s3, ssh
from aframe_tune.errors import AframeTuneError, ConfigError
from aframe_tune.tasks.base import TuneParameters, is_remote
from aframe_tune.tasks.logs import route_logs_through_root
from aframe_tune.tune.arguments import LightrayArguments
from aframe_tune.tune.s3 import S3Location, S3Storage
from aframe_tune.tune.spec import load_tune_spec

logger = logging.getLogger(__name__)

PRIVATE_KEY_MARKERS = ("-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----",
                       "-----BEGIN EC PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----")


class TerminatedError(AframeTuneError):
    """The driver received SIGTERM; the cluster is removed on the way out."""


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


@contextmanager
def sigterm_as_error() -> Iterator[None]:
    """Turn SIGTERM into an exception, so ``finally`` blocks (the uninstall) run."""

    def raise_terminated(signum: int, frame: object) -> None:
        raise TerminatedError("Stopped by SIGTERM; the Ray cluster is being removed")

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class TuneRemote(TuneParameters):
    """Deploy charts/ray-cluster on Kubernetes, run the search there, export ``best.pt`` to S3."""

    git_url = luigi.OptionalParameter(
        default=None,
        significant=False,
        description="git repository the pods clone with git-sync; default: none (the image's code)",
    )
    git_ref = luigi.Parameter(
        default="main", significant=False, description="branch, tag or commit of git_url; default: main"
    )
    image = luigi.Parameter(
        default="rayproject/ray:2.60.0-py311",
        significant=False,
        description="image of the Ray pods, with Ray matching this machine's; default: "
        "rayproject/ray:2.60.0-py311",
    )
    image_pull_policy = luigi.Parameter(
        default="IfNotPresent", significant=False, description="Always, IfNotPresent or Never; default: IfNotPresent"
    )
    namespace = luigi.Parameter(
        default="default", significant=False, description="Kubernetes namespace; default: default"
    )
    kube_context = luigi.OptionalParameter(
        default=None, significant=False, description="kube context to use; default: the current one"
    )
    ready_timeout = luigi.FloatParameter(
        default=900.0,
        significant=False,
        description="seconds to wait for the head and a worker to be ready; default: 900",
    )
    keep_cluster = luigi.BoolParameter(
        default=False, significant=False, description="leave the cluster running afterwards; default: false"
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

    def run(self) -> None:
        from aframe_tune.cluster.helm import KubeTarget
        from aframe_tune.cluster.session import check_kube_context, deployed_ray_cluster, new_release_name
        from aframe_tune.cluster.values import (
            GitSync, HeadResources, Image, RayClusterValues, S3Credentials, WorkerResources, new_ray_token,
        )

        route_logs_through_root()
        if not is_remote(self.resolved_run_dir):
            raise ConfigError(f"TuneRemote needs an s3:// run directory, not {self.resolved_run_dir}")
        working_dir = self._shipped_code()
        # Everything is checked before anything is created.
        tune_path = self.config_file("tune_config")
        train_path = self.config_file("train_config")
        spec = load_tune_spec(tune_path)
        spec.import_cli_class()
        location = self.location
        access_key = required_environment("AWS_ACCESS_KEY_ID", "an s3:// run needs S3 credentials")
        secret_key = required_environment("AWS_SECRET_ACCESS_KEY", "an s3:// run needs S3 credentials")
        endpoint = s3().endpoint_url
        storage = S3Storage(endpoint or None)
        storage.check_bucket(location)
        worker = ray_worker()
        head = ray_head()
        worker.validate()
        head.validate()
        repository, _, tag = self.image.rpartition(":")
        git = None
        if self.git_url:
            git = GitSync(self.git_url, self.git_ref, ssh_key=read_ssh_key(ssh().ssh_file))
        target = KubeTarget(namespace=self.namespace, context=self.kube_context)
        asyncio.run(check_kube_context(target))
        token = new_ray_token()
        values = RayClusterValues(
            head=HeadResources(head.cpus, head.memory),
            worker=WorkerResources.per_gpu(
                worker.replicas, worker.gpus_per_replica, worker.cpus_per_gpu,
                worker.memory_per_gpu, worker.min_gpu_memory,
            ),
            s3=S3Credentials(endpoint, access_key, secret_key),
            auth_token=token,
            image=Image(repository or self.image, tag or "latest", self.image_pull_policy),
            wandb_api_key=os.environ.get("WANDB_API_KEY", ""),
            git_sync=git,
        )
        train_overrides = tuple(data().lightning_args())
        runtime_env = {"working_dir": str(working_dir)} if working_dir is not None else None

        release = new_release_name()
        with sigterm_as_error(), deployed_ray_cluster(
            target, release, values, self.ready_timeout, keep=self.keep_cluster
        ) as address:
            # The token reaches Ray through this process's environment, never its arguments.
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ["RAY_AUTH_TOKEN"] = token
            from aframe_tune.tune.export import export_best_trial
            from aframe_tune.tune.handoff import run_lightray
            from aframe_tune.tune.results import check_search_finished

            from aframe_tune.tune.local_ray import connect_ray_client

            # runtime_env (ship_code) belongs to the connection, so it is given here too.
            connect_ray_client(address.ray_client_url, runtime_env=runtime_env)
            results = run_lightray(
                LightrayArguments(
                    tune_config=tune_path,
                    train_config=train_path,
                    storage_path=location.url,
                    ray_address=address.ray_client_url,
                    tune_overrides=spec.lightray_overrides(),
                    train_overrides=train_overrides,
                )
            )
            check_search_finished(results, spec.num_samples)
            with tempfile.TemporaryDirectory(prefix="aframe-tune-export-") as scratch:
                export_best_trial(results, spec, train_path, train_overrides, Path(scratch))
                # best.pt last: it is the output law checks, so it must not precede best.json.
                storage.upload(Path(scratch) / "best.json", location.child("best.json"))
                storage.upload(Path(scratch) / "best.pt", location.child("best.pt"))
