"""An emulated KubeRay operator (following KubeRay v1.7.0) for the emulated Kubernetes API server.

It reconciles ``ray.io/v1`` RayJobs (``tests/kuberay_rayjob.py``: a RayCluster and a submitter Job per
RayJob, in the default K8sJobMode) and ``ray.io/v1`` RayClusters as KubeRay's RayCluster controller does, into a head Pod,
worker Pods per worker group and the head's headless Service, and keeps the RayCluster's status.
The pod simulator (``tests/pod_simulator.py``) then runs those Pods like any other.

What it follows of KubeRay (read in ray-project/kuberay v1.7.0, ``ray-operator/controllers/ray``):

- names: head Pods ``<cluster>-head-<5>``, worker Pods ``<cluster>-<group>-worker-<5>`` (generateName),
  the Service ``<cluster>-head-svc``, and the token Secret ``<cluster>`` unless
  ``authOptions.secretName`` names the user's;
- labels ``ray.io/cluster``, ``ray.io/node-type``, ``ray.io/group``, ``ray.io/identifier``,
  ``ray.io/is-ray-node``, ``app.kubernetes.io/name=kuberay``, ``app.kubernetes.io/created-by``,
  over the template's own labels;
- the Ray container's command ``/bin/bash -c -- "ulimit -n ...; ray start ..."`` with the flags KubeRay
  generates (sorted ``rayStartParams``; ``num-cpus``/``memory``/``num-gpus`` from the limits when not
  given; ``--block``, ``--dashboard-host=0.0.0.0`` on the head, ``--address=<head FQDN>:<port>`` on the
  workers, ``--metrics-export-port=8080``, ``--dashboard-agent-listen-port=52365``), the
  ``KUBERAY_GEN_RAY_START_CMD``, ``RAY_CLUSTER_NAME``, ``FQ_RAY_IP``/``RAY_IP`` variables and the token
  variables of ``authOptions``;
- a memory-backed ``/dev/shm`` volume when the Ray container mounts none;
- the workers' ``wait-gcs-ready`` init container (200m/256Mi) and, with ``enableInTreeAutoscaling``,
  the head's ``autoscaler`` sidecar (500m/512Mi, ``ray kuberay-autoscaler``), ``--no-monitor`` and the
  head's service account;
- with ``enableInTreeAutoscaling``, the autoscaler's RBAC objects (common/rbac.go), owned by the
  RayCluster: a ServiceAccount named after the head's ``serviceAccountName`` or the cluster (not
  created when the template names one: the user must, and a missing one fails the reconcile), and
  a Role and RoleBinding named after the cluster; the Role allows pods get/list/watch/patch,
  pods/resize patch and rayclusters get/patch, which is all Ray's autoscaler may do under the
  emulator's RBAC;
- worker counts: ``replicas`` clamped to ``[minReplicas, maxReplicas]`` (0 while suspended); the Pods
  named in ``scaleStrategy.workersToDelete`` are deleted; with in-tree autoscaling on, surplus Pods
  are removed only that way (KubeRay's random scale-down is off then);
- status: ``state`` (``ready`` once the head and every desired worker are Running and Ready),
  ``readyWorkerReplicas``, ``availableWorkerReplicas``, ``desiredWorkerReplicas``, ``min/maxWorkerReplicas``,
  ``desiredCPU``/``desiredMemory``/``desiredGPU``, ``head.podIP``/``podName``/``serviceName``,
  conditions ``HeadPodReady`` and ``RayClusterProvisioned``, ``observedGeneration``.

Not emulated: RayService, RayJob's other submission modes (see ``tests/kuberay_rayjob.py``), mTLS, GCS fault tolerance, the default probes KubeRay injects into
Ray containers that have none (every template of the product has its own), Pod restarts by the
operator after a failed container, and multi-host groups (``numOfHosts`` > 1).

Pods the operator creates go through the API's admission, like the real operator's requests, so the
platform policy of the emulated cluster checks them too.
"""

from __future__ import annotations

import base64
import copy
import logging
import secrets
import threading
import time
from decimal import Decimal
from typing import Any

from tests.k8s.emulator import ApiError, KubernetesEmulator
from tests.k8s.quantity import parse_quantity
from tests.kuberay_rayjob import REQUEUE_S, DashboardAddress, RayJobController, owner_rayjob

log = logging.getLogger(__name__)

KUBERAY_VERSION = "v1.7.0"
CLUSTER = "ray.io/cluster"
NODE_TYPE = "ray.io/node-type"
GROUP = "ray.io/group"
IDENTIFIER = "ray.io/identifier"
IS_RAY_NODE = "ray.io/is-ray-node"
HEAD_GROUP = "headgroup"
DEFAULT_GCS_PORT = 6379
METRICS_PORT = 8080
DASHBOARD_AGENT_LISTEN_PORT = 52365
SHM_PATH = "/dev/shm"
AUTOSCALER_COMMAND = ("ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
                      "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)")
GPU_SUFFIX = "gpu"
# The autoscaler's Role (KubeRay v1.7.0 common/rbac.go, BuildRole).
AUTOSCALER_RULES: tuple[dict[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
    {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
)


def _equal_resources(cpu: str, memory: str) -> dict[str, Any]:
    amounts = {"cpu": cpu, "memory": memory}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def head_service_name(cluster: str) -> str:
    return f"{cluster}-head-svc"


def head_fqdn(cluster: str, namespace: str) -> str:
    return f"{head_service_name(cluster)}.{namespace}.svc.cluster.local"


def _template_service_account(raycluster: dict[str, Any]) -> str:
    return ((raycluster["spec"]["headGroupSpec"].get("template") or {}).get("spec") or {}).get(
        "serviceAccountName") or ""


def head_service_account(raycluster: dict[str, Any]) -> str:
    """KubeRay's GetHeadGroupServiceAccountName: the head template's account, else the cluster's name."""
    return _template_service_account(raycluster) or raycluster["metadata"]["name"]


def _owner_reference(raycluster: dict[str, Any]) -> dict[str, Any]:
    metadata = raycluster["metadata"]
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "name": metadata["name"], "uid": metadata["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _start_flags(params: dict[str, str]) -> str:
    """KubeRay's ``convertParamMap``: sorted flags; "true" is a bare switch, "false" is dropped."""
    flags = []
    for option in sorted(params):
        value = str(params[option])
        if value.lower() in ("true", "false") and option not in ("log-color", "include-dashboard",
                                                               "include-log-monitor"):
            if value.lower() == "true":
                flags.append(f"--{option}")
        else:
            flags.append(f"--{option}={value}")
    return " ".join(flags)


def _count(quantity: Any) -> int:
    return int(parse_quantity(str(quantity)))


def ray_start_params(node_type: str, params: dict[str, Any], resources: dict[str, Any], address: str,
                     autoscaling: bool) -> dict[str, str]:
    """The ``rayStartParams`` KubeRay completes before it generates ``ray start`` (setMissingRayStartParams,
    generateRayStartCommand)."""
    complete = {key: str(value) for key, value in params.items()}
    limits = resources.get("limits") or {}
    if node_type == "worker":
        complete.setdefault("address", address)
    else:
        complete.setdefault("dashboard-host", "0.0.0.0")
        if autoscaling:
            complete["no-monitor"] = "true"
    complete.setdefault("metrics-export-port", str(METRICS_PORT))
    complete["block"] = "true"
    complete.setdefault("dashboard-agent-listen-port", str(DASHBOARD_AGENT_LISTEN_PORT))
    cpu = limits.get("cpu") or (resources.get("requests") or {}).get("cpu")
    if "num-cpus" not in complete and cpu is not None and parse_quantity(str(cpu)) > 0:
        complete["num-cpus"] = str(int(parse_quantity(str(cpu))))
    if "memory" not in complete and limits.get("memory") is not None:
        complete["memory"] = str(_count(limits["memory"]))
    for name in sorted(limits):
        if "num-gpus" not in complete and name.endswith(GPU_SUFFIX) and parse_quantity(str(limits[name])) > 0:
            complete["num-gpus"] = str(_count(limits[name]))
    return complete


class KubeRayOperator:
    """Reconciles every RayCluster and RayJob of the emulator (see the module docstring).

    Args:
        emulator: the API server; the KubeRay CRDs must be installed in it.
        dashboard_address: ``(namespace, head pod) -> "http://ip:port" | None``, where a RayJob's Ray
            dashboard answers on this machine (the pod simulator knows); without it a RayJob's outcome
            comes from its submitter Job.
        requeue_s: how often an unfinished RayJob is looked at again (KubeRay: 3 s).
    """

    def __init__(self, emulator: KubernetesEmulator, dashboard_address: DashboardAddress | None = None,
                 requeue_s: float = REQUEUE_S) -> None:
        self.emulator = emulator
        self._lock = threading.RLock()
        self._unsubscribe = None
        self.rayjobs = RayJobController(emulator, self._lock, dashboard_address, requeue_s)
        self._timers: dict[tuple[str, str], threading.Timer] = {}
        self._stopped = threading.Event()

    def start(self) -> KubeRayOperator:
        resources = ["rayclusters", "pods"]
        try:  # RayJobs only where their CRD is installed (install_kuberay_crds installs both)
            self.emulator.resource_type("rayjobs")
            resources += ["rayjobs", "jobs"]
        except KeyError:
            pass
        self._stopped.clear()
        self._unsubscribe = self.emulator.subscribe(self._on_event, resources)
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def __enter__(self) -> KubeRayOperator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ events

    def _on_event(self, event) -> None:
        try:
            kind = event.resource.kind
            if kind in ("RayCluster", "Job"):
                owner = owner_rayjob(event.object or {})
                if owner:  # KubeRay's RayJob controller Owns() its RayCluster and submitter Job
                    self._spawn_rayjob(event.namespace, owner)
            if kind == "RayJob" and event.type != "DELETED":
                self._spawn_rayjob(event.namespace, event.name)
            elif kind == "RayCluster" and event.type != "DELETED":
                self._spawn(event.namespace, event.name)
            elif kind == "Pod":
                cluster = ((event.object.get("metadata") or {}).get("labels") or {}).get(CLUSTER)
                if cluster:
                    self._spawn(event.namespace, cluster)
        except Exception:  # an operator bug must not kill the emulator's dispatcher
            log.exception("KubeRay operator failed on %s %s", event.type, event.name)

    def _spawn(self, namespace: str, name: str) -> None:
        threading.Thread(target=self.reconcile, args=(namespace, name), daemon=True,
                         name=f"kuberay-{name}").start()

    def _spawn_rayjob(self, namespace: str, name: str) -> None:
        threading.Thread(target=self._reconcile_rayjob, args=(namespace, name), daemon=True,
                         name=f"kuberay-rayjob-{name}").start()

    def _reconcile_rayjob(self, namespace: str, name: str) -> None:
        """Reconcile a RayJob, then requeue it as controller-runtime would (one timer per RayJob)."""
        try:
            delay = self.rayjobs.reconcile(namespace, name)
        except Exception:  # a bug here must not end the requeues of other RayJobs
            log.exception("KubeRay operator failed on RayJob %s/%s", namespace, name)
            delay = self.rayjobs.requeue_s
        if delay is None or self._stopped.is_set():
            return
        with self._lock:
            key = (namespace, name)
            if key in self._timers and self._timers[key].is_alive():
                return  # a requeue is pending already
            timer = threading.Timer(delay, self._requeue, args=key)
            timer.daemon = True
            self._timers[key] = timer
            timer.start()

    def _requeue(self, namespace: str, name: str) -> None:
        with self._lock:
            self._timers.pop((namespace, name), None)
        if not self._stopped.is_set():
            self._reconcile_rayjob(namespace, name)

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring the RayCluster's Pods, Service, Secret and status in line with its spec."""
        with self._lock:
            raycluster = self.emulator.get("rayclusters", namespace, name)
            if raycluster is None or raycluster["metadata"].get("deletionTimestamp"):
                return
            try:
                self._reconcile_secret(raycluster)
                self._reconcile_autoscaler_rbac(raycluster)
                self._reconcile_service(raycluster)
                pods = self._pods(namespace, name)
                self._reconcile_head(raycluster, pods)
                for group in raycluster["spec"].get("workerGroupSpecs") or []:
                    self._reconcile_group(raycluster, group, pods)
                self._update_status(raycluster)
            except ApiError as error:  # e.g. refused by admission: KubeRay records it and retries
                log.warning("KubeRay operator: reconciling RayCluster %s/%s failed: %s", namespace, name, error)
                self._record_failure(raycluster, error)

    def _pods(self, namespace: str, cluster: str) -> list[dict[str, Any]]:
        return [p for p in self.emulator.list("pods", namespace)
                if (p["metadata"].get("labels") or {}).get(CLUSTER) == cluster
                and not p["metadata"].get("deletionTimestamp")]

    def _create(self, resource: str, namespace: str, obj: dict[str, Any]) -> None:
        self.emulator.create(resource, namespace, obj, admit=True)

    def _reconcile_secret(self, raycluster: dict[str, Any]) -> None:
        auth = raycluster["spec"].get("authOptions") or {}
        if auth.get("mode") != "token" or auth.get("secretName") or auth.get("enableK8sTokenAuth"):
            return
        metadata = raycluster["metadata"]
        if self.emulator.get("secrets", metadata["namespace"], metadata["name"]) is None:
            token = base64.b64encode(secrets.token_bytes(32)).decode()
            self._create("secrets", metadata["namespace"], {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": metadata["name"], "labels": {CLUSTER: metadata["name"]},
                             "ownerReferences": [_owner_reference(raycluster)]},
                "data": {"auth_token": base64.b64encode(token.encode()).decode()}})

    def _reconcile_autoscaler_rbac(self, raycluster: dict[str, Any]) -> None:
        """KubeRay's reconcileAutoscalerServiceAccount, ...Role and ...RoleBinding: what the head's
        ``autoscaler`` sidecar needs to read pods and scale the RayCluster, created once each."""
        if not raycluster["spec"].get("enableInTreeAutoscaling"):
            return
        namespace, name = raycluster["metadata"]["namespace"], raycluster["metadata"]["name"]
        account = head_service_account(raycluster)
        if self.emulator.get("serviceaccounts", namespace, account) is None:
            if _template_service_account(raycluster) == account:
                raise ApiError(404, "NotFound", f"If users specify ServiceAccountName for the head Pod, they need "
                               f"to create a ServiceAccount themselves. However, ServiceAccount {account} is not "
                               f"found. Please create one.", {"name": account, "kind": "serviceaccounts"})
            self._create_owned(raycluster, "serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                               "metadata": {"name": account}})
        if self.emulator.get("roles.rbac.authorization.k8s.io", namespace, name) is None:
            self._create_owned(raycluster, "roles.rbac.authorization.k8s.io", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
                "rules": [dict(rule) for rule in AUTOSCALER_RULES]})
        if self.emulator.get("rolebindings.rbac.authorization.k8s.io", namespace, name) is None:
            self._create_owned(raycluster, "rolebindings.rbac.authorization.k8s.io", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}})

    def _create_owned(self, raycluster: dict[str, Any], resource: str, obj: dict[str, Any]) -> None:
        """Create an object KubeRay labels as its own and the RayCluster controls (so GC removes it)."""
        cluster = raycluster["metadata"]["name"]
        obj["metadata"].update(labels={CLUSTER: cluster, "app.kubernetes.io/name": "kuberay",
                                       "app.kubernetes.io/created-by": "kuberay-operator"},
                               ownerReferences=[_owner_reference(raycluster)])
        self._create(resource, raycluster["metadata"]["namespace"], obj)

    def _reconcile_service(self, raycluster: dict[str, Any]) -> None:
        metadata = raycluster["metadata"]
        name = head_service_name(metadata["name"])
        if self.emulator.get("services", metadata["namespace"], name) is not None:
            return
        head = raycluster["spec"]["headGroupSpec"]
        container = head["template"]["spec"]["containers"][0]
        ports = [{"name": p["name"], "port": p["containerPort"], "protocol": p.get("protocol", "TCP"),
                  "appProtocol": "tcp"} for p in container.get("ports") or [] if p.get("name")]
        if not any(p["name"] == "metrics" for p in ports):
            ports.append({"name": "metrics", "port": METRICS_PORT, "protocol": "TCP", "appProtocol": "tcp"})
        self._create("services", metadata["namespace"], {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {CLUSTER: metadata["name"], NODE_TYPE: "head",
                                                  "app.kubernetes.io/name": "kuberay",
                                                  "app.kubernetes.io/created-by": "kuberay-operator"},
                         "ownerReferences": [_owner_reference(raycluster)]},
            # headless: workers reach the head's GCS by the head Pod's own address
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "ports": ports,
                     "selector": {CLUSTER: metadata["name"], NODE_TYPE: "head"}}})

    def _reconcile_head(self, raycluster: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        if not any(_labels(p).get(NODE_TYPE) == "head" for p in pods):
            self._create("pods", raycluster["metadata"]["namespace"], self.head_pod(raycluster))

    def _reconcile_group(self, raycluster: dict[str, Any], group: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        namespace = raycluster["metadata"]["namespace"]
        mine = [p for p in pods if _labels(p).get(NODE_TYPE) == "worker" and _labels(p).get(GROUP) == group["groupName"]]
        doomed = set((group.get("scaleStrategy") or {}).get("workersToDelete") or [])
        for pod in mine:
            if pod["metadata"]["name"] in doomed:
                self.emulator.delete("pods", namespace, pod["metadata"]["name"])
        mine = [p for p in mine if p["metadata"]["name"] not in doomed]
        wanted = desired_replicas(raycluster, group)
        for _ in range(wanted - len(mine)):
            self._create("pods", namespace, self.worker_pod(raycluster, group))
        if not raycluster["spec"].get("enableInTreeAutoscaling"):
            for extra in mine[max(wanted, 0):]:
                self.emulator.delete("pods", namespace, extra["metadata"]["name"])

    # ------------------------------------------------------------------ pods (KubeRay's BuildPod)

    def head_pod(self, raycluster: dict[str, Any]) -> dict[str, Any]:
        """The head Pod KubeRay builds from ``headGroupSpec``."""
        spec = raycluster["spec"]
        head = spec["headGroupSpec"]
        autoscaling = bool(spec.get("enableInTreeAutoscaling"))
        pod = self._pod_base(raycluster, head["template"], "head", HEAD_GROUP, f"{raycluster['metadata']['name']}-head-")
        if autoscaling:
            pod["spec"]["serviceAccountName"] = head_service_account(raycluster)
            pod["spec"]["containers"].append(self._autoscaler_container(raycluster, pod))
        self._ray_container(raycluster, pod, "head", head.get("rayStartParams") or {}, autoscaling)
        return pod

    def worker_pod(self, raycluster: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
        """A worker Pod of ``group``, as KubeRay builds it (with its wait-gcs-ready init container)."""
        name = raycluster["metadata"]["name"]
        pod = self._pod_base(raycluster, group["template"], "worker", group["groupName"],
                             f"{name}-{group['groupName']}-worker-")
        self._ray_container(raycluster, pod, "worker", group.get("rayStartParams") or {}, False)
        ray = pod["spec"]["containers"][0]
        address = f"{head_fqdn(name, raycluster['metadata']['namespace'])}:{DEFAULT_GCS_PORT}"
        wait = {
            "name": "wait-gcs-ready", "image": ray.get("image", ""), "imagePullPolicy": ray.get("imagePullPolicy"),
            "command": ["/bin/bash", "-lc", "--"],
            "args": [f"until ray health-check --address {address} > /dev/null 2>&1; do sleep 5; done"],
            "env": copy.deepcopy(ray.get("env") or []), "volumeMounts": copy.deepcopy(ray.get("volumeMounts") or []),
            "resources": _equal_resources("200m", "256Mi"),
        }
        pod["spec"].setdefault("initContainers", []).append({k: v for k, v in wait.items() if v is not None})
        return pod

    def _pod_base(self, raycluster: dict[str, Any], template: dict[str, Any], node_type: str, group: str,
                  generate_name: str) -> dict[str, Any]:
        name, namespace = raycluster["metadata"]["name"], raycluster["metadata"]["namespace"]
        template_metadata = template.get("metadata") or {}
        labels = dict(template_metadata.get("labels") or {})
        labels.update({CLUSTER: name, NODE_TYPE: node_type, GROUP: group, IDENTIFIER: f"{name}-{node_type}",
                       IS_RAY_NODE: "yes", "app.kubernetes.io/name": "kuberay",
                       "app.kubernetes.io/created-by": "kuberay-operator"})
        metadata: dict[str, Any] = {"generateName": generate_name, "namespace": namespace, "labels": labels,
                                    "ownerReferences": [_owner_reference(raycluster)]}
        if template_metadata.get("annotations"):
            metadata["annotations"] = dict(template_metadata["annotations"])
        pod_spec = copy.deepcopy(template.get("spec") or {})
        pod_spec.setdefault("restartPolicy", "Always")
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}

    def _ray_container(self, raycluster: dict[str, Any], pod: dict[str, Any], node_type: str,
                       params: dict[str, Any], autoscaling: bool) -> None:
        name, namespace = raycluster["metadata"]["name"], raycluster["metadata"]["namespace"]
        container = pod["spec"]["containers"][0]
        fqdn = head_fqdn(name, namespace)
        complete = ray_start_params(node_type, params, container.get("resources") or {},
                                    f"{fqdn}:{DEFAULT_GCS_PORT}", autoscaling)
        start = f"ray start{' --head' if node_type == 'head' else ''} {_start_flags(complete)}"
        container["command"] = ["/bin/bash", "-c", "--"]
        container["args"] = [f"ulimit -n ${{RAY_START_ULIMIT_OPEN_FILES:-65536}}; {start}"]
        _add_shm(pod, container)
        env = container.setdefault("env", [])
        present = {entry["name"] for entry in env}
        additions = [
            {"name": "FQ_RAY_IP", "value": fqdn}, {"name": "RAY_IP", "value": head_service_name(name)},
            {"name": "RAY_CLUSTER_NAME", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{CLUSTER}']"}}},
            {"name": "RAY_CLUSTER_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "KUBERAY_GEN_RAY_START_CMD", "value": start},
            {"name": "RAY_PORT", "value": str(DEFAULT_GCS_PORT)},
            {"name": "RAY_ADDRESS", "value": "127.0.0.1:6379" if node_type == "head" else f"{fqdn}:{DEFAULT_GCS_PORT}"},
            {"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "1"},
        ]
        additions += _token_env(raycluster)
        env.extend(entry for entry in additions if entry["name"] not in present)

    def _autoscaler_container(self, raycluster: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
        image = pod["spec"]["containers"][0].get("image", "")
        options = raycluster["spec"].get("autoscalerOptions") or {}
        container = {
            "name": "autoscaler", "image": options.get("image") or image, "imagePullPolicy": "IfNotPresent",
            "env": [
                {"name": "RAY_CLUSTER_NAME", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{CLUSTER}']"}}},
                {"name": "RAY_CLUSTER_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "RAY_HEAD_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "KUBERAY_CRD_VER", "value": "v1"},
                {"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": AUTOSCALER_COMMAND},
                *_token_env(raycluster), *copy.deepcopy(options.get("env") or []),
            ],
            "command": ["/bin/bash", "-c", "--"], "args": [AUTOSCALER_COMMAND],
            "resources": copy.deepcopy(options.get("resources") or _equal_resources("500m", "512Mi")),
        }
        return container

    # ------------------------------------------------------------------ status

    def _update_status(self, raycluster: dict[str, Any]) -> None:
        metadata = raycluster["metadata"]
        pods = self._pods(metadata["namespace"], metadata["name"])
        heads = [p for p in pods if _labels(p).get(NODE_TYPE) == "head"]
        workers = [p for p in pods if _labels(p).get(NODE_TYPE) == "worker"]
        groups = raycluster["spec"].get("workerGroupSpecs") or []
        desired = sum(desired_replicas(raycluster, g) for g in groups)
        ready_workers = sum(1 for p in workers if _running_and_ready(p))
        head_ready = bool(heads) and _running_and_ready(heads[0])
        old = raycluster.get("status") or {}
        state = "ready" if head_ready and ready_workers >= desired else old.get("state", "")
        if raycluster["spec"].get("suspend"):
            state = "suspended"
        status: dict[str, Any] = {
            "state": state,
            "desiredWorkerReplicas": desired,
            "minWorkerReplicas": sum(int(g.get("minReplicas", 0)) for g in groups),
            "maxWorkerReplicas": sum(int(g.get("maxReplicas", 2**31 - 1)) for g in groups),
            "readyWorkerReplicas": ready_workers,
            "availableWorkerReplicas": sum(1 for p in workers if (p.get("status") or {}).get("phase") == "Running"),
            "observedGeneration": metadata.get("generation", 1),
            "endpoints": {"client": "10001", "dashboard": "8265", "gcs-server": str(DEFAULT_GCS_PORT),
                          "metrics": str(METRICS_PORT)},
            "head": {"serviceName": head_service_name(metadata["name"])},
            **_desired_resources(raycluster),
        }
        if state == "ready" and old.get("state") != "ready":
            status["stateTransitionTimes"] = {**(old.get("stateTransitionTimes") or {}), "ready": _now()}
        if heads:
            pod_status = heads[0].get("status") or {}
            status["head"].update({"podName": heads[0]["metadata"]["name"], "podIP": pod_status.get("podIP", "")})
        status["conditions"] = [
            _condition("HeadPodReady", head_ready, "HeadPodRunningAndReady" if head_ready else "HeadPodNotFound"
                       if not heads else "ContainersNotReady"),
            _condition("RayClusterProvisioned", state == "ready" or (old.get("state") == "ready"),
                       "AllPodRunningAndReadyFirstTime" if state == "ready" else "RayClusterPodsProvisioning"),
        ]
        if _changed(old, status):
            status["lastUpdateTime"] = _now()
            status["conditions"] = [_keep_transition_time(c, old.get("conditions") or []) for c in status["conditions"]]
            self.emulator.update_status("rayclusters", metadata["namespace"], metadata["name"], status)

    def _record_failure(self, raycluster: dict[str, Any], error: ApiError) -> None:
        metadata = raycluster["metadata"]
        current = (self.emulator.get("rayclusters", metadata["namespace"], metadata["name"]) or {}).get("status") or {}
        if any(c.get("type") == "ReplicaFailure" and c.get("message") == str(error)
               for c in current.get("conditions") or []):
            return  # recorded already; writing again would trigger the next reconcile at once
        condition = {**_condition("ReplicaFailure", True, "FailedCreatePod", str(error)), "lastTransitionTime": _now()}
        self.emulator.update_status("rayclusters", metadata["namespace"], metadata["name"],
                                    {"conditions": [condition], "reason": str(error)})


def desired_replicas(raycluster: dict[str, Any], group: dict[str, Any]) -> int:
    """KubeRay's GetWorkerGroupDesiredReplicas: ``replicas`` clamped to the group's bounds, 0 if suspended."""
    if raycluster["spec"].get("suspend") or group.get("suspend"):
        return 0
    low, high = int(group.get("minReplicas", 0)), int(group.get("maxReplicas", 2**31 - 1))
    replicas = int(group.get("replicas", low))
    return max(low, min(high, replicas)) * int(group.get("numOfHosts", 1))


def _desired_resources(raycluster: dict[str, Any]) -> dict[str, str]:
    totals = {"cpu": Decimal(0), "memory": Decimal(0), "gpu": Decimal(0)}
    groups = [(raycluster["spec"]["headGroupSpec"], 1)]
    groups += [(g, desired_replicas(raycluster, g)) for g in raycluster["spec"].get("workerGroupSpecs") or []]
    for group, count in groups:
        for container in group["template"]["spec"].get("containers") or []:
            resources = container.get("resources") or {}
            amounts = {**(resources.get("requests") or {}), **(resources.get("limits") or {})}
            for name, value in amounts.items():
                key = "gpu" if name.endswith(GPU_SUFFIX) else name
                if key in totals:
                    totals[key] += parse_quantity(str(value)) * count
    return {"desiredCPU": _quantity(totals["cpu"]), "desiredMemory": _quantity(totals["memory"]),
            "desiredGPU": _quantity(totals["gpu"]), "desiredTPU": "0"}


def _quantity(amount: Decimal) -> str:
    """A sum of quantities written as Kubernetes writes it (``224G``, ``8Gi``, ``500m``), not in bytes."""
    if amount != amount.to_integral_value():
        return f"{int(amount * 1000)}m"
    whole = int(amount)
    for suffix, size in (("Gi", 2**30), ("G", 10**9), ("Mi", 2**20), ("M", 10**6)):
        if whole and whole % size == 0:
            return f"{whole // size}{suffix}"
    return str(whole)


def _token_env(raycluster: dict[str, Any]) -> list[dict[str, Any]]:
    auth = raycluster["spec"].get("authOptions") or {}
    if auth.get("mode") != "token":
        return []
    secret = auth.get("secretName") or raycluster["metadata"]["name"]
    return [{"name": "RAY_AUTH_MODE", "value": "token"},
            {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "auth_token"}}}]


def _add_shm(pod: dict[str, Any], container: dict[str, Any]) -> None:
    """KubeRay's addEmptyDir for the object store: a memory-backed /dev/shm unless one is mounted."""
    if any(m.get("mountPath") == SHM_PATH for m in container.get("volumeMounts") or []):
        return
    pod["spec"].setdefault("volumes", []).append({"name": "shared-mem", "emptyDir": {"medium": "Memory"}})
    container.setdefault("volumeMounts", []).append({"name": "shared-mem", "mountPath": SHM_PATH})


def _labels(pod: dict[str, Any]) -> dict[str, str]:
    return pod["metadata"].get("labels") or {}


def _running_and_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _condition(kind: str, value: bool, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": "True" if value else "False", "reason": reason, "message": message}


def _keep_transition_time(condition: dict[str, Any], old: list[dict[str, Any]]) -> dict[str, Any]:
    before = next((c for c in old if c.get("type") == condition["type"]), None)
    unchanged = before is not None and before.get("status") == condition["status"]
    return {**condition, "lastTransitionTime": before.get("lastTransitionTime") if unchanged else _now()}


def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``new`` differs from ``old`` in more than its timestamps (a write would re-trigger reconciling)."""
    def plain(status: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in status.items() if k not in ("lastUpdateTime", "stateTransitionTimes")}
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                             for c in status.get("conditions") or []]
        return out
    return plain({k: old.get(k) for k in new}) != plain(new)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
