"""kr8s, wrapped once: the Kubernetes API as aframe-tune uses it, with kr8s's and httpx's errors
turned into the classes of ``cluster/errors.py`` here and nowhere else.

Objects travel as the API server's JSON (plain dicts); what aframe-tune reads of them becomes
frozen dataclasses where it is read (``cluster/pods.py``, ``cluster/lock.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, asynccontextmanager, contextmanager
from typing import Any

import httpx
import httpx_ws
import kr8s
import kr8s._auth
import kr8s.asyncio
from kr8s.asyncio import objects as kr8s_objects
from kr8s.asyncio.objects import object_from_spec

from aframe_tune.cluster.errors import (
    ClusterConflictError,
    ClusterError,
    ClusterRefusedError,
    ClusterUnreachableError,
)
from aframe_tune.cluster.kube_files import CredentialFiles
from aframe_tune.cluster.port_forward import carry_connection
from aframe_tune.cluster.target import KubeTarget

Selector = dict[str, str]
# how many times in a row a dropped watch is opened again before the error is raised
WATCH_RECONNECTS = 3
# how many times a port-forward's WebSocket is refused for its credential before that is an error, as kr8s's requests
AUTH_ATTEMPTS = 3
# The kinds aframe-tune reads and writes, by the names it gives them. Given its class, kr8s does
# not ask the API server's discovery (/api, /apis and every group version) which resource a name
# means: it would for every new client (one per event loop), as its cache keeps one client's.
KR8S_CLASSES: dict[str, type] = {
    cls.endpoint: cls for cls in (kr8s_objects.Pod, kr8s_objects.ConfigMap, kr8s_objects.Secret, kr8s_objects.Service,
                                  kr8s_objects.ServiceAccount, kr8s_objects.Job, kr8s_objects.Deployment,
                                  kr8s_objects.Role, kr8s_objects.RoleBinding)
} | {plural: kr8s_objects.new_class(f"{kind}.ray.io/v1", namespaced=True, asyncio=True, plural=plural)
     for plural, kind in (("rayclusters", "RayCluster"), ("rayjobs", "RayJob"))}


def kr8s_kind(kind: str) -> str | type:
    """What kr8s is given for ``kind``: its class where known, else the name (kr8s looks it up)."""
    return KR8S_CLASSES.get(kind, kind)

logger = logging.getLogger(__name__)


def _ignore_recovered_unauthorized() -> None:
    """Keep kr8s's ``UserWarning: Unauthorized`` out of the user's output.

    kr8s warns so when looking a kind up still gets 401 after it re-authenticated, and goes on
    with the request, which then succeeds or fails with an error of its own (a
    ClusterRefusedError here). Set at every connection, not once: a filter added inside another
    library's ``warnings.catch_warnings`` block is gone when the block ends (adding it again
    replaces it).
    """
    warnings.filterwarnings("ignore", message="Unauthorized$", category=UserWarning, module=r"kr8s\._api")

# kr8s (0.20) writes the cluster's CA to a new temporary file at every connection and every
# re-authentication, and never removes it. There is no public hook: the factory it uses is the
# private name kr8s._auth.NamedTemporaryFile, replaced here, once, by one that makes the files
# where CREDENTIAL_FILES removes them when no connection names them any more.
CREDENTIAL_FILES = CredentialFiles(
    lambda api: (api.auth.server_ca_file, api.auth.client_cert_file, api.auth.client_key_file))
kr8s._auth.NamedTemporaryFile = CREDENTIAL_FILES.in_directory(kr8s._auth.NamedTemporaryFile)


def translated(error: Exception, doing: str, context: str) -> ClusterError:
    """The :class:`ClusterError` for what kr8s or httpx raised while ``doing`` something.

    Args:
        error: what kr8s or httpx raised.
        doing: what was attempted, e.g. ``"watching the Ray pods"``.
        context: the kube context (and namespace) in use, for the message.
    """
    if isinstance(error, ClusterError):
        return error
    if isinstance(error, kr8s.ServerError) and error.response is not None:
        status = error.response.status_code
        if status == 401:
            return ClusterRefusedError(
                f"{doing} failed: the cluster refused it (HTTP 401): the credential of kube context {context} "
                "was not accepted; log in again (`kubectl get pods` shows whether it works)")
        if status == 403:
            # RBAC or an admission policy: the server's own words say which rule
            return ClusterRefusedError(
                f"{doing} failed: the cluster refused it (HTTP 403: {error}): check that kube context {context} "
                "may manage jobs, pods, services, configmaps and secrets in this namespace, and that it is yours")
        if status == 409:
            return ClusterConflictError(f"{doing} failed: conflict (HTTP 409): {error}")
        return ClusterError(f"{doing} failed: the API server answered HTTP {status}: {error}")
    if isinstance(error, kr8s.NotFoundError):
        return ClusterError(f"{doing} failed: not found: {error}")
    if isinstance(error, httpx.HTTPError | OSError):
        return ClusterUnreachableError(
            f"{doing} failed: cannot reach the API server of kube context {context} ({type(error).__name__}); "
            "check `kubectl --context ... get pods` works")
    return ClusterError(f"{doing} failed: {type(error).__name__}: {error}")


class KubeApi:
    """One connection to a cluster's API server, in one namespace.

    Make it with :meth:`connect`. Every method raises :class:`ClusterError` (or a subclass)
    and nothing else; ``doing`` names the purpose of a call in its error message.
    """

    def __init__(self, api: Any, target: KubeTarget) -> None:
        self._api = api
        # a target without a namespace means the kube context's own
        self.target = dataclasses.replace(target, namespace=target.namespace or api.namespace)
        self.namespace: str = self.target.namespace

    @classmethod
    async def connect(cls, target: KubeTarget, doing: str = "connecting to Kubernetes") -> KubeApi:
        """Read the kubeconfig, authenticate, and check that the API server answers (kr8s asks it
        for its version)."""
        _ignore_recovered_unauthorized()
        with cls._translating(doing, target.describe()), CREDENTIAL_FILES.busy():
            api = await kr8s.asyncio.api(kubeconfig=str(target.kubeconfig) if target.kubeconfig else None,
                                         context=target.context, namespace=target.namespace or None)
            CREDENTIAL_FILES.adopt(api)
        CREDENTIAL_FILES.sweep()  # the files of earlier connections and re-authentications
        return cls(api, target)

    @staticmethod
    @contextmanager
    def _translating(doing: str, context: str) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            raise translated(error, doing, context) from None

    def _doing(self, doing: str | None, default: str) -> Any:
        return self._translating(doing or default, self.target.describe())

    async def serves(self, group_version: str, plural: str, doing: str | None = None) -> bool:
        """Whether the API server serves ``plural`` in ``group_version`` (``"ray.io/v1"``, ``"rayclusters"``)."""
        with self._doing(doing, f"asking the API server whether it serves {group_version} {plural}"):
            async with self._api.call_api("GET", version=group_version, base="/apis",
                                          raise_for_status=False) as response:
                if response.status_code == 404:
                    return False
                response.raise_for_status()
                return any(r.get("name") == plural for r in response.json().get("resources") or [])

    async def list(self, kind: str, labels: Selector | None = None, fields: Selector | None = None,
                   doing: str | None = None) -> list[dict[str, Any]]:
        """The objects of ``kind`` in the namespace that match the selectors."""
        with self._doing(doing, f"listing {kind} in namespace {self.namespace}"):
            return [obj.raw async for obj in self._api.async_get(kr8s_kind(kind), namespace=self.namespace,
                                                                  label_selector=labels, field_selector=fields)]

    async def get(self, kind: str, name: str, doing: str | None = None) -> dict[str, Any] | None:
        """The object, or ``None`` if there is none."""
        obj = await self._object(kind, name, doing)
        return None if obj is None else obj.raw

    async def watch(self, kind: str, labels: Selector | None = None, fields: Selector | None = None,
                    doing: str | None = None) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``(event, object)`` for every object of ``kind`` matching the selectors, then each change.

        A caller that stops early closes it with ``contextlib.aclosing``, so that the request is
        closed in the caller's task.
        """
        drops = 0
        while True:
            try:
                with self._doing(doing, f"watching {kind} in namespace {self.namespace}"):
                    events = self._api.async_watch(kr8s_kind(kind), namespace=self.namespace, label_selector=labels,
                                                   field_selector=fields)
                    async with aclosing(events):
                        async for event, obj in events:
                            drops = 0
                            yield event, obj.raw
                return
            except ClusterUnreachableError:
                # A watch's connection drops (a proxy's idle timeout; kr8s renewing an expired
                # credential replaces the connections of every watch of its client): watch again,
                # as client-go's reflectors do. The objects come again as ADDED events.
                drops += 1
                if drops > WATCH_RECONNECTS:
                    raise
                logger.info("The watch of %s dropped; watching again", kind)
                await asyncio.sleep(0.5 * drops)

    async def pod_logs(self, name: str, follow: bool = False, doing: str | None = None) -> AsyncIterator[str]:
        """The lines of a pod's (first container's) log; with ``follow``, also those that come
        until the container ends."""
        pod = await self._object("pods", name, doing)
        if pod is None:
            return
        with self._doing(doing, f"reading the log of pod {name}"):
            lines = pod.logs(follow=follow)
            async with aclosing(lines):
                async for line in lines:
                    yield line

    @asynccontextmanager
    async def port_forward(self, pod_name: str, port: int, doing: str | None = None) -> AsyncIterator[int]:
        """Forward a free port of 127.0.0.1 to ``port`` of the pod through the API server (as
        ``kubectl port-forward`` does) while the block runs; yield the local port. Each connection
        to it opens a WebSocket of its own (``cluster/port_forward.py``), so the forward outlives
        an expired credential."""
        if await self._object("pods", pod_name, doing) is None:
            raise ClusterError(f"{doing or f'forwarding a port to pod {pod_name}'} failed: the pod does not exist")
        describe = f"port {port} of pod {pod_name}"

        async def carry(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await carry_connection(lambda: self.pod_port_stream(pod_name, port), reader, writer, describe)

        server = await asyncio.start_server(carry, "127.0.0.1", 0)
        async with server:
            yield server.sockets[0].getsockname()[1]

    @asynccontextmanager
    async def pod_port_stream(self, pod_name: str, port: int) -> AsyncIterator[Any]:
        """One WebSocket of the API server's port-forward to ``port`` of the pod. An upgrade
        refused for an expired credential renews it and tries again, as other requests do (kr8s
        renews a WebSocket's credential only when an open one is closed with 401, and only kr8s's
        own requests renew its session)."""
        for attempt in range(AUTH_ATTEMPTS):
            try:
                async with self._api.open_websocket(url=f"pods/{pod_name}/portforward", namespace=self.namespace,
                                                    params={"ports": str(port)}) as stream:
                    yield stream
                    return
            except httpx_ws.WebSocketUpgradeError as error:
                status = error.response.status_code
                if status not in (401, 403) or attempt == AUTH_ATTEMPTS - 1:
                    # the refusal's body is not read: the response was opened as a stream
                    raise ClusterRefusedError(f"forwarding to port {port} of pod {pod_name} was refused "
                                              f"(HTTP {status} {error.response.reason_phrase})") from None
                # an ordinary request renews the credential, and the session that carries it
                await self.get("pods", pod_name, doing=f"renewing the credential to forward to pod {pod_name}")

    async def create(self, body: dict[str, Any], doing: str | None = None) -> dict[str, Any]:
        """Create ``body`` (with its ``apiVersion`` and ``kind``) in the namespace.

        Raises:
            ClusterConflictError: it exists already.
        """
        name = (body.get("metadata") or {}).get("name", "?")
        with self._doing(doing, f"creating {body.get('kind')} {name} in namespace {self.namespace}"):
            obj = object_from_spec({**body, "metadata": {**body["metadata"], "namespace": self.namespace}},
                                   api=self._api, allow_unknown_type=True)
            await obj.create()
            return obj.raw

    async def patch(self, kind: str, name: str, patch: dict[str, Any], doing: str | None = None) -> dict[str, Any]:
        """Merge ``patch`` into the object; a ``metadata.resourceVersion`` in it makes the patch fail
        with :class:`ClusterConflictError` if the object changed since it was read."""
        obj = await self._object(kind, name, doing)
        with self._doing(doing, f"changing {kind}/{name} in namespace {self.namespace}"):
            if obj is None:
                raise ClusterError(f"{doing or f'changing {kind}/{name}'} failed: it does not exist")
            await obj.patch(patch)
            return obj.raw

    async def delete(self, kind: str, name: str, doing: str | None = None, propagation: str | None = None) -> bool:
        """Delete the object; ``False`` if there was none. ``propagation`` is the API's
        ``propagationPolicy`` (``Background`` removes a Job's pods with it, which the API's
        default for Jobs, orphaning, does not)."""
        obj = await self._object(kind, name, doing)
        return obj is not None and await self._delete(obj, doing or f"deleting {kind}/{name}", propagation)

    async def delete_matching(self, kind: str, labels: Selector, doing: str | None = None) -> list[str]:
        """Delete every object of ``kind`` matching ``labels``; their names, as ``kind/name``."""
        deleted = []
        with self._doing(doing, f"deleting {kind} in namespace {self.namespace}"):
            found = [obj async for obj in self._api.async_get(kr8s_kind(kind), namespace=self.namespace,
                                                              label_selector=labels)]
        for obj in found:
            if await self._delete(obj, doing or f"deleting {kind}/{obj.name}"):
                deleted.append(f"{kind}/{obj.name}")
        return deleted

    async def _object(self, kind: str, name: str, doing: str | None) -> Any | None:
        with self._doing(doing, f"reading {kind}/{name} in namespace {self.namespace}"):
            found = [obj async for obj in self._api.async_get(kr8s_kind(kind), name, namespace=self.namespace)]
        return found[0] if found else None

    async def _delete(self, obj: Any, doing: str, propagation: str | None = None) -> bool:
        try:
            await obj.delete(propagation_policy=propagation)
        except kr8s.NotFoundError:  # gone meanwhile (a pod of a deleted Job)
            return False
        except Exception as error:
            raise translated(error, doing, self.target.describe()) from None
        return True


async def reachable_target(target: KubeTarget) -> KubeTarget:
    """``target`` once its cluster answers, with the kube context's namespace where it names none.

    Raises:
        ClusterError: the cluster cannot be reached with this context.
    """
    api = await KubeApi.connect(target, doing=f"connecting to Kubernetes through {target.describe()}")
    return api.target
