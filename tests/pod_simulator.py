"""A kubelet and controller-manager stand-in for the emulated Kubernetes API server.

It turns the Deployments and Jobs that helm installs into Pods (as the Deployment and Job
controllers do: replicas, parallelism, replacement of lost pods, a Job's backoffLimit) and keeps
their status as those controllers do (:mod:`tests.k8s.workloads`). As the scheduler and kubelet
it binds each Pod to one Node (this machine), runs its real container command
(``ray start ...`` from charts/ray-cluster) as a local process whose output streams to the API
server's log endpoint, moves the Pod through Pending -> Running -> Ready by running its real exec
readiness probes (Succeeded or Failed when the container ends, under ``restartPolicy`` Never or
OnFailure), and records the Events those components record (Scheduled, Pulled, Created, Started,
Killing, SuccessfulCreate, BackoffLimitExceeded...). It gives LoadBalancer Services an external
address. Containers are not restarted, and a Deployment owns its Pods directly (no ReplicaSet).

The kubelet part runs every Pod it is given, whoever made it (a Job, KubeRay's operator, kubectl):
a shell command line (``bash -c "ulimit ...; ray start ..."``, as KubeRay writes it), ``$(VAR)``
expanded from the container's environment, downward-API fields (``metadata.labels['...']``),
Secret and ConfigMap volumes (written as files under a private directory; a mount path in the
environment, the command or a shell script is moved there), and a Pod's further containers as
sidecars (KubeRay's autoscaler). Every container gets the API server's ``KUBERNETES_SERVICE_*``
address and, for a Pod that names a service account, that account's identity as a client
certificate and a ``KUBECONFIG`` (see :meth:`PodSimulator._in_cluster_environment`).
Everything stays on loopback:

- each Pod gets its own address in 127.0.0.0/8, as it would get its own pod IP (Ray treats
  every loopback address but 127.0.0.1 as a real node address, so several nodes can share this
  machine without Ray's single-machine mode);
- Ray binds some ports on all interfaces, so the ports in a Pod's command are mapped to free
  ones, and ``service-name:port`` (or ``name.namespace.svc.cluster.local:port``) in a command
  or probe, and ``http(s)://service[:port]`` in an argument, a shell script or an environment
  value, resolves as the cluster DNS and kube-proxy would (other hosts are left alone):
  ``http(s)://service`` to the Service's own loopback address, where a TCP forwarder passes each
  connection to a ready Pod behind it, or refuses it while there is none (a container that names
  a Service in a URL starts at once, and its client retries, as on a real cluster);
  ``service:port`` in a command to the backing Pod's address and mapped port, once a Pod behind
  the Service has started (up to 120 s: Ray retries the head's name until it resolves); a
  sidecar's ``ray kuberay-autoscaler`` gets its own Pod's GCS address, as the Pod's shared network
  gives it;
- a LoadBalancer Service gets its own loopback address, on which a TCP forwarder listens on the
  Service's port and passes connections to a ready backing Pod;
- a port-forward through the API server (kr8s's ``PortForward``) reaches a running Pod's port as
  the kubelet would: the emulator asks :meth:`PodSimulator.port_forward_address` where it is.

As the TTL-after-finished controller, it deletes finished Jobs ``ttlSecondsAfterFinished`` after
their end (:mod:`tests.k8s.ttl_after_finished`).

Probes run every second rather than every ``periodSeconds``, to keep the tests quick.
Faults are injected per component (``head``/``worker``) with :meth:`PodSimulator.inject`.
"""

from __future__ import annotations

import base64
import collections
import functools
import itertools
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.k8s import workloads
from tests.k8s.emulator import Event, KubernetesEmulator
from tests.k8s.events import NORMAL, WARNING, EventRecorder
from tests.k8s.ttl_after_finished import TtlAfterFinishedController

log = logging.getLogger(__name__)

COMPONENT = "app.kubernetes.io/component"
# the workload controllers the simulator plays, by kind
WORKLOADS = {"Deployment": "deployments", "Job": "jobs"}
FAULTS = ("unschedulable", "image_pull", "crash_loop", "never_ready", "broken_image")
# what a container of an image without the program it is told to run does ("broken_image")
BROKEN_IMAGE = [sys.executable, "-c", "import sys; sys.exit(\"python: No module named aframe_tune (the image's)\")"]
NODE = "emulated-node"  # the one node every pod is bound to: this machine
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# a URL's scheme and host (lower case, as DNS names are) and port, not the host's prefix alone
_URL = re.compile(r"\b(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d+))?(?![\w.:-])")
DEFAULT_PORTS = {"http": 80, "https": 443}
# a shell script's statement separators: ``;``, ``&&``, and ``&`` that sends a command to the
# background (not the ``&`` of a redirection such as ``2>&1`` or ``&>``)
_SHELL_SEPARATOR = re.compile(r"(;|&&|(?<![<>&|])&(?![&>]))")
_SIMPLE_COMMAND = re.compile(r"[\w./=:,@%+-]+(?:\s+[\w./=:,@%+-]+)*")
# A Ray node's container runs in a PID namespace of its own, as every container does: Ray finds
# "its" node by scanning the processes it can see for raylets (ray.init() without a node address,
# as the job agent connects to serve a job's log), and where it sees several it takes the head's.
# Pods sharing this machine's process table made a worker's job agent read the head's files.
# unshare forwards no signal but waits for the namespace's first process, whose process group
# (the container's) the simulator signals.
PID_NAMESPACE = ["unshare", "--pid", "--fork", "--mount-proc"]
RAY_AGENT_LISTEN_PORT = 52365  # `ray start --dashboard-agent-listen-port`, by default


# Pod and LoadBalancer addresses: the second octet comes from the process id, so test runs on
# one machine never share an address; the counter is global, so no two simulators of one run do.
_OCTET = 16 + os.getpid() % 200
_ADDRESSES = itertools.count(1)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def next_address() -> str:
    n = next(_ADDRESSES)
    return f"127.{_OCTET}.{n // 250 % 250}.{n % 250 + 2}"


# the ports free_port handed out: a probe's port, once closed, may be the OS's next answer too
_HANDED_OUT: set[int] = set()
_PORTS_LOCK = threading.Lock()


def free_port() -> int:
    """A port free now that no earlier call returned: two of a pod's ports mapped onto one made
    its Ray head fail to start (dashboard and dashboard agent on the same port)."""
    with _PORTS_LOCK:
        while True:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


@dataclass
class RunningPod:
    """A Pod the simulator runs: its address, port map and container process."""

    namespace: str
    name: str
    component: str
    ip: str
    ports: dict[int, int] = field(default_factory=dict)  # container port -> real port
    named_ports: dict[str, int] = field(default_factory=dict)  # port name -> container port
    process: subprocess.Popen | None = None
    temp_dir: Path | None = None
    ready: bool = False
    stopped: threading.Event = field(default_factory=threading.Event)
    argv_log: list[list[str]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # the Pod as created (for its uid, spec, events)
    container: str = ""  # the pod's first container, whose readiness is the pod's
    started_at: str = ""
    sidecars: list[subprocess.Popen] = field(default_factory=list)  # the pod's other containers
    in_cluster: dict[str, str] | None = None  # the API server's address and the account's credentials

    @property
    def field_path(self) -> str:
        """How events name the container (``spec.containers{ray}``)."""
        return f"spec.containers{{{self.container}}}"


class TcpForwarder:
    """Listens on ``(ip, port)`` and pipes each connection to ``backend()``'s address."""

    def __init__(self, ip: str, port: int, backend) -> None:
        self.backend = backend
        self.ip = ip
        self.server = socket.create_server((ip, port))
        self.server.settimeout(0.5)
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name=f"lb-{ip}:{port}").start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            target = self.backend()
            if target is None:
                client.close()
                continue
            try:
                upstream = socket.create_connection(target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed.set()
        self.server.close()


class PodSimulator:
    """Runs the Pods of every Deployment and Job in the emulator as local processes.

    Args:
        emulator: the API server whose objects are simulated.
        base_env: environment every container process starts from (PATH, PYTHONPATH, ...).
    """

    def __init__(self, emulator: KubernetesEmulator, base_env: dict[str, str] | None = None) -> None:
        self.emulator = emulator
        self.base_env = base_env or {}
        self.pods: dict[tuple[str, str], RunningPod] = {}
        self.faults: dict[str, str] = {}
        self.balancers: dict[tuple[str, str], TcpForwarder] = {}
        # each Service's cluster address, per port, as URLs in containers name them
        self.cluster_ips: dict[tuple[str, str], dict[int, TcpForwarder]] = {}
        self._lock = threading.RLock()
        self._unsubscribe = None
        self._stopping = threading.Event()
        self._started: list[RunningPod] = []
        self._argv_history: list[list[str]] = []
        self.log_dir = Path(tempfile.mkdtemp(prefix="pods-"))
        # the uids of each Job's ended pods, by (namespace, job)
        self._job_succeeded: collections.defaultdict[tuple[str, str], set[str]] = collections.defaultdict(set)
        self._job_failed: collections.defaultdict[tuple[str, str], set[str]] = collections.defaultdict(set)
        self._removed_by_controller: dict[tuple[str, str], bool] = {}
        self.kubelet_events = EventRecorder(emulator, "kubelet", NODE)
        self.scheduler_events = EventRecorder(emulator, "default-scheduler")
        # no ReplicaSets here: a Deployment's pods are its own, so its controller's events are on it
        self.controller_events = {"Deployment": EventRecorder(emulator, "replicaset-controller"),
                                  "Job": EventRecorder(emulator, "job-controller")}
        self.ttl_after_finished = TtlAfterFinishedController(emulator)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PodSimulator:
        if self.emulator.get("nodes", None, NODE) is None:
            self.emulator.create("nodes", None, _node())
        self._unsubscribe = self.emulator.subscribe(self._on_event, [*WORKLOADS.values(), "pods", "services"])
        self.emulator.port_forward_resolver = self.port_forward_address
        self.ttl_after_finished.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.ttl_after_finished.stop()
        if self._unsubscribe:
            self._unsubscribe()
        if self.emulator.port_forward_resolver == self.port_forward_address:  # ours, not a later simulator's
            self.emulator.port_forward_resolver = None
        # every pod ever started, including those whose deletion is still being handled; killed
        # outright: nothing watches a graceful end any more, and a container whose first process
        # ignores SIGTERM (``ray start --block`` as its namespace's init) would use the whole grace
        stoppers = [threading.Thread(target=self._stop_pod, args=(pod, signal.SIGKILL)) for pod in list(self._started)]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for forwarder in [*self.balancers.values(), *(f for ports in self.cluster_ips.values() for f in ports.values())]:
            forwarder.close()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> PodSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def port_forward_address(self, namespace: str, name: str, port: int) -> tuple[str, int] | None:
        """Where a port-forward to a Pod's container ``port`` connects, as the kubelet would find it: the
        Pod's address and real port while its container runs; None when the Pod is not running here or
        declares no such port (Ray binds some ports on all interfaces, so an undeclared one on the Pod's
        address could be another Pod's process)."""
        with self._lock:
            pod = self.pods.get((namespace, name))
        if pod is None or pod.stopped.is_set() or pod.process is None or pod.process.poll() is not None:
            return None
        if port not in pod.ports and port not in _container_ports(pod.raw):
            return None
        return pod.ip, pod.ports.get(port, port)

    def inject(self, component: str, fault: str | None) -> None:
        """Make new Pods of ``component`` fail in one of :data:`FAULTS` ways (None: heal)."""
        assert fault in FAULTS or fault is None, fault
        if fault is None:
            self.faults.pop(component, None)
        else:
            self.faults[component] = fault

    def kill_pod(self, component: str) -> str:
        """Kill a running Pod of ``component`` like a node failure: process gone, Pod deleted."""
        with self._lock:
            pod = next(p for p in self.pods.values() if p.component == component and p.process)
        self._stop_pod(pod, signal.SIGKILL)
        self.emulator.delete("pods", pod.namespace, pod.name)
        return pod.name

    def failure_report(self, tail: int = 3000) -> str:
        """The end of every pod's output, and the Ray client server and process-exit logs."""
        for pod in list(self._started):
            self._keep_ray_logs(pod)
        parts = []
        for path in sorted(self.log_dir.glob("*.log")) + sorted(self.log_dir.glob("*-ray/ray_client_server*")) \
                + sorted(self.log_dir.glob("*-ray/ray_process_exit.log")):
            text = path.read_text(errors="replace").strip()
            parts.append(f"--- {path.relative_to(self.log_dir)}\n{text[-tail:]}")
        return "\n".join(parts)

    def argv_history(self) -> list[list[str]]:
        """Every command line the simulator has started, including those of deleted pods."""
        return list(self._argv_history)

    def processes(self) -> list[subprocess.Popen]:
        return [p.process for p in self.pods.values() if p.process is not None]

    # ------------------------------------------------------------------ events

    def _on_event(self, event) -> None:
        kind = event.resource.kind
        try:
            if kind in WORKLOADS and event.type != "DELETED":
                self._later(self._reconcile, event.namespace, kind, event.name)
            elif kind == "Pod" and event.type == "DELETED":
                pod = self.pods.pop((event.namespace, event.name), None)
                if pod is not None:
                    self.kubelet_events.record(event.object, NORMAL, "Killing", f"Stopping container {pod.container}",
                                               pod.field_path)
                    self._later(self._stop_pod, pod)
                self.emulator.pod_logs.forget(event.namespace, event.name)
                owner = self._owner(event.object)
                if owner:
                    removed = self._removed_by_controller.pop((event.namespace, event.name), False)
                    if owner[0] == "Job" and not removed and workloads.is_live(event.object):
                        # a Job counts a pod lost before it ended as failed
                        self._job_failed[(event.namespace, owner[1])].add(event.object["metadata"]["uid"])
                    self._later(self._reconcile, event.namespace, *owner)
            elif kind == "Pod":
                if event.type == "ADDED":
                    self._admit_pod(event.object)
                owner = self._owner(event.object)
                if owner and _status_changed(event):  # the owner's status counts its pods' states
                    self._later(self._reconcile, event.namespace, *owner)
            elif kind == "Service" and event.type == "ADDED":
                if (event.object.get("spec") or {}).get("type") == "LoadBalancer":
                    self._balance(event.namespace, event.object)
            elif kind == "Service" and event.type == "DELETED":
                forwarder = self.balancers.pop((event.namespace, event.name), None)
                for closed in [forwarder, *self.cluster_ips.pop((event.namespace, event.name), {}).values()]:
                    if closed is not None:
                        closed.close()
        except Exception:  # a simulator bug must not kill the emulator's dispatcher
            log.exception("pod simulator failed on %s %s", event.type, event.name)

    def _admit_pod(self, raw: dict[str, Any]) -> None:
        """Run a new Pod, whoever made it (a Job, KubeRay's operator, kubectl), as the kubelet of the
        node it is bound to does."""
        with self._lock:
            known = (raw["metadata"]["namespace"], raw["metadata"]["name"]) in self.pods
        if not known and not self._stopping.is_set():
            threading.Thread(target=self._run_pod, args=(raw,), daemon=True, name=f"pod-{raw['metadata']['name']}").start()

    @staticmethod
    def _later(target, *args: Any) -> None:
        threading.Thread(target=target, args=args, daemon=True).start()

    @staticmethod
    def _owner(pod: dict[str, Any]) -> tuple[str, str] | None:
        for reference in (pod.get("metadata") or {}).get("ownerReferences") or []:
            if reference.get("kind") in WORKLOADS and reference.get("controller"):
                return reference["kind"], reference["name"]
        return None

    def _reconcile(self, namespace: str, kind: str, name: str) -> None:
        """Create or delete Pods until the workload has as many live ones as it wants (a Deployment
        ``spec.replicas``; a Job see :func:`workloads.job_wants`), then write its status."""
        with self._lock:
            workload = self.emulator.get(WORKLOADS[kind], namespace, name)
            if workload is None or workload["metadata"].get("deletionTimestamp"):
                return
            owned = [p for p in self.emulator.list("pods", namespace) if self._owner(p) == (kind, name)]
            live = [p for p in owned if workloads.is_live(p)]
            if kind == "Deployment":
                wanted = int(workload["spec"].get("replicas", 1))
            else:
                succeeded, failed = self._job_counts(workload, owned)
                wanted = workloads.job_wants(workload, succeeded, failed)
            recorder = self.controller_events[kind]
            for _ in range(wanted - len(live)):
                live.append(self._create_pod(workload))
                recorder.record(workload, NORMAL, "SuccessfulCreate", f"Created pod: {live[-1]['metadata']['name']}")
            for extra in live[wanted:]:
                self._removed_by_controller[(namespace, extra["metadata"]["name"])] = True
                self.emulator.delete("pods", namespace, extra["metadata"]["name"])
                recorder.record(workload, NORMAL, "SuccessfulDelete", f"Deleted pod: {extra['metadata']['name']}")
            live = live[:max(wanted, 0)]
            if kind == "Deployment":
                status = workloads.deployment_status(workload, live)
            else:
                status = workloads.job_status(workload, live, succeeded, failed)
                self._job_events(workload, status)
            self.emulator.update_status(WORKLOADS[kind], namespace, name, status, merge=False)

    def _job_counts(self, job: dict[str, Any], owned: list[dict[str, Any]]) -> tuple[int, int]:
        """Succeeded and failed pods of a Job, remembered by uid (the real controller's finalizers
        keep a pod until it is counted; here the counts outlive the pods)."""
        key = (job["metadata"]["namespace"], job["metadata"]["name"])
        for pod in owned:
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Succeeded":
                self._job_succeeded[key].add(pod["metadata"]["uid"])
            elif phase == "Failed":
                self._job_failed[key].add(pod["metadata"]["uid"])
        return len(self._job_succeeded[key]), len(self._job_failed[key])

    def _job_events(self, job: dict[str, Any], status: dict[str, Any]) -> None:
        """The events of a Job's end, once."""
        before = {c["type"] for c in (job.get("status") or {}).get("conditions") or []}
        after = {c["type"] for c in status.get("conditions") or []}
        recorder = self.controller_events["Job"]
        if "Failed" in after - before:
            recorder.record(job, WARNING, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        if "Complete" in after - before:
            recorder.record(job, NORMAL, "Completed", "Job completed")

    def _create_pod(self, workload: dict[str, Any]) -> dict[str, Any]:
        template = workload["spec"]["template"]
        metadata = workload["metadata"]
        name = f"{metadata['name']}-{secrets.token_hex(4)}-{secrets.token_hex(2)}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": metadata["namespace"],
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "ownerReferences": [{
                    "apiVersion": workload["apiVersion"], "kind": workload["kind"], "name": metadata["name"],
                    "uid": metadata["uid"], "controller": True, "blockOwnerDeletion": True,
                }],
            },
            "spec": template["spec"],
            "status": {"phase": "Pending", "conditions": []},
        }
        # the kubelet part runs it, as it runs every pod bound to this node (see _on_event)
        return self.emulator.create("pods", metadata["namespace"], pod)

    # ------------------------------------------------------------------ kubelet

    def _status(self, pod: RunningPod, **status: Any) -> None:
        if self.emulator.get("pods", pod.namespace, pod.name) is not None:
            self.emulator.update_status("pods", pod.namespace, pod.name, status)

    def _condition(self, pod: RunningPod, kind: str, value: bool, reason: str | None = None,
                   message: str | None = None) -> None:
        if self.emulator.get("pods", pod.namespace, pod.name) is not None:
            self.emulator.set_condition("pods", pod.namespace, pod.name, kind, value, reason, message)

    def _ready(self, pod: RunningPod, value: bool, reason: str | None = None) -> None:
        """The containers' readiness and the pod's, as the kubelet sets them together."""
        for kind in ("ContainersReady", "Ready"):
            self._condition(pod, kind, value, None if value else reason or "ContainersNotReady",
                            None if value else f"containers with unready status: [{pod.container}]")

    def _container(self, pod: RunningPod, container: dict, state: dict, **more: Any) -> None:
        self._status(pod, containerStatuses=[workloads.container_status(pod.raw, container, state, **more)])

    def _run_pod(self, raw: dict[str, Any]) -> None:
        metadata = raw["metadata"]
        component = (metadata.get("labels") or {}).get(COMPONENT, "?")
        container = raw["spec"]["containers"][0]
        pod = RunningPod(metadata["namespace"], metadata["name"], component, next_address(), raw=raw,
                         container=container["name"])
        with self._lock:
            self.pods[(pod.namespace, pod.name)] = pod
            self._started.append(pod)
        fault = self.faults.get(component)
        if fault == "unschedulable":
            message = ("0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 "
                       "nodes are available: 1 No preemption victims found for incoming pod.")
            self._condition(pod, "PodScheduled", False, "Unschedulable", message)
            self.scheduler_events.record(raw, WARNING, "FailedScheduling", message)
            return
        self._schedule(pod)
        if fault in ("image_pull", "crash_loop"):
            return self._fail_container(pod, container, fault)
        pod.named_ports = {p["name"]: p["containerPort"] for p in container.get("ports") or [] if "name" in p}
        try:
            env, argv = self._prepare(pod, container)
        except MissingObject as missing:
            self._container(pod, container, {"waiting": {"reason": "CreateContainerConfigError",
                                                         "message": str(missing)}})
            self.kubelet_events.record(raw, WARNING, "Failed", f"Error: {missing}", pod.field_path)
            return
        if fault == "broken_image":  # the image lacks the program: it runs, and exits 1 at once
            argv = BROKEN_IMAGE
        pod.argv_log.append(argv)
        self._argv_history.append(argv)
        if pod.stopped.is_set() or self._stopping.is_set():
            return  # deleted, or the simulator stopped, while it was being set up
        self._start_container(pod, container, argv, env)
        self._start_sidecars(pod)
        if fault != "never_ready":
            self._probe_until_ready(pod, container, env)
        pod.process.wait()
        if not pod.stopped.is_set():  # the container ended on its own
            self._container_ended(pod, container)

    def _schedule(self, pod: RunningPod) -> None:
        """The scheduler binds the pod to the node; the kubelet gives it its address and start time."""
        self.emulator.patch("pods", pod.namespace, pod.name, {"spec": {"nodeName": NODE}})
        self._condition(pod, "PodScheduled", True)
        self.scheduler_events.record(pod.raw, NORMAL, "Scheduled",
                                     f"Successfully assigned {pod.namespace}/{pod.name} to {NODE}")
        self._status(pod, podIP=pod.ip, podIPs=[{"ip": pod.ip}], hostIP="127.0.0.1", hostIPs=[{"ip": "127.0.0.1"}],
                     startTime=_now())
        for kind in ("PodReadyToStartContainers", "Initialized"):
            self._condition(pod, kind, True)
        self._ready(pod, False)

    def _fail_container(self, pod: RunningPod, container: dict, fault: str) -> None:
        """A container that never runs: its image cannot be pulled, or it keeps crashing."""
        image, events = container.get("image", ""), self.kubelet_events
        if fault == "image_pull":
            events.record(pod.raw, NORMAL, "Pulling", f'Pulling image "{image}"', pod.field_path)
            events.record(pod.raw, WARNING, "Failed", f'Failed to pull image "{image}": not found', pod.field_path)
            for reason in ("ErrImagePull", "ImagePullBackOff"):
                self._container(pod, container, {"waiting": {"reason": reason,
                                                             "message": f'Back-off pulling image "{image}"'}})
                time.sleep(0.5)
            events.record(pod.raw, NORMAL, "BackOff", f'Back-off pulling image "{image}"', pod.field_path)
            return
        self._status(pod, phase="Running")
        self._container(pod, container, {"waiting": {"reason": "CrashLoopBackOff",
                                                     "message": "back-off 40s restarting failed container"}},
                        restarts=3)
        events.record(pod.raw, WARNING, "BackOff", f"Back-off restarting failed container {pod.container} in pod "
                      f"{pod.name}_{pod.namespace}({pod.raw['metadata']['uid']})", pod.field_path)

    def _start_container(self, pod: RunningPod, container: dict, argv: list[str], env: dict[str, str]) -> None:
        """Run the container's command; its output goes to the log endpoint (and a file, for failure reports)."""
        events = self.kubelet_events
        events.record(pod.raw, NORMAL, "Pulled", f'Container image "{container.get("image", "")}" already present '
                      "on machine", pod.field_path)
        events.record(pod.raw, NORMAL, "Created", f"Created container: {pod.container}", pod.field_path)
        self.emulator.pod_logs.start(pod.namespace, pod.name, pod.container)
        if pod.temp_dir is not None:  # a Ray node: see PID_NAMESPACE
            argv = [*pid_namespace(), *argv]
        pod.process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=str(REPO))
        threading.Thread(target=self._pump_output, args=(pod, pod.process, pod.container), daemon=True,
                         name=f"log-{pod.name}").start()
        pod.started_at = _now()
        events.record(pod.raw, NORMAL, "Started", f"Started container {pod.container}", pod.field_path)
        self._status(pod, phase="Running")
        self._container(pod, container, {"running": {"startedAt": pod.started_at}})

    def _start_sidecars(self, pod: RunningPod) -> None:
        """Run the pod's other containers (KubeRay's autoscaler, say) next to its first one. They
        share its network, as containers of a pod do: ports of the first container are theirs too."""
        for container in pod.raw["spec"]["containers"][1:]:
            try:
                env, argv = self._prepare(pod, container)
            except MissingObject:
                continue  # a missing Secret or ConfigMap: the container cannot start (the first one reports it)
            pod.argv_log.append(argv)
            self._argv_history.append(argv)
            self.emulator.pod_logs.start(pod.namespace, pod.name, container["name"])
            process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=str(REPO))
            pod.sidecars.append(process)
            threading.Thread(target=self._pump_output, args=(pod, process, container["name"]), daemon=True,
                             name=f"log-{pod.name}-{container['name']}").start()

    def _in_cluster_environment(self, pod: RunningPod) -> dict[str, str]:
        """What a pod's containers have to reach the API server: the kubelet's ``KUBERNETES_SERVICE_*``
        variables and, for a pod that names a service account, that account's credentials.

        A real kubelet mounts the account's token at /var/run/secrets/kubernetes.io/serviceaccount,
        a fixed path (Ray's KubeRay node provider and every in-cluster client read it by that name);
        one machine cannot give each process its own file there, so the account gets a client
        certificate from the cluster's CA instead, passed two ways: by the variables Ray's node
        provider reads for one (``RAY_KUBERAY_CLIENT_*``), and as a kubeconfig in ``KUBECONFIG``,
        which clients (kr8s, kubectl, the official client) use before the in-cluster path when it
        is set. Made once per pod: its containers share the identity."""
        if pod.in_cluster is None:  # a pod's containers are prepared one after the other, in its thread
            env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.emulator.port),
                   "KUBERNETES_SERVICE_PORT_HTTPS": str(self.emulator.port)}
            account = pod.raw["spec"].get("serviceAccountName")
            if account and self.emulator.tls:
                env.update(self._service_account(pod, account))
            pod.in_cluster = env
        return dict(pod.in_cluster)

    def _service_account(self, pod: RunningPod, account: str) -> dict[str, str]:
        """Write the account's certificate, key, the cluster CA, its namespace and a kubeconfig that
        uses them (context namespace: the pod's, as the in-cluster config has it); their variables."""
        cert, key = self.emulator.client_certificate(f"system:serviceaccount:{pod.namespace}:{account}",
                                                     ("system:serviceaccounts",))
        folder = self.log_dir / "volumes" / pod.name / "serviceaccount"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"system:serviceaccount:{pod.namespace}:{account}"
        kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "current-context": "in-cluster", "preferences": {},
            "clusters": [{"name": "in-cluster", "cluster": {"server": f"https://127.0.0.1:{self.emulator.port}",
                                                            "certificate-authority": str(folder / "ca.crt")}}],
            "users": [{"name": name, "user": {"client-certificate": str(folder / "tls.crt"),
                                              "client-key": str(folder / "tls.key")}}],
            "contexts": [{"name": "in-cluster", "context": {"cluster": "in-cluster", "user": name,
                                                            "namespace": pod.namespace}}]}
        for file, content in (("tls.crt", cert), ("tls.key", key), ("ca.crt", self.emulator.ca_pem),
                              ("namespace", pod.namespace.encode()),
                              ("kubeconfig", json.dumps(kubeconfig, indent=1).encode())):  # JSON is YAML
            (folder / file).write_bytes(content)
            (folder / file).chmod(0o600)
        return {"RAY_KUBERAY_CLIENT_CERT_PATH": str(folder / "tls.crt"),
                "RAY_KUBERAY_CLIENT_KEY_PATH": str(folder / "tls.key"),
                "RAY_KUBERAY_CA_CERT_PATH": str(folder / "ca.crt"), "KUBECONFIG": str(folder / "kubeconfig")}

    def _pump_output(self, pod: RunningPod, process: subprocess.Popen, container: str) -> None:
        """Copy a container's output, as it comes, to the log endpoint and to its file."""
        logs = self.emulator.pod_logs
        suffix = "" if container == pod.container else f".{container}"
        with open(self.log_dir / f"{pod.name}{suffix}.log", "wb") as copy:
            while chunk := process.stdout.read1(65536):
                copy.write(chunk)
                copy.flush()
                logs.append(pod.namespace, pod.name, container, chunk)
        logs.close(pod.namespace, pod.name, container)

    def _probe_until_ready(self, pod: RunningPod, container: dict, env: dict[str, str]) -> None:
        probe = ((container.get("readinessProbe") or {}).get("exec") or {}).get("command")
        while not pod.stopped.is_set() and pod.process.poll() is None:
            if probe is None or subprocess.run(self._rewrite(pod, _expand(probe, env), new_ports=False), env=env,
                                               capture_output=True, timeout=60).returncode == 0:
                pod.ready = True
                self._container(pod, container, {"running": {"startedAt": pod.started_at}}, ready=True)
                self._ready(pod, True)
                return
            time.sleep(1.0)

    def _container_ended(self, pod: RunningPod, container: dict) -> None:
        """The kubelet's view of a container that exited: under ``restartPolicy`` Never (or OnFailure
        after a success) the pod ends Succeeded or Failed. Otherwise a real kubelet would restart it;
        the simulator does not restart containers, so it stays terminated in a Running, unready pod."""
        pod.ready = False
        code = pod.process.returncode
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                      "startedAt": pod.started_at, "finishedAt": _now(),
                      "containerID": workloads.container_id(pod.raw["metadata"]["uid"], pod.container, 0)}
        policy = pod.raw["spec"].get("restartPolicy", "Always")
        ends = policy == "Never" or (policy == "OnFailure" and code == 0)
        self._container(pod, container, {"terminated": terminated})
        self._ready(pod, False, "PodCompleted" if ends else "ContainersNotReady")
        if ends:
            self._status(pod, phase="Succeeded" if code == 0 else "Failed")

    def _prepare(self, pod: RunningPod, container: dict) -> tuple[dict[str, str], list[str]]:
        """A container's environment and command line as this machine runs them: its volumes written
        as files (paths under a mount path moved to them, see :func:`_relocate`), ``$(VAR)`` expanded,
        and ports, Service names and URLs mapped (:meth:`_rewrite_command`, :meth:`_map_urls`).

        Raises :class:`MissingObject` when a Secret or ConfigMap it needs is not there."""
        mounts = self._mount_volumes(pod, container)
        env = {name: self._map_urls(pod, _relocate(value, mounts))
               for name, value in self._environment(pod, container).items()}
        # the mount paths written in the command itself (the file a real container would open)
        command = [_relocate(arg, mounts) for arg in container.get("command", []) + container.get("args", [])]
        return env, self._rewrite_command(pod, _expand(command, env))

    def _environment(self, pod: RunningPod, container: dict) -> dict[str, str]:
        """The base environment, the API server's address and account (every container of a real pod
        gets ``KUBERNETES_SERVICE_*``), then the container's own ``env``, which wins as on a kubelet."""
        env = {**self.base_env, **self._in_cluster_environment(pod)}
        for entry in container.get("env") or []:
            if "value" in entry:
                env[entry["name"]] = str(entry["value"])
            elif "fieldRef" in (entry.get("valueFrom") or {}):
                env[entry["name"]] = self._field(pod, entry["valueFrom"]["fieldRef"]["fieldPath"])
            elif "secretKeyRef" in (entry.get("valueFrom") or {}):
                reference = entry["valueFrom"]["secretKeyRef"]
                secret = self.emulator.get("secrets", pod.namespace, reference["name"])
                if secret is None or reference["key"] not in (secret.get("data") or {}):
                    raise MissingObject(f'secret "{reference["name"]}" not found')
                env[entry["name"]] = base64.b64decode(secret["data"][reference["key"]]).decode()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
        return env

    def _field(self, pod: RunningPod, path: str) -> str:
        """The downward API's value of ``fieldPath`` for the pod."""
        raw = self.emulator.get("pods", pod.namespace, pod.name) or {"metadata": {}}
        metadata = raw["metadata"]
        label = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if label:
            return (metadata.get(label.group(1)) or {}).get(label.group(2), "")
        simple = {"metadata.name": pod.name, "metadata.namespace": pod.namespace, "status.podIP": pod.ip,
                  "metadata.uid": metadata.get("uid", ""), "spec.nodeName": NODE}
        return simple.get(path, "")

    def _rewrite_command(self, pod: RunningPod, argv: list[str]) -> list[str]:
        """:meth:`_rewrite`, also inside a shell script (``bash -c -- "ulimit ...; ray start ..."``, as
        KubeRay writes it, or ``bash -ce``, as its RayJob submitter does): each ``ray ...`` statement
        of the script is rewritten, and a Service's URL anywhere in it mapped (:meth:`_map_urls`)."""
        if len(argv) >= 3 and Path(argv[0]).name in ("bash", "sh") and re.fullmatch(r"-[a-z]*c[a-z]*", argv[1]):
            at = 3 if argv[2] == "--" and len(argv) > 3 else 2  # the script; after it come $0, $1...
            statements = _SHELL_SEPARATOR.split(argv[at])
            script = "".join(self._rewrite_statement(pod, part) for part in statements)
            return [*argv[:at], self._map_urls(pod, script), *self._rewrite(pod, argv[at + 1:], new_ports=False)]
        return self._rewrite(pod, argv)

    def _rewrite_statement(self, pod: RunningPod, statement: str) -> str:
        """One statement of a shell script: ``ray ...`` as :meth:`_rewrite` does a command; in any
        other simple command (plain words only), Service names (``svc:port``) resolved, as the
        cluster DNS would; shell syntax (variables, quotes, redirections) left as it is."""
        if statement.strip().startswith("ray "):
            return f" {shlex.join(self._rewrite(pod, shlex.split(statement)))} "
        if _SIMPLE_COMMAND.fullmatch(statement.strip()):
            return f" {shlex.join(self._rewrite(pod, statement.split(), new_ports=False))} "
        return statement

    def _map_urls(self, pod: RunningPod, text: str) -> str:
        """Each ``http(s)://service[:port]`` in ``text`` -> the Service's cluster address (see
        :meth:`_cluster_address`; the port defaults to 80/443), the path kept. Hosts that are not
        Services in the emulator (127.0.0.1, an S3 endpoint) stay as they are."""
        def one(match: re.Match[str]) -> str:
            scheme, host, port = match.group(1), match.group(2), match.group(3)
            address = self._cluster_address(pod.namespace, host, int(port or DEFAULT_PORTS[scheme]))
            return f"{scheme}://{address[0]}:{address[1]}" if address else match.group(0)
        return _URL.sub(one, text)

    def _service(self, namespace: str, host: str) -> tuple[str, dict[str, Any]] | None:
        """The Service a cluster DNS name (``name``, ``name.namespace[.svc[.cluster.local]]``) names."""
        dns = re.fullmatch(r"([a-z0-9-]+)(?:\.([a-z0-9-]+)(?:\.svc(?:\.cluster\.local)?)?)?", host)
        if dns is None:
            return None
        namespace = dns.group(2) or namespace
        service = self.emulator.get("services", namespace, dns.group(1))
        return (namespace, service) if service is not None else None

    def _cluster_address(self, namespace: str, host: str, port: int) -> tuple[str, int] | None:
        """kube-proxy's part: the Service's own address (made on first use, one per Service) and
        ``port``, where each connection goes to a ready Pod behind the Service; None for a host that
        is no Service."""
        found = self._service(namespace, host)
        if found is None:
            return None
        namespace, service = found
        key = (namespace, service["metadata"]["name"])
        with self._lock:
            ports = self.cluster_ips.setdefault(key, {})
            if port not in ports:
                ip = next(iter(ports.values())).ip if ports else next_address()
                target = next((p.get("targetPort", p["port"]) for p in (service.get("spec") or {}).get("ports") or []
                               if p["port"] == port), port)
                ports[port] = TcpForwarder(ip, port, lambda: self._endpoint(namespace, service, target))
            return ports[port].ip, port

    def _endpoint(self, namespace: str, service: dict[str, Any], target: int | str) -> tuple[str, int] | None:
        """A ready Pod behind ``service``: its address and the real port of ``target`` (a container
        port, or a port's name), or None while there is none."""
        selector = (service.get("spec") or {}).get("selector") or {}
        with self._lock:
            for pod in self.pods.values():
                raw = self.emulator.get("pods", pod.namespace, pod.name)
                labels = (raw or {}).get("metadata", {}).get("labels", {})
                if pod.ready and pod.namespace == namespace and all(labels.get(k) == v for k, v in selector.items()):
                    container_port = pod.named_ports.get(target, target) if isinstance(target, str) else target
                    return pod.ip, pod.ports.get(container_port, container_port)
        return None

    def _mount_volumes(self, pod: RunningPod, container: dict) -> dict[str, str]:
        """Write the Secret and ConfigMap volumes the container mounts as files, as the kubelet would,
        under a private directory (a real mount path such as /etc/config is this machine's, shared by
        every process); returns mount path -> local directory."""
        raw = self.emulator.get("pods", pod.namespace, pod.name) or {}
        volumes = {v["name"]: v for v in (raw.get("spec") or {}).get("volumes") or []}
        mounts = {}
        for mount in container.get("volumeMounts") or []:
            files = self._volume_files(pod, volumes.get(mount["name"]) or {})
            if files is None:
                continue  # not a Secret or ConfigMap (emptyDir, say): nothing to write
            local = self.log_dir / "volumes" / pod.name / mount["name"]
            local.mkdir(parents=True, mode=0o700, exist_ok=True)
            for relative, (content, mode) in files.items():
                path = local / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.unlink(missing_ok=True)  # a second container mounting it: the first made it read-only
                path.write_bytes(content)
                path.chmod(mode)
            mounts[mount["mountPath"]] = str(local)
        return mounts

    def _volume_files(self, pod: RunningPod, volume: dict[str, Any]) -> dict[str, tuple[bytes, int]] | None:
        """A ``secret`` or ``configMap`` volume's files: path -> (content, mode), every key of the object
        or only its ``items`` (``key``, ``path``, ``mode``), mode ``defaultMode`` (0644) otherwise.
        None for other volumes; a missing object or key raises :class:`MissingObject` unless the
        volume is ``optional`` (then the directory is empty or lacks that file, as on a kubelet)."""
        for kind, resource, name_field in (("secret", "secrets", "secretName"), ("configMap", "configmaps", "name")):
            source = volume.get(kind)
            if source is None:
                continue
            name = source.get(name_field, "")
            obj = self.emulator.get(resource, pod.namespace, name)
            if obj is None and not source.get("optional"):
                raise MissingObject(f'{kind.lower()} "{name}" not found')
            data = _volume_data(obj or {}, kind)
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            default_mode = source.get("defaultMode", 0o644)
            files = {}
            for item in items:
                if item["key"] in data:
                    files[item["path"]] = (data[item["key"]], item.get("mode", default_mode))
                elif obj is not None and not source.get("optional"):
                    raise MissingObject(f'{kind.lower()} "{name}" has no key "{item["key"]}"')
            return files
        return None

    def _resolve(self, namespace: str, host: str, port: int, wait_s: float = 120) -> tuple[str, int] | None:
        """``service:port`` -> the address and real port of a Pod behind the Service.

        ``host`` is a Service's name as the cluster DNS knows it (:meth:`_service`). Waits up to
        ``wait_s`` for such a Pod (as Ray retries the head's name until it resolves), so a container
        whose command names a Service starts only once a Pod behind it has started; None when
        ``host`` is no Service. A port the Pod's command did not name is served on the Pod's own
        address, once its container has started and its ports are known.
        """
        found = self._service(namespace, host)
        if found is None:
            return None
        namespace, service = found
        selector = (service.get("spec") or {}).get("selector") or {}
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with self._lock:
                for pod in self.pods.values():
                    raw = self.emulator.get("pods", pod.namespace, pod.name)
                    labels = (raw or {}).get("metadata", {}).get("labels", {})
                    if pod.namespace == namespace and all(labels.get(k) == v for k, v in selector.items()):
                        if port in pod.ports:
                            return pod.ip, pod.ports[port]
                        if pod.process is not None and port in _container_ports(pod.raw):
                            return pod.ip, port
            time.sleep(0.2)  # like a Ray worker retrying the head until its DNS name resolves
        return None

    def _rewrite(self, pod: RunningPod, argv: list[str], new_ports: bool = True) -> list[str]:
        """Map the command's ports and service names onto this machine (see the module docstring)."""
        out = []
        for arg in argv:
            match = re.fullmatch(r"(--(?:port|ray-client-server-port|dashboard-port|metrics-export-port"
                                 r"|dashboard-agent-listen-port))=(\d+)", arg)
            if match and new_ports:
                container_port = int(match.group(2))
                pod.ports[container_port] = free_port()
                out.append(f"{match.group(1)}={pod.ports[container_port]}")
                continue
            if arg.startswith("--dashboard-host="):
                out.append(f"--dashboard-host={pod.ip}")
                continue
            address = re.fullmatch(r"(--address=)?([a-z0-9.-]+):(\d+)", arg)
            if address:
                host, port = address.group(2), int(address.group(3))
                if host in ("127.0.0.1", "localhost"):
                    resolved = (pod.ip, pod.ports.get(port, port))
                else:
                    resolved = self._resolve(pod.namespace, host, port) or (host, port)
                out.append(f"{address.group(1) or ''}{resolved[0]}:{resolved[1]}")
                continue
            out.append(self._map_urls(pod, arg))  # ``--address http://head-svc:8265``, ``--url=http://...``
        if argv[:2] == ["ray", "kuberay-autoscaler"] and not any(a.startswith("--gcs-address") for a in argv) \
                and 6379 in pod.ports:
            # <node ip>:6379, its default, is the head container's GCS in the same pod's network
            out.append(f"--gcs-address={pod.ip}:{pod.ports[6379]}")
        if new_ports and argv[:2] == ["ray", "start"]:
            out.insert(2, f"--node-ip-address={pod.ip}")
            if not any(arg.startswith("--dashboard-agent-listen-port") for arg in argv):
                # Ray's job agent also listens on 127.0.0.1 at this port (52365 by default). Every
                # pod has a loopback of its own; here they share one, so without a port of its own
                # a second pod's agent cannot bind, exits, and the Jobs API of a head that lost the
                # race answers "No available agent" for ever.
                pod.ports[RAY_AGENT_LISTEN_PORT] = free_port()
                out.insert(3, f"--dashboard-agent-listen-port={pod.ports[RAY_AGENT_LISTEN_PORT]}")
            # Every pod has its own filesystem, so every Ray node its own temp dir: without one, a
            # worker node uses the head's, and the two nodes then delete and recreate each other's
            # files (unpacked runtime environments, log files) on this one machine. Short, because
            # Ray's Unix socket paths may not exceed 107 bytes. A restarted container starts
            # with a fresh filesystem: its last one's folder goes.
            if pod.temp_dir is not None:
                shutil.rmtree(pod.temp_dir, ignore_errors=True)
            pod.temp_dir = Path(tempfile.mkdtemp(prefix="rp", dir="/tmp"))
            out.insert(3, f"--temp-dir={pod.temp_dir}")
        if out and out[0] == "ray":
            out[0] = str(BIN / "ray")
        return out

    def _keep_ray_logs(self, pod: RunningPod) -> None:
        """Copy a pod's Ray logs out of its temp dir (removed with the pod) for failure reports."""
        temp_dir = pod.temp_dir
        logs = temp_dir / "session_latest" / "logs" if temp_dir else None
        if logs is not None and logs.is_dir():
            try:
                shutil.copytree(logs, self.log_dir / f"{pod.name}-ray", dirs_exist_ok=True,
                                ignore_dangling_symlinks=True, ignore=shutil.ignore_patterns("events"))
            except (shutil.Error, OSError):
                pass  # a log file rotated or removed while copying: these copies are diagnostics

    def _stop_pod(self, pod: RunningPod, sig: int = signal.SIGTERM) -> None:
        """Signal the pod's process group, give it a short grace (kubelet's default is 30 s),
        then SIGKILL whatever is left of the pod, so no Ray process outlives its pod.

        Ray's worker processes run in process groups of their own, so the pod's processes are
        found as descendants of its first one, as a container's end would take them all.
        """
        pod.stopped.set()
        for process in [*pod.sidecars, pod.process]:
            if process is not None:
                _end_process(process, sig)
        # a pod can be stopped twice at once (its deletion, the simulator's stop): clean up once
        with self._lock:
            temp_dir = pod.temp_dir
            if temp_dir is not None:
                self._keep_ray_logs(pod)
                pod.temp_dir = None
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)

    # ------------------------------------------------------------------ load balancers

    def _balance(self, namespace: str, service: dict[str, Any]) -> None:
        name = service["metadata"]["name"]
        ip = next_address()
        spec = service["spec"]
        for service_port in spec.get("ports") or []:
            target = service_port.get("targetPort", service_port["port"])

            def backend(target=target) -> tuple[str, int] | None:
                with self._lock:
                    for pod in self.pods.values():
                        raw = self.emulator.get("pods", pod.namespace, pod.name)
                        labels = (raw or {}).get("metadata", {}).get("labels", {})
                        if pod.ready and pod.namespace == namespace and all(
                                labels.get(k) == v for k, v in (spec.get("selector") or {}).items()):
                            container_port = pod.named_ports.get(target, target)
                            if container_port in pod.ports:
                                return pod.ip, pod.ports[container_port]
                return None

            self.balancers[(namespace, name)] = TcpForwarder(ip, service_port["port"], backend)
        self.emulator.update_status("services", namespace, name, {"loadBalancer": {"ingress": [{"ip": ip}]}})


class MissingObject(KeyError):
    """A Secret or ConfigMap (or one of its keys) a container needs is not there: the kubelet cannot
    start the container (CreateContainerConfigError). The message is the kubelet's."""

    def __str__(self) -> str:
        return str(self.args[0])


def _volume_data(obj: dict[str, Any], kind: str) -> dict[str, bytes]:
    """A Secret's ``data`` (base64) or a ConfigMap's ``data`` (text) and ``binaryData`` (base64), as bytes."""
    if kind == "secret":
        return {key: base64.b64decode(value) for key, value in (obj.get("data") or {}).items()}
    data = {key: str(value).encode() for key, value in (obj.get("data") or {}).items()}
    data.update({key: base64.b64decode(value) for key, value in (obj.get("binaryData") or {}).items()})
    return data


def _relocate(text: str, mounts: dict[str, str]) -> str:
    """``text`` with each path under a mount path moved to the local directory that holds the
    volume's files: a whole argument (``/etc/config/a.yaml``), a flag's value (``--config=/etc/config``)
    or a path inside a shell script or environment value. A mount path counts only as a whole path
    (not ``/etc/configs``, not ``x/etc/config``); one pass, so a local directory is never moved again."""
    paths = sorted((m.rstrip("/") for m in mounts if m.rstrip("/")), key=len, reverse=True)
    if not paths:
        return text
    local = {m.rstrip("/"): directory for m, directory in mounts.items()}
    pattern = rf"(?<![\w./-])({'|'.join(map(re.escape, paths))})(?=/|$|[^\w.-])"
    return re.sub(pattern, lambda match: local[match.group(1)], text)


def _expand(argv: list[str], env: dict[str, str]) -> list[str]:
    """The kubelet's expansion of ``$(VAR)`` in a command from the container's environment
    (``$$(VAR)`` stays literal; an unknown variable is left as written)."""
    def one(match: re.Match[str]) -> str:
        if match.group(0).startswith("$$"):
            return match.group(0)[1:]
        return env.get(match.group(1), match.group(0))
    return [re.sub(r"\$?\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, arg) for arg in argv]


def _container_ports(raw: dict[str, Any]) -> set[int]:
    """The ports every container of a Pod declares."""
    return {p["containerPort"] for c in raw["spec"]["containers"] for p in c.get("ports") or [] if "containerPort" in p}


def _status_changed(event: Event) -> bool:
    """Whether a pod's phase or conditions changed (what its controller's status counts)."""
    def view(obj: dict[str, Any] | None) -> Any:
        status = (obj or {}).get("status") or {}
        return status.get("phase"), [(c.get("type"), c.get("status")) for c in status.get("conditions") or []]
    return event.type == "ADDED" or view(event.object) != view(event.old)


def _node() -> dict[str, Any]:
    """This machine as the cluster's one Node, as its kubelet registers it."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": "amd64"}},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status",
                                       "lastHeartbeatTime": _now(), "lastTransitionTime": _now()}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                     {"type": "Hostname", "address": NODE}],
                       "nodeInfo": {"machineID": "0" * 32, "systemUUID": "0" * 32, "bootID": "0" * 32,
                                    "kernelVersion": os.uname().release, "osImage": "emulated",
                                    "containerRuntimeVersion": "containerd://1.7.24", "kubeletVersion": "v1.32.2",
                                    "kubeProxyVersion": "v1.32.2", "operatingSystem": "linux",
                                    "architecture": "amd64"}}}


@functools.cache
def pid_namespace() -> list[str]:
    """:data:`PID_NAMESPACE`, where this machine lets a process have one (root, or user namespaces);
    none where not, and a warning: jobs on worker pods then serve the head's logs."""
    try:
        subprocess.run([*PID_NAMESPACE, "true"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("Ray pods share this machine's PID namespace (unshare failed: %s)", error)
        return []
    return PID_NAMESPACE


def _end_process(process: subprocess.Popen, sig: int) -> None:
    """Signal a container's process group, wait a short grace, then SIGKILL it and every descendant."""
    descendants = _descendants(process.pid)
    for signum, grace in ((sig, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass
        if signum == signal.SIGKILL:
            for child in descendants:
                try:
                    child.kill()
                except psutil.Error:
                    pass
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass


def _descendants(pid: int) -> list[psutil.Process]:
    """Every live process started, directly or not, by ``pid``."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
