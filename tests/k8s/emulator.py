"""An emulated Kubernetes API server for tests: real ``helm`` and kr8s talk to it over HTTPS.

``KubernetesEmulator`` serves the Kubernetes REST API on ``127.0.0.1`` (a free port) from an
in-memory store (:mod:`.store`) with the semantics clients rely on: discovery, CRUD with
server-side metadata (uid, a global resourceVersion counter, creationTimestamp, generation),
``Status`` error bodies, label/field selectors, the three PATCH flavours, watches streamed as
chunked newline-delimited JSON, finalizers, namespace deletion and ownerReference garbage
collection. Tests and simulators drive the same store through a thread-safe Python API
(``apply``, ``update_status``, ``set_condition``, ``delete``, ``subscribe``...), so watches
fire for their changes too::

    with KubernetesEmulator() as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")  # KUBECONFIG for helm, kr8s
        cluster.subscribe(my_controller, "deployments")               # called with store Events
        cluster.set_condition("pods", "default", "trial-0", "Ready")

How the real clients are satisfied:

* TLS by default, with a throwaway CA in the kubeconfig: client-go (helm) only sends the
  bearer token over TLS. ``tls=False`` serves plain http and then turns auth off.
* ``token_lifetime=20`` makes credentials expire as on a shared cluster: the kubeconfig's user
  is an exec credential plugin (``exec_plugin.py``, like kubelogin) that asks the emulator's
  issuer (:mod:`.tokens`, at ``ISSUER_PATH``) for a token with an ``expirationTimestamp``. An
  expired token gets 401 with a ``Status`` body; a watch already open is not checked again, as
  on a real server.
* helm 3.17 (client-go 0.32) sends the objects it writes through typed clients — its release
  Secrets and their DeleteOptions — as protobuf; :mod:`.protobuf` decodes Secret, ConfigMap,
  Namespace, ServiceAccount and DeleteOptions. Other kinds in protobuf get 415. Responses
  are always JSON, which client-go accepts because its ``Accept`` header lists JSON too.
* ``helm install`` validates manifests against ``/openapi/v2``, which client-go reads only
  as gnostic protobuf. A minimal valid document (swagger 2.0, no definitions) is served, so
  plain ``helm install`` works without ``--disable-openapi-validation``; the client-side
  schema check is then a no-op (as for CRD kinds). The server still rejects apps/v1
  workloads whose selector does not match their pod template (422), like a real one.
  ``/openapi/v3`` answers 404, so client-go falls back to v2.
* Discovery is the legacy form (``/api``, ``/api/v1``, ``/apis``, ``/apis/G``,
  ``/apis/G/V``); client-go asks for aggregated discovery first and falls back.
* CustomResourceDefinitions (:mod:`.crds`): creating one (``kubectl create -f``, helm's
  ``crds/``, or :func:`.crds.install_kuberay_crds`) serves its versions in discovery at once and
  marks it Established; custom objects are pruned, defaulted and validated against the
  version's structural schema (:mod:`.schema`) on every write, the Python API's included, with
  a 422 listing every cause (``spec.workerGroupSpecs[0].replicas: Invalid value: ...``), as
  kubectl prints it; with ``?fieldValidation=Strict`` (kubectl's default) unknown fields are a
  400 instead of being pruned. CEL rules (``x-kubernetes-validations``) are not enforced,
  versions are not converted, and deleting a CRD removes its objects at once, finalizers or not.
* ``helm install --wait`` polls: it is satisfied once a controller (a subscriber, in tests)
  gives the Deployment a ReplicaSet it controls with an equal pod template, and both
  ``status.observedGeneration`` and ready replica counts (see the tests for a 20-line one).

What kubectl and the official Python client need besides:

* Table output (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``) for lists, gets and
  watches, with kubectl's columns per kind (:mod:`.tables`), so ``kubectl get`` prints what it
  prints on a real cluster; a CRD type's columns come from its ``printer_columns``.
* ``GET .../pods/NAME/log`` (``container``, ``tailLines``, ``limitBytes``, ``previous``, and
  ``follow`` streamed) from :attr:`KubernetesEmulator.pod_logs`, which the kubelet stand-in
  (``tests/pod_simulator.py``) writes as containers print; ``kubectl logs [-f]`` works.
* ``/scale`` (autoscaling/v1 Scale) for every type with a ``scale`` spec (:mod:`.scale`):
  Deployments, ReplicaSets, StatefulSets and CRDs that declare one; ``kubectl scale`` works.
* core/v1 Events are stored like any object; controllers record them with :mod:`.events`, and
  ``kubectl get events`` and ``kubectl describe`` show them.
* The registry's defaults that clients read: a Pod's ``status.qosClass``, a Job's selector and
  template labels (so ``kubectl logs job/NAME`` finds its pods). Status as the kubelet and
  controllers write it is :mod:`.workloads`' job; the pod simulator uses it.

RBAC (:mod:`.rbac`): requests of service accounts (a client certificate for
``system:serviceaccount:NS:NAME``, as the pod simulator gives pods) are authorized by the stored
``rbac.authorization.k8s.io/v1`` Roles, ClusterRoles and their bindings, and refused with the real
server's 403 ``Status``; every other authenticated user (the kubeconfig's token or exec credential,
other certificate users) may do anything, as a cluster-admin.

Port-forward (``GET .../pods/NAME/portforward?ports=P`` upgraded to a WebSocket, as kr8s's
``PortForward`` and the official Python client send it) follows the Kubernetes channel protocol
(``v4.channel.k8s.io``): binary frames whose first byte is the channel, 2i for port i's data and
2i+1 for its errors, and whose first frame on each channel is the port (2 bytes, little-endian).
Each WebSocket is one TCP connection per port to the address
:attr:`KubernetesEmulator.port_forward_resolver` gives (the pod simulator sets it); where it gives
none, or the connection fails, the error channel says so and the WebSocket closes, as the kubelet
does. The upgrade is authorized as ``create`` on ``pods/portforward``, as with kube-apiserver's
``AuthorizePodWebsocketUpgradeCreatePermission``; a pod without ``spec.nodeName`` gets 400.
kubectl's SPDY-over-WebSocket tunnelling (``SPDY/3.1+portforward.k8s.io``) is not served: its
upgrade is answered without that subprotocol, so kubectl falls back to a SPDY upgrade, which gets
400. Nor is the base64 protocol (``v4.base64.channel.k8s.io``).

Not emulated: most validation of built-in kinds, server-side
apply's field ownership (apply patches are merge patches), graceful pod termination (pods go
at once unless they carry finalizers), exec/attach, protobuf or CBOR responses,
the events.k8s.io/v1 view of Events, aggregated discovery, ``/openapi/v3``. Validating
admission plugins can be added (``store.admission``). Lists, like the real server's, omit
``kind``/``apiVersion`` in their items.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import re
import secrets
import select
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping
from wsproto.utilities import generate_accept_token

from . import protobuf, scale, tables
from .crds import refuse_unknown_fields, serve_crds
from .logs import PodLogs
from .pki import ClusterCA
from .rbac import GROUP as RBAC_GROUP
from .rbac import RBAC_RESOURCES, Authorizer, User, request_attributes
from .patch import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from .resources import Registry, ResourceType
from .selectors import SelectorError, field_matcher, label_matcher
from .store import ApiError, Event, Expired, Store, bad_request, now
from .tokens import TokenIssuer, rfc3339

__all__ = ["ApiError", "Event", "Fault", "KubernetesEmulator", "RequestRecord", "ResourceType"]

log = logging.getLogger(__name__)

JSON = "application/json"
# What the real server answers (the "@" form of the Accept header is not a parseable media type).
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PATCH_TYPES = {"merge": MERGE_PATCH, "strategic": STRATEGIC_MERGE_PATCH, "json": JSON_PATCH, "apply": APPLY_PATCH}


def _no_such_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})

PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}  # readable anonymously, as on real clusters
# The token endpoint of the emulated OIDC issuer (on a real cluster a server of its own).
ISSUER_PATH = "/emulated-issuer/token"
EXEC_PLUGIN = Path(__file__).with_name("exec_plugin.py")
# The WebSocket subprotocols whose framing port-forward speaks: the kubelet's binary channel
# protocol, and portforward.k8s.io (the protocol's SPDY name) for clients that offer that. A client
# that offers neither gets the same framing, under no name.
PORT_FORWARD_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
# Pod subresources whose WebSocket upgrade (a GET) is authorized as create, as SPDY's POST is.
CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")
# Bytes per frame to the client: the kubelet's io.Copy buffer, well under httpx_ws's 64 KiB reads.
FORWARD_CHUNK = 32 * 1024
# Stop reading the client while this much waits to be written to a pod (backpressure).
FORWARD_BACKLOG = 4 * 1024 * 1024
# How long a closing WebSocket waits for the client's Close frame before hanging up.
CLOSE_LINGER_S = 1.0

# (namespace, pod name, container port) -> the real (host, port) on this machine, or None.
PortForwardResolver = Callable[[str, str, int], tuple[str, int] | None]


@dataclass
class RequestRecord:
    """One request the server received (``status`` is filled in once answered)."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    accept: str
    user_agent: str
    time: float
    status: int | None = None
    user: str | None = None  # a client certificate's user (CN); None for the token's (admin) user

    @property
    def watch(self) -> bool:
        """Whether this was a watch request."""
        return self.query.get("watch") in ("1", "true") or "/watch/" in self.path


@dataclass
class Fault:
    """Make the next ``count`` requests matching ``method``/``path`` (a regex) fail with ``status``."""

    status: int = 500
    method: str | None = None
    path: str | None = None
    count: int = 1
    reason: str = "InternalError"
    message: str = "injected fault"
    delay: float = 0.0  # seconds to stall before answering

    def matches(self, method: str, path: str) -> bool:
        return (self.count > 0 and (self.method is None or self.method.upper() == method)
                and (self.path is None or re.search(self.path, path) is not None))


def _first(query: Mapping[str, list[str]]) -> dict[str, str]:
    return {key: values[-1] for key, values in query.items()}


class _Server(ThreadingHTTPServer):
    """The threading HTTP server, remembering open connections so ``stop()`` can cut them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emulator: KubernetesEmulator, ssl_context: ssl.SSLContext | None) -> None:
        self.emulator = emulator
        self.ssl_context = ssl_context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # As Go's net package (and so the real API server) does: without it, Nagle's algorithm and
        # the client's delayed ACK hold each small response or watch event back by ~40 ms.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is not None:
            # Handshake on the handler thread, not in the accept loop. Wrapping detaches the
            # plain socket, so track the TLS one for cut_connections().
            try:
                wrapped = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake failed: %s", exc)
                return
            with self.connections_lock:
                self.connections.discard(request)
                self.connections.add(wrapped)
            try:
                super().finish_request(wrapped, client_address)
            finally:
                with self.connections_lock:
                    self.connections.discard(wrapped)
                wrapped.close()
            return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self.connections_lock:
            for connection in list(self.connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _PortForward:
    """One port-forward WebSocket once switched: a TCP connection to the pod per port, and bytes
    pumped both ways by one select loop (one thread: an SSL socket is not to be read and written
    from two at once)."""

    def __init__(self, client: socket.socket, stopping: threading.Event) -> None:
        self.client = client
        self.stopping = stopping
        self.ws = Connection(ConnectionType.SERVER)
        self.pods: dict[int, socket.socket] = {}  # port index -> its connection to the pod
        self.backlog: dict[int, bytearray] = {}  # port index -> bytes the pod has yet to take
        self.channel: int | None = None  # the channel of a client message that arrives in pieces
        self.gone = False  # the client hung up

    def run(self, ports: list[int], targets: list[tuple[str, int] | None], failure: Callable[[int, str], str]) -> None:
        """Open, pump until the client closes, every pod connection has ended or the emulator stops; close."""
        try:
            self._open(ports, targets, failure)
            self._pump()
            self._close()
        except OSError:  # the client's connection broke (or stop() cut it)
            pass
        finally:
            for pod in self.pods.values():
                pod.close()

    def _open(self, ports: list[int], targets: list[tuple[str, int] | None], failure: Callable[[int, str], str]
              ) -> None:
        """Each port's first frames on its two channels, then its connection, or its error, as the kubelet does."""
        for index, port in enumerate(ports):
            self._send_frame(2 * index, port.to_bytes(2, "little"))
            self._send_frame(2 * index + 1, port.to_bytes(2, "little"))
        for index, (port, target) in enumerate(zip(ports, targets)):
            if target is None:  # nothing listens there for this pod: what connecting would meet
                self._send_frame(2 * index + 1, failure(port, "connect: connection refused").encode())
                continue
            try:
                pod = socket.create_connection(target, timeout=5)
            except OSError as exc:
                self._send_frame(2 * index + 1, failure(port, f"connect: {exc.strerror or exc}").encode())
                continue
            pod.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as for the API connections
            pod.setblocking(False)
            self.pods[index], self.backlog[index] = pod, bytearray()

    def _pending(self) -> int:
        """Bytes the SSL layer has decrypted but not handed out: select() cannot see them."""
        pending = getattr(self.client, "pending", None)
        return pending() if pending is not None else 0

    def _pump(self) -> None:
        while self.pods and not self.stopping.is_set():
            read_client = all(len(backlog) < FORWARD_BACKLOG for backlog in self.backlog.values())
            buffered = read_client and self._pending() > 0
            readers = [*self.pods.values(), *([self.client] if read_client and not buffered else [])]
            writers = [self.pods[index] for index, backlog in self.backlog.items() if backlog]
            readable, writable, _ = select.select(readers, writers, [], 0 if buffered else 0.5)
            if (buffered or self.client in readable) and not self._from_client():
                return
            for index, pod in list(self.pods.items()):
                if pod in writable:
                    self._to_pod(index)
                if pod in readable and index in self.pods:
                    self._from_pod(index)

    def _from_client(self) -> bool:
        """Take in what the client sent; False once it closes the WebSocket or hangs up."""
        data = self.client.recv(65536)
        if not data:
            self.gone = True
            return False
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, BytesMessage):
                self._client_bytes(event)
            elif isinstance(event, Ping):
                self._send(event.response())
            elif isinstance(event, CloseConnection):
                # the client's Close (answered in kind), or a protocol error wsproto reports as one
                if self.ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    self._send(event.response())
                return False
        return True

    def _client_bytes(self, event: BytesMessage) -> None:
        """Queue a client message (or a piece of one) for its port: a message's first byte is its channel."""
        data = bytes(event.data)
        if self.channel is None and data:
            self.channel, data = data[0], data[1:]
        channel = self.channel
        if event.message_finished:
            self.channel = None
        if channel is not None and channel % 2 == 0 and channel // 2 in self.backlog:
            self.backlog[channel // 2] += data  # error channels are the server's to write; others are dropped

    def _to_pod(self, index: int) -> None:
        backlog = self.backlog[index]
        try:
            sent = self.pods[index].send(backlog)
        except BlockingIOError:
            return
        except OSError:
            return self._pod_ended(index)
        del backlog[:sent]

    def _from_pod(self, index: int) -> None:
        try:
            data = self.pods[index].recv(FORWARD_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return self._pod_ended(index)
        self._send_frame(2 * index, data)

    def _pod_ended(self, index: int) -> None:
        """The pod closed this port's connection: the port is done (the WebSocket, once all are)."""
        self.pods.pop(index).close()
        del self.backlog[index]

    def _send(self, event: BytesMessage | CloseConnection) -> None:
        self.client.sendall(self.ws.send(event))

    def _send_frame(self, channel: int, data: bytes) -> None:
        self._send(BytesMessage(bytes([channel]) + data))

    def _close(self) -> None:
        """End as RFC 6455 asks: our Close frame, then the client's, awaited a little (data after it is dropped)."""
        if self.gone:
            return
        if self.ws.state is ConnectionState.OPEN:
            self._send(CloseConnection(code=1000))
        deadline = time.monotonic() + CLOSE_LINGER_S
        while self.ws.state is ConnectionState.LOCAL_CLOSING and not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not (self._pending() or select.select([self.client], [], [], remaining)[0]):
                return
            data = self.client.recv(65536)
            if not data:
                return
            self.ws.receive_data(data)
            for _ in self.ws.events():
                pass


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP request to discovery, OpenAPI, CRUD or watch."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # ----------------------------------------------------------------- plumbing

    def _handle(self) -> None:
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        query = _first(parse_qs(parts.query, keep_blank_values=True))
        body = self._read_body()
        record = RequestRecord(
            method=self.command, path=parts.path, query=query,
            content_type=self.headers.get("Content-Type", ""), accept=self.headers.get("Accept", ""),
            user_agent=self.headers.get("User-Agent", ""), time=time.time(),
        )
        if parts.path != ISSUER_PATH:  # the token issuer stands in for an OIDC provider, not the API
            emulator._record(record)
        self.record = record
        try:
            user = self._certificate_user()
            record.user = user.name if user is not None else None
            if user is None:
                emulator._authorize(parts.path, self.headers.get("Authorization"))
            elif user.is_service_account:
                emulator._authorize_rbac(user, self.command, parts.path, query, upgrade=self._websocket_requested())
            emulator._maybe_fail(self.command, parts.path)
            self._route(parts.path, query, body)
        except ApiError as exc:
            self._send_json(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # answer like the real server would, and keep the traceback in the log
            log.exception("emulator failed on %s %s", self.command, self.path)
            self._send_json(500, ApiError(500, "InternalError", f"Internal error occurred: {exc}").status())
        log.debug("%s %s %s [%s] -> %s", self.command, parts.path, query, record.content_type, record.status)

    def _certificate_user(self) -> User | None:
        """The user a verified client certificate names (CN, and O for groups), if the client sent one."""
        if not isinstance(self.connection, ssl.SSLSocket):
            return None
        certificate = self.connection.getpeercert() or {}
        attributes = [pair for name in certificate.get("subject") or () for pair in name]
        common_names = [value for key, value in attributes if key == "commonName"]
        if not common_names:
            return None
        return User(common_names[0], tuple(value for key, value in attributes if key == "organizationName"))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_bytes(self, code: int, payload: bytes, content_type: str) -> None:
        self.record.status = code
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_json(self, code: int, obj: Any) -> None:
        self._send_bytes(code, json.dumps(obj, separators=(",", ":")).encode(), JSON)

    def _decode(self, body: bytes, content_type: str) -> Any:
        """Parse a request body: JSON, YAML or (for a few kinds) client-go protobuf."""
        media = content_type.split(";")[0].strip().lower()
        if not body:
            return None
        if media == protobuf.PROTOBUF_CONTENT_TYPE:
            try:
                return protobuf.decode_object(body)
            except protobuf.UnsupportedProtobuf as exc:
                raise ApiError(415, "UnsupportedMediaType", str(exc)) from exc
            except protobuf.ProtobufError as exc:
                raise bad_request(f"unable to decode protobuf body: {exc}") from exc
        try:
            if "yaml" in media:
                return yaml.safe_load(body)
            return json.loads(body)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the body of the request was in an unknown format: {exc}") from exc

    # ----------------------------------------------------------------- routing

    def _route(self, path: str, query: dict[str, str], body: bytes) -> None:
        emulator = self.server.emulator
        registry = emulator.registry
        segments = [s for s in path.split("/") if s]
        if self.command == "GET" and path.rstrip("/") in ("/healthz", "/livez", "/readyz"):
            return self._send_bytes(200, b"ok", "text/plain; charset=utf-8")
        if self.command == "GET" and path.rstrip("/") == "/version":
            return self._send_json(200, emulator.version_info())
        if self.command == "POST" and path == ISSUER_PATH:
            return self._issue_token(body)
        if self.command == "GET" and segments[:1] == ["openapi"]:
            return self._openapi(segments[1:])
        if segments == ["api"] and self.command == "GET":
            return self._send_json(200, registry.api_versions(f"127.0.0.1:{emulator.port}"))
        if segments == ["apis"] and self.command == "GET":
            return self._send_json(200, registry.api_group_list())
        if segments[:1] == ["api"] and len(segments) >= 2:
            group, version, rest = "", segments[1], segments[2:]
        elif segments[:1] == ["apis"] and len(segments) >= 2:
            if len(segments) == 2:
                document = registry.api_group(segments[1])
                if document is None or self.command != "GET":
                    raise _no_such_path()
                return self._send_json(200, document)
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            raise _no_such_path()
        if not rest:
            document = registry.resource_list(group, version)
            if document is None or self.command != "GET":
                raise _no_such_path()
            return self._send_json(200, document)
        watch = query.get("watch") in ("1", "true")
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
            if not rest:
                raise _no_such_path()
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
        rt = registry.by_path(group, version, plural)
        if rt is None or len(rest) > 3 or (namespace is not None and not rt.namespaced):
            raise _no_such_path()
        if rt.namespaced and namespace is None and name is not None:
            raise _no_such_path()
        self._resource(rt, namespace, name, sub, query, body, watch)

    def _issue_token(self, body: bytes) -> None:
        """The issuer's token endpoint: a client-credentials grant, answered with a new token."""
        issuer = self.server.emulator.issuer
        form = _first(parse_qs(body.decode(errors="replace")))
        if issuer is None or not secrets.compare_digest(form.get("client_secret", ""), issuer.client_secret):
            return self._send_json(401, {"error": "invalid_client"})
        token, expires = issuer.issue()
        self._send_json(200, {"access_token": token, "token_type": "Bearer",
                              "expires_in": int(expires - time.time()), "expiration": rfc3339(expires)})

    def _openapi(self, rest: list[str]) -> None:
        emulator = self.server.emulator
        if rest == ["v2"]:
            if "protobuf" in self.headers.get("Accept", ""):
                document = protobuf.openapi_v2_document("Kubernetes", emulator.kubernetes_version)
                return self._send_bytes(200, document, OPENAPI_V2_PROTOBUF)
            return self._send_json(200, {"swagger": "2.0", "info": {"title": "Kubernetes",
                                                                    "version": emulator.kubernetes_version},
                                         "paths": {}, "definitions": {}})
        raise _no_such_path()

    def _resource(self, rt: ResourceType, namespace: str | None, name: str | None, sub: str | None,
                  query: dict[str, str], body: bytes, watch: bool) -> None:
        store = self.server.emulator.store
        method = self.command
        dry_run = query.get("dryRun") == "All"
        content_type = self.headers.get("Content-Type", "")
        if sub not in (None, "status", "log", "scale", "portforward") or (
                sub == "status" and not rt.status_subresource) or (
                sub in ("log", "portforward") and rt.kind != "Pod") or (sub == "scale" and rt.scale is None):
            raise _no_such_path()
        as_table = tables.wants_table(self.headers.get("Accept", ""))
        if name is None:
            if method == "GET":
                if watch:
                    return self._watch(rt, namespace, None, query, as_table)
                return self._list(rt, namespace, query, as_table)
            if method == "POST":
                obj = self._decode(body, content_type)
                refuse_unknown_fields(rt, query, obj)
                created = store.create(rt, namespace, obj, from_api=True, dry_run=dry_run)
                return self._send_json(201, created)
            if method == "DELETE":
                return self._delete_collection(rt, namespace, query, body)
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if sub == "portforward":
            return self._port_forward(store.get(rt, namespace, name))
        if sub == "log":
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource")
            return self._pod_log(store.get(rt, namespace, name), query)
        if sub == "scale":
            return self._scale(rt, namespace, name, query, body)
        if method == "GET":
            if watch:
                return self._watch(rt, namespace, name, query, as_table)
            obj = store.get(rt, namespace, name)
            if as_table:
                return self._send_json(200, tables.table(rt, [obj], {"resourceVersion": obj["metadata"][
                    "resourceVersion"]}, query.get("includeObject")))
            return self._send_json(200, obj)
        if method == "PUT":
            obj = self._decode(body, content_type)
            refuse_unknown_fields(rt, query, obj)
            updated = store.replace(rt, namespace, name, obj, subresource=sub, from_api=True, dry_run=dry_run)
            return self._send_json(200, updated)
        if method == "PATCH":
            media = content_type.split(";")[0].strip().lower()
            if media not in PATCH_TYPES.values():
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: {', '.join(PATCH_TYPES.values())}")
            patch = self._decode(body, "application/yaml" if media == APPLY_PATCH else JSON)
            if media in (MERGE_PATCH, APPLY_PATCH):  # a JSON patch's paths are checked by no one here
                refuse_unknown_fields(rt, query, patch)
            patched = store.patch(rt, namespace, name, patch, media, subresource=sub, from_api=True, dry_run=dry_run)
            return self._send_json(200, patched)
        if method == "DELETE":
            options = self._delete_options(query, body)
            obj, gone = store.delete(rt, namespace, name, propagation_policy=options.get("propagationPolicy"),
                                     preconditions=options.get("preconditions"),
                                     dry_run=dry_run or "All" in (options.get("dryRun") or []))
            if not gone or rt.kind in ("Pod", "Namespace"):
                # Like the real registry: pods and namespaces (and pending deletions) come back whole.
                return self._send_json(200, obj)
            details: dict[str, Any] = {"name": name}
            if rt.group:
                details["group"] = rt.group
            details.update(kind=rt.plural, uid=obj["metadata"]["uid"])
            return self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                         "status": "Success", "details": details})
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _scale(self, rt: ResourceType, namespace: str | None, name: str, query: dict[str, str],
               body: bytes) -> None:
        """``GET``/``PUT``/``PATCH`` of an autoscaling/v1 Scale (see :mod:`.scale`)."""
        store = self.server.emulator.store
        dry_run = query.get("dryRun") == "All"
        if self.command == "GET":
            return self._send_json(200, scale.get_scale(store, rt, namespace, name))
        media = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if self.command == "PUT":
            updated = scale.update_scale(store, rt, namespace, name, self._decode(body, media or JSON),
                                         dry_run=dry_run)
            return self._send_json(200, updated)
        if self.command == "PATCH" and media in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, JSON_PATCH):
            updated = scale.update_scale(store, rt, namespace, name, self._decode(body, JSON), patch_type=media,
                                         dry_run=dry_run)
            return self._send_json(200, updated)
        if self.command == "PATCH":
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                           f"accepted media types include: {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}, {JSON_PATCH}")
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _pod_log(self, pod: dict[str, Any], query: dict[str, str]) -> None:
        """A container's log as text/plain: all of it, its tail, or followed (chunked) until the container ends."""
        logs = self.server.emulator.pod_logs
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        container = _log_container(pod, query.get("container"))
        previous = query.get("previous") in ("1", "true")
        if previous and not logs.has(namespace, name, container, previous=True):
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        if not previous and not logs.has(namespace, name, container):
            waiting = _waiting_reason(pod, container)
            if waiting:  # as the kubelet answers before the container has started
                raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {waiting}')
        try:
            tail = int(query["tailLines"]) if query.get("tailLines") else None
            limit = int(query["limitBytes"]) if query.get("limitBytes") else None
        except ValueError as exc:
            raise bad_request(f"invalid log options: {exc}") from exc
        if previous or query.get("follow") not in ("1", "true"):
            return self._send_bytes(200, logs.read(namespace, name, container, previous=previous, tail_lines=tail,
                                                   limit_bytes=limit), "text/plain")
        self.record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        emulator = self.server.emulator
        try:
            for piece in logs.follow(namespace, name, container, tail_lines=tail,
                                     stop=lambda: emulator._stopping.is_set() or self._client_gone()):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()
            self._end_chunks()
        except OSError:
            self.close_connection = True

    # ----------------------------------------------------------------- port-forward

    def _websocket_requested(self) -> bool:
        """Whether this is a WebSocket upgrade request (as wsstream.IsWebSocketRequest decides)."""
        connection = {token.strip().lower() for token in self.headers.get("Connection", "").split(",")}
        return "upgrade" in connection and self.headers.get("Upgrade", "").strip().lower() == "websocket"

    def _port_forward(self, pod: dict[str, Any]) -> None:
        """``GET .../pods/NAME/portforward?ports=P`` switched to a WebSocket (see the module docstring);
        refusals are the 400s of the registry, the API server's proxy and the kubelet, in their order."""
        metadata = pod["metadata"]
        if not (pod.get("spec") or {}).get("nodeName"):
            raise bad_request(f"pod {metadata['name']} does not have a host assigned")
        if self.command not in ("GET", "POST"):  # the connect verbs
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if self.command != "GET" or not self._websocket_requested():
            if self.headers.get("Upgrade"):  # kubectl's SPDY upgrade (its fallback from WebSocket tunnelling)
                raise bad_request("the emulated API server forwards ports over WebSocket (v4.channel.k8s.io) "
                                  f"only, not {self.headers.get('Upgrade')}")
            raise bad_request("Upgrade request required")
        ports = _forwarded_ports(parse_qs(urlsplit(self.path).query, keep_blank_values=True).get("ports", []))
        key = self.headers.get("Sec-WebSocket-Key", "").strip()
        if not key or self.headers.get("Sec-WebSocket-Version", "").strip() != "13":
            raise bad_request("websocket: a Sec-WebSocket-Key and Sec-WebSocket-Version 13 are required")
        targets = [self._forward_target(metadata["namespace"], metadata["name"], port) for port in ports]
        self._switch_protocols(key)
        self.close_connection = True  # the connection is the WebSocket's from here on

        def failure(port: int, cause: str) -> str:  # the kubelet's words, the runtime's cause after them
            return (f"error forwarding port {port} to pod {metadata['namespace']}/{metadata['name']}, uid "
                    f"{metadata.get('uid', '')}: failed to connect to localhost:{port} inside the pod's network "
                    f"namespace: dial tcp4 127.0.0.1:{port}: {cause}")

        try:
            _PortForward(self.connection, self.server.emulator._stopping).run(ports, targets, failure)
        except Exception:  # a bug here must not write an HTTP error into the WebSocket
            log.exception("port-forward to %s/%s failed", metadata["namespace"], metadata["name"])

    def _forward_target(self, namespace: str, name: str, port: int) -> tuple[str, int] | None:
        """Where the pod's ``port`` is on this machine, by :attr:`KubernetesEmulator.port_forward_resolver`."""
        resolver = self.server.emulator.port_forward_resolver
        if resolver is None:
            return None
        try:
            return resolver(namespace, name, port)
        except Exception:  # the hook's bug: the client sees the port as closed, the log says why
            log.exception("port_forward_resolver failed for %s/%s:%s", namespace, name, port)
            return None

    def _switch_protocols(self, key: str) -> None:
        """The 101 answer: the accept token and, if the client offered one we speak, its subprotocol
        (the first it offered, as the kubelet's handshake picks)."""
        offered = [item.strip() for value in self.headers.get_all("Sec-WebSocket-Protocol") or []
                   for item in value.split(",")]
        protocol = next((item for item in offered if item in PORT_FORWARD_PROTOCOLS), None)
        self.record.status = 101
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", generate_accept_token(key.encode()).decode())
        if protocol is not None:
            self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()

    def _delete_options(self, query: dict[str, str], body: bytes) -> dict[str, Any]:
        options = self._decode(body, self.headers.get("Content-Type", JSON)) or {}
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions must be an object")
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if options.get("orphanDependents") and "propagationPolicy" not in options:
            options["propagationPolicy"] = "Orphan"
        if options.get("propagationPolicy") not in (None, "Orphan", "Background", "Foreground"):
            raise bad_request(f"propagationPolicy: Unsupported value: {options['propagationPolicy']!r}")
        return options

    def _predicate(self, rt: ResourceType, query: dict[str, str], name: str | None = None
                   ) -> Callable[[dict[str, Any]], bool]:
        try:
            by_label = label_matcher(query.get("labelSelector"))
            fields = query.get("fieldSelector") or ""
            if name is not None:
                fields = f"metadata.name={name}" + (f",{fields}" if fields else "")
            by_field = field_matcher(fields, rt.field_labels)
        except SelectorError as exc:
            raise bad_request(str(exc)) from exc
        return lambda obj: by_label(obj) and by_field(obj)

    def _list(self, rt: ResourceType, namespace: str | None, query: dict[str, str], as_table: bool = False) -> None:
        items, rv = self.server.emulator.store.list(rt, namespace, self._predicate(rt, query))
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        start = 0
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"]))
                start = int(token["start"])
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request(f"continue key is not valid: {exc}") from exc
        limit = int(query.get("limit") or 0)
        if start or limit:
            end = start + limit if limit else len(items)
            if end < len(items):
                token = {"rv": rv, "start": end}
                metadata["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
                metadata["remainingItemCount"] = len(items) - end
            items = items[start:end]
        for item in items:
            # The real server leaves TypeMeta out of list items.
            item.pop("kind", None)
            item.pop("apiVersion", None)
        if as_table:
            return self._send_json(200, tables.table(rt, items, metadata, query.get("includeObject")))
        self._send_json(200, {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata,
                              "items": items})

    def _delete_collection(self, rt: ResourceType, namespace: str | None, query: dict[str, str],
                           body: bytes) -> None:
        store = self.server.emulator.store
        options = self._delete_options(query, body)
        items, _ = store.list(rt, namespace, self._predicate(rt, query))
        deleted = []
        for item in items:
            try:
                obj, _ = store.delete(rt, item["metadata"].get("namespace"), item["metadata"]["name"],
                                      propagation_policy=options.get("propagationPolicy"),
                                      dry_run=query.get("dryRun") == "All")
            except ApiError as exc:
                if exc.code != 404:  # deleted concurrently: fine
                    raise
                continue
            obj.pop("kind", None)
            obj.pop("apiVersion", None)
            deleted.append(obj)
        self._send_json(200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                              "metadata": {"resourceVersion": str(store.resource_version)}, "items": deleted})

    # ----------------------------------------------------------------- watch

    def _watch(self, rt: ResourceType, namespace: str | None, name: str | None, query: dict[str, str],
               as_table: bool = False) -> None:
        """Stream events as chunked newline-delimited JSON until timeoutSeconds, stop() or disconnect.

        With ``as_table`` each event's object is a one-row Table (``kubectl get -w``); only the
        first carries the column definitions, as on the real server.
        """
        self._table_watch = (rt, query.get("includeObject")) if as_table else None
        self._table_headers_sent = False
        emulator = self.server.emulator
        store = emulator.store
        match = self._predicate(rt, query, name)
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        except ValueError as exc:
            raise bad_request(f"invalid timeoutSeconds: {query['timeoutSeconds']!r}") from exc
        deadline = time.monotonic() + timeout if timeout else None
        initial_events = query.get("sendInitialEvents") == "true"
        version = None if initial_events else query.get("resourceVersion")
        try:
            watcher, backlog = store.open_watch(rt, namespace, version)
            expired = None
        except Expired as exc:
            watcher, backlog, expired = None, [], exc  # reported inside the stream, as the real server does
        self.record.status = 200
        try:
            self.send_response(200)
            self.send_header("Content-Type", JSON)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            if watcher is None:
                assert expired is not None
                self._chunk({"type": "ERROR", "object": expired.status()})
                self._end_chunks()
                return
            for event in backlog:
                self._emit(event, match)
            if initial_events:
                bookmark = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {
                    "resourceVersion": str(store.resource_version),
                    "annotations": {"k8s.io/initial-events-end": "true"}}}
                self._chunk({"type": "BOOKMARK", "object": bookmark})
            while not emulator._stopping.is_set():
                wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                if wait <= 0:
                    break
                try:
                    event = watcher.queue.get(timeout=wait)
                except queue.Empty:
                    if self._client_gone():
                        self.close_connection = True
                        return
                    continue
                if event is None:
                    break
                self._emit(event, match)
            self._end_chunks()
        except OSError:  # the client went away mid-stream
            self.close_connection = True
        finally:
            if watcher is not None:
                store.close_watch(watcher)

    def _emit(self, event: Event, match: Callable[[dict[str, Any]], bool]) -> None:
        """Send one event as the real server does for a filtered watch (enter=ADDED, leave=DELETED)."""
        now_matches = match(event.object)
        before = event.old is not None and match(event.old)
        if event.type == "DELETED":
            kind = "DELETED" if now_matches else None
        elif event.type == "ADDED":
            kind = "ADDED" if now_matches else None
        elif now_matches:
            kind = "MODIFIED" if before else "ADDED"
        else:
            kind = "DELETED" if before else None
        if kind is None:
            return
        obj = event.object
        if self._table_watch is not None:
            rt, include = self._table_watch
            obj = tables.table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include,
                               headers=not self._table_headers_sent)
            self._table_headers_sent = True
        self._chunk({"type": kind, "object": obj})

    def _chunk(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _client_gone(self) -> bool:
        """Whether the watching client hung up (its socket reads EOF)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError, ssl.SSLError):
            return True
        return False


def _forwarded_ports(values: list[str]) -> list[int]:
    """The ``ports`` of a port-forward (repeated or comma-separated), checked as the kubelet does."""
    if not values:
        raise bad_request('query parameter "port" is required')
    ports = []
    for value in values:
        if not value:
            raise bad_request('query parameter "port" cannot be empty')
        for item in value.split(","):
            if not item.isdigit() or not 0 < int(item) < 65536:
                raise bad_request(f'unable to parse "{value}" as a port')
            ports.append(int(item))
    if len(ports) > 128:  # two channels a port, numbered in one byte
        raise bad_request(f"too many ports: {len(ports)}")
    return ports


def _log_container(pod: dict[str, Any], requested: str | None) -> str:
    """The container a log request means: the named one, the pod's only one, or its default (400 otherwise)."""
    name = pod["metadata"]["name"]
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    default = ((pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container"))
    if requested:
        init = [c.get("name", "") for c in (pod.get("spec") or {}).get("initContainers") or []]
        if requested not in containers + init:
            raise bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    if default in containers:
        return default
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]")


def _waiting_reason(pod: dict[str, Any], container: str) -> str | None:
    """Why a container has not started (``ContainerCreating`` before the kubelet reports it), or None."""
    status = pod.get("status") or {}
    for entry in status.get("containerStatuses") or []:
        if entry.get("name") == container:
            return (entry.get("state") or {}).get("waiting", {}).get("reason")
    return "ContainerCreating" if status.get("phase", "Pending") == "Pending" else None


class KubernetesEmulator:
    """An in-process Kubernetes API server on 127.0.0.1 (see the module docstring).

    Use as a context manager, or call :meth:`start` / :meth:`stop`. ``resource`` arguments
    of the Python API accept any name discovery knows: ``"pods"``, ``"pod"``, ``"po"``,
    ``"Deployment"``, ``"deployments.apps"``. Objects written through the Python API skip the
    API-only rules (status reset on create, status kept on update, workload validation).

    Args:
        token: the bearer token the kubeconfig carries (random by default), without ``token_lifetime``.
        token_lifetime: seconds a token lasts; the kubeconfig's user then runs an exec credential
            plugin for each token, and the static ``token`` is refused. Needs TLS.
        require_auth: answer 401 to requests without the token (default: on with TLS).
        tls: serve HTTPS with a throwaway CA (default) or plain HTTP.
        kubernetes_version: what ``/version`` reports.
        namespaces: the namespaces that exist from the start.
        history_limit: events kept for watches that resume from a resourceVersion.
    """

    def __init__(self, *, token: str | None = None, token_lifetime: float | None = None,
                 require_auth: bool | None = None, tls: bool = True,
                 kubernetes_version: str = "v1.32.2",
                 namespaces: Iterable[str] = ("default", "kube-system", "kube-public", "kube-node-lease"),
                 history_limit: int = 100_000) -> None:
        self.token = token or secrets.token_urlsafe(24)
        # client-go never sends credentials over plain http, so without TLS auth is off by default.
        self.require_auth = tls if require_auth is None else require_auth
        self.tls = tls
        if token_lifetime is not None and not tls:
            raise ValueError("expiring tokens need TLS: client-go sends no credentials over plain http")
        self.issuer = TokenIssuer(token_lifetime) if token_lifetime is not None else None
        self.unauthorized = 0  # 401s answered
        self.forbidden = 0  # 403s answered by RBAC (service accounts only, see .rbac)
        self._exec_dir: Path | None = None
        self.kubernetes_version = kubernetes_version
        self.registry = Registry()
        self.store = Store(self.registry, history_limit=history_limit)
        serve_crds(self.registry, self.store)  # customresourcedefinitions, see .crds
        for rbac_type in RBAC_RESOURCES:
            self.registry.add(rbac_type)
        self.authorizer = Authorizer(self._rbac_objects, self._rbac_object)
        self.ca: ClusterCA | None = None
        self.ca_pem: bytes | None = None
        self._initial_namespaces = tuple(namespaces)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._log_lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self.pod_logs = PodLogs()  # what the log endpoint serves; the kubelet (pod simulator) writes it
        # Where a port-forward connects: (namespace, pod, container port) -> (host, port) on this
        # machine, or None (not running, no such port). The kubelet stand-in (pod simulator) sets it.
        self.port_forward_resolver: PortForwardResolver | None = None
        for namespace in self._initial_namespaces:
            self.store.create(self.registry.resolve("namespaces"), None, {"metadata": {"name": namespace}})

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> KubernetesEmulator:
        """Bind a free port on 127.0.0.1 and serve on a background thread."""
        if self._server is not None:
            return self
        context = None
        if self.tls:
            self.ca = ClusterCA()
            self.ca_pem = self.ca.pem
            cert_pem, key_pem = self.ca.serving()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            # client certificates the cluster's CA signed authenticate their CN, as on a real server
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cadata=self.ca_pem.decode())
            with tempfile.TemporaryDirectory() as directory:
                # ssl only loads key material from files.
                cert_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
                cert_file.write_bytes(cert_pem)
                key_file.write_bytes(key_pem)
                context.load_cert_chain(cert_file, key_file)
            context.set_alpn_protocols(["http/1.1"])  # no HTTP/2 here; Go clients fall back
        self._stopping.clear()
        self._server = _Server(self, context)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="k8s-emulator", daemon=True)
        self._thread.start()
        if self.issuer is not None:
            self._write_plugin_config()
        log.info("Kubernetes emulator serving at %s", self.url)
        return self

    def _write_plugin_config(self) -> None:
        """What the exec plugin needs to reach the issuer, in a private file (no secret in argv)."""
        assert self.issuer is not None and self.ca_pem is not None
        self._exec_dir = Path(tempfile.mkdtemp(prefix="k8s-emulator-exec-"))
        ca_file = self._exec_dir / "ca.crt"
        ca_file.write_bytes(self.ca_pem)
        config = self._exec_dir / "credentials.json"
        config.touch(mode=0o600)
        config.write_text(json.dumps({"issuer": self.url + ISSUER_PATH, "ca_file": str(ca_file),
                                      "client_secret": self.issuer.client_secret}))

    def stop(self) -> None:
        """End watches, stop serving and cut open connections."""
        if self._server is None:
            return
        self._stopping.set()
        self.store.shutdown()
        self._server.shutdown()
        self._server.cut_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._exec_dir is not None:
            shutil.rmtree(self._exec_dir, ignore_errors=True)
            self._exec_dir = None

    def __enter__(self) -> KubernetesEmulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def version_info(self) -> dict[str, str]:
        """The ``/version`` document."""
        major, minor, *_ = self.kubernetes_version.lstrip("v").split(".")
        return {"major": major, "minor": minor, "gitVersion": self.kubernetes_version,
                "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64"}

    def kubeconfig(self, namespace: str = "default", context: str = "emulated") -> dict[str, Any]:
        """A kubeconfig dict for this server: one context, set as current, whose user has the
        static bearer token or, with ``token_lifetime``, runs the exec credential plugin."""
        cluster: dict[str, Any] = {"server": self.url}
        if self.ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": self._user()}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
            "current-context": context,
            "preferences": {},
        }

    def client_certificate(self, user: str, groups: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
        """A client certificate (and key, PEM) that authenticates as ``user``, signed by the cluster's CA."""
        if self.ca is None:
            raise RuntimeError("client certificates need a TLS emulator that has started")
        return self.ca.client(user, groups)

    def _user(self) -> dict[str, Any]:
        if self.issuer is None:
            return {"token": self.token}
        if self._exec_dir is None:
            raise RuntimeError("start the emulator before asking for its kubeconfig")
        return {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(EXEC_PLUGIN)],
            "env": [{"name": "AFRAME_EMULATOR_CREDENTIALS", "value": str(self._exec_dir / "credentials.json")}],
            "interactiveMode": "Never",
            "provideClusterInfo": False,
        }}

    @property
    def tokens_issued(self) -> int:
        """Tokens the issuer has handed out (one per run of the exec plugin)."""
        return 0 if self.issuer is None else self.issuer.issued

    def write_kubeconfig(self, path: str | Path, namespace: str = "default", context: str = "emulated") -> Path:
        """Write :meth:`kubeconfig` to ``path`` (mode 0600, as kubectl does) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(self.kubeconfig(namespace, context), sort_keys=False))
        target.chmod(0o600)
        return target

    # ----------------------------------------------------------------- server internals

    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._requests.append(record)

    def _authorize(self, path: str, authorization: str | None) -> None:
        if not self.require_auth or path.rstrip("/") in PUBLIC_PATHS or path == ISSUER_PATH:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if self.issuer is not None:
            good = scheme == "Bearer" and self.issuer.accepts(token)
        else:
            good = scheme == "Bearer" and secrets.compare_digest(token, self.token)
        if not good:
            with self._log_lock:
                self.unauthorized += 1
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _authorize_rbac(self, user: User, method: str, path: str, query: Mapping[str, str],
                        upgrade: bool = False) -> None:
        """A service account's request goes through RBAC (:mod:`.rbac`); a refusal is a 403, counted.

        A WebSocket ``upgrade`` of exec/attach/portforward is a GET but needs ``create``, as with
        kube-apiserver's AuthorizePodWebsocketUpgradeCreatePermission (SPDY's POST always did)."""
        if path == ISSUER_PATH:
            return
        attributes = request_attributes(method, path, query)
        if upgrade and attributes.resource == "pods" and attributes.subresource in CONNECT_SUBRESOURCES:
            attributes = replace(attributes, verb="create")
        try:
            self.authorizer.authorize(user, attributes)
        except ApiError:
            with self._log_lock:
                self.forbidden += 1
            raise

    def _rbac_objects(self, resource: str, namespace: str | None) -> list[dict[str, Any]]:
        return self.store.list(self.registry.resolve(f"{resource}.{RBAC_GROUP}"), namespace)[0]

    def _rbac_object(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.get(f"{resource}.{RBAC_GROUP}", namespace, name)

    def _maybe_fail(self, method: str, path: str) -> None:
        with self._log_lock:
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                fault.count -= 1
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            raise ApiError(fault.status, fault.reason, fault.message)

    # ----------------------------------------------------------------- Python API: objects

    def resource_type(self, resource: str | ResourceType) -> ResourceType:
        """Resolve a resource name (``"po"``, ``"Deployment"``, ``"deployments.apps"``)."""
        return self.registry.resolve(resource)

    def register(self, resource_type: ResourceType) -> None:
        """Serve an extra resource type (a CRD, say)."""
        self.registry.add(resource_type)

    def create(self, resource: str | ResourceType, namespace: str | None, obj: dict[str, Any], *,
               admit: bool = False) -> dict[str, Any]:
        """Create an object (raises :class:`ApiError` 409 if it exists); status is kept as given.

        ``admit`` makes it a request as a controller sends it: validated, admitted by the admission
        plugins (which may refuse it), its status reset.
        """
        return self.store.create(self.resource_type(resource), namespace, obj, from_api=admit)

    def apply(self, resource: str | ResourceType, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or overwrite an object as given (no resourceVersion check); a missing status is kept."""
        rt = self.resource_type(resource)
        name = (obj.get("metadata") or {}).get("name")
        with self.store._lock:
            if name is None:
                return self.store.create(rt, namespace, obj)
            ns = namespace or (obj.get("metadata") or {}).get("namespace") or "default"
            try:
                current = self.store.get(rt, ns, name)
            except ApiError:
                return self.store.create(rt, ns, obj)
            new = dict(obj)
            if "status" not in new and "status" in current:
                new["status"] = current["status"]
            return self.store.replace(rt, ns, name, new, check_version=False)

    def get(self, resource: str | ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One object (a copy), or None."""
        try:
            return self.store.get(self.resource_type(resource), namespace, name)
        except ApiError:
            return None

    def list(self, resource: str | ResourceType, namespace: str | None = None,
             label_selector: str | Mapping[str, str] | None = None,
             field_selector: str | Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Objects of a type (all namespaces when ``namespace`` is None), with optional selectors."""
        rt = self.resource_type(resource)
        by_label = label_matcher(label_selector)
        by_field = field_matcher(field_selector, rt.field_labels)
        items, _ = self.store.list(rt, namespace, lambda o: by_label(o) and by_field(o))
        return items

    def patch(self, resource: str | ResourceType, namespace: str | None, name: str, patch: Any,
              patch_type: str = "merge") -> dict[str, Any]:
        """Patch an object; ``patch_type`` is merge, strategic, json or apply (or a content type)."""
        return self.store.patch(self.resource_type(resource), namespace, name, patch,
                                PATCH_TYPES.get(patch_type, patch_type))

    def update_status(self, resource: str | ResourceType, namespace: str | None, name: str,
                      status: dict[str, Any], *, merge: bool = True) -> dict[str, Any]:
        """Change an object's status: merge-patched into the current one, or replacing it (``merge=False``)."""
        rt = self.resource_type(resource)
        if merge:
            return self.store.patch(rt, namespace, name, {"status": status}, MERGE_PATCH, subresource="status")
        current = self.store.get(rt, namespace, name)
        current["status"] = status
        return self.store.replace(rt, namespace, name, current, subresource="status", check_version=False)

    def set_condition(self, resource: str | ResourceType, namespace: str | None, name: str, condition: str,
                      status: bool | str = True, reason: str | None = None, message: str | None = None
                      ) -> dict[str, Any]:
        """Set one entry of ``status.conditions`` (keyed by type), e.g. a Pod's ``Ready``."""
        rt = self.resource_type(resource)
        value = status if isinstance(status, str) else ("True" if status else "False")
        with self.store._lock:
            current = self.store.get(rt, namespace, name)
            conditions = list((current.get("status") or {}).get("conditions") or [])
            existing = [c for c in conditions if c.get("type") == condition]
            # Like kubelet and controllers: the transition time moves only when the status flips.
            unchanged = existing and existing[0].get("status") == value
            transition = existing[0].get("lastTransitionTime") if unchanged else now()
            entry: dict[str, Any] = {"type": condition, "status": value, "lastTransitionTime": transition}
            if reason:
                entry["reason"] = reason
            if message:
                entry["message"] = message
            if rt.kind == "Pod":
                entry["lastProbeTime"] = None
            if existing:
                conditions[conditions.index(existing[0])] = entry  # keep the list's order
            else:
                conditions.append(entry)
            return self.store.patch(rt, namespace, name, {"status": {"conditions": conditions}}, MERGE_PATCH,
                                    subresource="status")

    def delete(self, resource: str | ResourceType, namespace: str | None, name: str,
               propagation_policy: str = "Background") -> dict[str, Any] | None:
        """Delete an object (dependents are garbage-collected); returns it, or None if it did not exist."""
        try:
            obj, _ = self.store.delete(self.resource_type(resource), namespace, name,
                                       propagation_policy=propagation_policy)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise
        return obj

    def set_pod_log(self, namespace: str, name: str, text: str, container: str | None = None) -> None:
        """What ``GET .../pods/NAME/log`` returns for a container (the pod's default one unless named)."""
        pod = self.get("pods", namespace, name)
        if container is None:
            container = _log_container(pod, None) if pod is not None else ""
        self.pod_logs.replace(namespace, name, container, text)

    # ----------------------------------------------------------------- Python API: events

    def subscribe(self, callback: Callable[[Event], None],
                  resources: Iterable[str | ResourceType] | str | ResourceType | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for every later change; see :meth:`Store.subscribe`. Returns an unsubscriber."""
        if resources is None:
            types = None
        elif isinstance(resources, (str, ResourceType)):
            types = [self.resource_type(resources)]
        else:
            types = [self.resource_type(r) for r in resources]
        return self.store.subscribe(callback, types)

    def events(self, resources: Iterable[str | ResourceType] | str | ResourceType | None = None
               ) -> queue.Queue[Event]:
        """A queue that receives every later change (a subscription that never ends)."""
        events: queue.Queue[Event] = queue.Queue()
        self.subscribe(events.put, resources)
        return events

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until subscribers have processed every event so far."""
        return self.store.flush(timeout)

    @staticmethod
    def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
        """Poll ``predicate`` until it returns something truthy; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)

    def compact(self) -> None:
        """Drop the event history: watches resuming from older resourceVersions get 410 Gone."""
        self.store.compact()

    def close_watches(self) -> None:
        """End every open watch stream, like a server-side watch timeout."""
        self.store.close_all_watches()

    # ----------------------------------------------------------------- Python API: requests and faults

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every request so far, in arrival order (a copy)."""
        with self._log_lock:
            return list(self._requests)

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._requests.clear()

    def requests(self, method: str | None = None, path: str | None = None,
                 watch: bool | None = None) -> list[RequestRecord]:
        """Logged requests filtered by method, path regex and whether they were watches."""
        return [r for r in self.request_log
                if (method is None or r.method == method.upper())
                and (path is None or re.search(path, r.path) is not None)
                and (watch is None or r.watch == watch)]

    def inject_fault(self, status: int = 500, *, method: str | None = None, path: str | None = None,
                     count: int = 1, reason: str | None = None, message: str = "injected fault",
                     delay: float = 0.0) -> Fault:
        """Make the next ``count`` matching requests fail with ``status`` (after ``delay`` seconds)."""
        reasons = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
                   410: "Expired", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                   504: "Timeout"}
        fault = Fault(status, method, path, count, reason or reasons.get(status, "InternalError"), message, delay)
        with self._log_lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._log_lock:
            self._faults.clear()
