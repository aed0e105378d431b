"""The life of one deployed Ray cluster, written once for a remote search and a dispatch:
lock, remove what a killed run left behind, install, wait until ready, uninstall."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aframe_tune.cluster.backend import ClusterBackend
from aframe_tune.cluster.chart_backend import ChartBackend
from aframe_tune.cluster.description import ClusterDescription
from aframe_tune.cluster.errors import ClusterError
from aframe_tune.cluster.helm import check_helm
from aframe_tune.cluster.kube import KubeApi
from aframe_tune.cluster.kuberay_backend import RAYCLUSTER_API, KubeRayBackend
from aframe_tune.cluster.lock import ClusterRunLock, held_run_lock
from aframe_tune.cluster.release_removal import adopt_release
from aframe_tune.cluster.readiness import first_done
from aframe_tune.cluster.search_object import SearchObjectRef, read_search_object, wait_until_ended
from aframe_tune.cluster.values import RayClusterValues, new_ray_token
from aframe_tune.config import ClusterBackendName
from aframe_tune.errors import ConfigError, Problems
from aframe_tune.signals import run_async

logger = logging.getLogger(__name__)


def new_release_name(prefix: str) -> str:
    """A fresh DNS-1123 release name, so a re-run never collides with a half-removed release."""
    return f"{prefix}-{secrets.token_hex(3)}"


def use_new_ray_token() -> str:
    """A fresh token for the cluster about to be deployed, also set in this process's environment.

    Ray reads the token from the environment, never from arguments, and only when it is first
    imported: call this before anything imports Ray.
    """
    token = new_ray_token()
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = token
    return token


def checked_cluster(cluster: ClusterDescription) -> ClusterDescription:
    """Check what deploying ``cluster`` needs before anything is created: helm 3, a kube context
    that answers, and the KubeRay operator's API where the backend needs it. Every problem is
    reported at once, as an input problem.

    Returns:
        The description, with the kube context's namespace where it names none, and the backend
        ``auto`` resolved: ``kuberay`` where the cluster serves RayClusters, else ``chart``.
    """
    problems = Problems()
    problems.result(check_helm)
    resolved = problems.result(lambda: _reachable(cluster))
    problems.raise_if_any()
    return resolved


def _reachable(cluster: ClusterDescription) -> ClusterDescription:
    try:
        return run_async(_resolve(cluster))
    except ClusterError as error:  # nothing was created yet: an input problem
        raise ConfigError(str(error)) from None


async def _resolve(cluster: ClusterDescription) -> ClusterDescription:
    target = cluster.target
    api = await KubeApi.connect(target, doing=f"connecting to Kubernetes through {target.describe()}")
    kuberay = await api.serves(*RAYCLUSTER_API)
    backend = cluster.backend
    if backend is ClusterBackendName.AUTO:
        backend = ClusterBackendName.KUBERAY if kuberay else ClusterBackendName.CHART
        logger.info("Backend %s: the cluster %s ray.io/v1 RayCluster", backend, "serves" if kuberay else "does not serve")
    elif backend is ClusterBackendName.KUBERAY and not kuberay:
        raise ConfigError(
            f"[luigi_TuneRemote] backend = kuberay, but the cluster of {api.target.describe()} does not serve "
            "ray.io/v1 RayCluster: the KubeRay operator is not installed. Set backend = chart (or auto), "
            "or ask the cluster's administrators for KubeRay", key="TuneRemote.backend")
    return dataclasses.replace(cluster, target=api.target, backend=backend)


def backend_for(cluster: ClusterDescription) -> ClusterBackend:
    """The backend that deploys ``cluster`` (whose backend :func:`checked_cluster` resolved)."""
    if cluster.backend is ClusterBackendName.KUBERAY:
        return KubeRayBackend(cluster.target)
    if cluster.backend is ClusterBackendName.CHART:
        return ChartBackend(cluster.target)
    raise ConfigError("the cluster's backend is still auto: check the cluster with checked_cluster() first")


@contextmanager
def deployed_ray_cluster(backend: ClusterBackend, release: str, values: RayClusterValues, ready_timeout_s: float,
                         keep: bool = False) -> Iterator[None]:
    """Install the release and wait until its head and a worker are ready, for the block.

    The release (and with it its Secrets) is uninstalled when the block ends, whether it
    succeeded, failed or was interrupted, unless ``keep`` is set.
    """
    try:
        run_async(backend.install(release, values))
        run_async(backend.wait_until_ready(release, ready_timeout_s))
        yield
    finally:
        namespace = backend.target.namespace
        if keep:
            logger.warning("Keeping Ray cluster %s as asked; remove it with: helm uninstall %s -n %s",
                           release, release, namespace)
        else:
            try:
                run_async(backend.uninstall(release))
            except ClusterError as error:
                logger.error("%s; remove it by hand: helm uninstall %s -n %s", error, release, namespace)


def remove_left_behind(backend: ClusterBackend, release: str, holder: str) -> None:
    """Uninstall the release of an earlier run that died without cleaning up (its driver was
    killed), so that it stops holding GPUs; nothing happens if it is gone."""
    if not release:
        return
    logger.warning("Removing Ray cluster %s, left behind by %s, which stopped without removing it", release, holder)
    try:
        run_async(backend.uninstall(release))
    except ClusterError as error:
        logger.info("Ray cluster %s is already gone (%s)", release, error)


@contextmanager
def ray_cluster_session(cluster: ClusterDescription, release: str, values: RayClusterValues, lock: ClusterRunLock,
                        announce: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold ``lock`` and deploy ``cluster`` as ``release`` for the block, ready to use.

    A cluster that the lock's dead holder left behind is removed first; then ``announce`` says
    that the deployment starts. The cluster is removed when the block ends, unless ``cluster.keep``.
    """
    backend = backend_for(cluster)
    with held_run_lock(lock) as left_behind:
        if left_behind is not None:
            remove_left_behind(backend, left_behind.release, f"process {left_behind.pid} on {left_behind.host}")
        announce()
        with deployed_ray_cluster(backend, release, values, cluster.ready_timeout_s, keep=cluster.keep):
            yield


def deploy_search(cluster: ClusterDescription, release: str, values: RayClusterValues, lock: ClusterRunLock,
                  announce: Callable[[], None] = lambda: None) -> SearchObjectRef:
    """Deploy a release that runs its search in the cluster, and hand ``lock`` over to it; the
    object the search lives by.

    The lock is held while deploying; a cluster its dead holder left behind is removed first.
    Once installed, the release's search object (its search Job, or its RayJob) holds the lock,
    and its pod removes the release when the search ends; a release that could not be deployed is
    removed here.
    """
    backend = backend_for(cluster)
    search = SearchObjectRef(release, cluster.backend)
    with held_run_lock(lock) as left_behind:
        if left_behind is not None:
            remove_left_behind(backend, left_behind.release, f"process {left_behind.pid} on {left_behind.host}")
        announce()
        try:
            run_async(backend.install(release, values))
            run_async(_hand_over(lock, search, adopt=not cluster.keep))
        except BaseException:
            _uninstall_quietly(backend, release)
            raise
    return search


async def _hand_over(lock: ClusterRunLock, search: SearchObjectRef, adopt: bool) -> None:
    """Hand the lock over to the search object and, unless the release is to be kept, make that
    object the owner of the whole release, so that it goes with it whatever happens to the search."""
    api = await KubeApi.connect(lock.target)
    found = await read_search_object(api, search, doing=f"reading {search.describe()}")
    if found is None:
        raise ClusterError(f"the release {search.release} was installed, but {search.describe()} is not there")
    await lock.hand_over(found)
    if adopt:
        await adopt_release(api, found)


def _uninstall_quietly(backend: ClusterBackend, release: str) -> None:
    try:
        run_async(backend.uninstall(release))
    except ClusterError as error:
        logger.error("%s; remove it by hand: helm uninstall %s -n %s", error, release, backend.target.namespace)


def wait_until_search_cluster_ready(cluster: ClusterDescription, search: SearchObjectRef) -> None:
    """Show the release's pods coming up until its head and a worker are ready, or until the
    search object ended first (a RayJob that KubeRay failed, say), which the follower then
    reports. A problem that cannot resolve itself (an image that cannot be pulled, a crash loop,
    a timeout) removes the release (unless ``cluster.keep``) and is raised."""
    backend = backend_for(cluster)
    release = search.release
    try:
        run_async(_ready_unless_ended(backend, search, cluster.ready_timeout_s))
    except ClusterError:
        if cluster.keep:
            logger.warning("Keeping Ray cluster %s as asked; remove it with: helm uninstall %s -n %s", release, release,
                           backend.target.namespace)
        else:
            _uninstall_quietly(backend, release)
        raise


async def _ready_unless_ended(backend: ClusterBackend, search: SearchObjectRef, timeout_s: float) -> None:
    api = await KubeApi.connect(backend.target)
    ready, ended = await first_done(backend.wait_until_ready(search.release, timeout_s), wait_until_ended(api, search))
    if not ready:
        logger.info("%s ended before its cluster was ready (%s)", search.describe(),
                    ended.failure if ended is not None else "it is gone")
