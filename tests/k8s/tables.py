"""``meta.k8s.io/v1`` Table responses: what ``kubectl get`` prints, rendered by the server.

A client asks for a Table with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` (kubectl
sends that with fallbacks). The columns of a type come from, in order: a built-in printer below
(the columns of the real server's printers, pkg/printers/internalversion), the type's
``printer_columns`` (a CRD's ``additionalPrinterColumns``), or the generic ``Name``/``Age``.
Each row's ``object`` is PartialObjectMetadata unless ``includeObject=Object`` asks for the whole
object (``includeObject=None`` leaves it out).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .resources import PrinterColumn, ResourceType

TABLE_API_VERSION = "meta.k8s.io/v1"
Cells = Callable[[dict[str, Any]], list[Any]]


def wants_table(accept: str) -> bool:
    """Whether an Accept header asks for a Table (the first acceptable media type decides)."""
    for media in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return True
        if media.split(";")[0].strip() in ("application/json", "*/*"):
            return False
    return False


# ----------------------------------------------------------------- cell formatting


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: ``45s``, ``3m20s``, ``5h``, ``2d3h``, ``1y``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def since(timestamp: str | None) -> str:
    """``translateTimestampSince``: how long ago an RFC 3339 time was (``<unknown>`` if unset)."""
    if not timestamp:
        return "<unknown>"
    then = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return human_duration((dt.datetime.now(dt.timezone.utc) - then).total_seconds())


def _age(obj: dict[str, Any]) -> str:
    return since(obj["metadata"].get("creationTimestamp"))


def _get(obj: Any, *path: str | int, default: Any = None) -> Any:
    for key in path:
        if isinstance(key, int):
            obj = obj[key] if isinstance(obj, list) and len(obj) > key else None
        else:
            obj = obj.get(key) if isinstance(obj, dict) else None
        if obj is None:
            return default
    return obj


def format_selector(selector: dict[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``: ``a=b,c in (d,e)``; ``<none>`` when empty."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    symbols = {"In": "in", "NotIn": "notin"}
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        if operator in symbols:
            parts.append(f"{key} {symbols[operator]} ({','.join(expression.get('values') or [])})")
        else:
            parts.append(key if operator == "Exists" else f"!{key}")
    return ",".join(parts) or "<none>"


def _containers(obj: dict[str, Any]) -> tuple[str, str]:
    containers = _get(obj, "spec", "template", "spec", "containers", default=[])
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


# ----------------------------------------------------------------- built-in printers


@dataclass(frozen=True)
class Printer:
    """The columns of one kind: definitions (name, type, priority) and a row function."""

    columns: Sequence[tuple[str, str, int]]  # (name, type, priority); priority 1 is ``-o wide`` only
    cells: Cells


def _pod_cells(pod: dict[str, Any]) -> list[Any]:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(_get(pod, "spec", "containers", default=[]))
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for container in statuses:  # a waiting or failed container's reason is what kubectl shows
        state = container.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated"):
            terminated = state["terminated"]
            reason = terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    gates = _get(pod, "spec", "readinessGates", default=[])
    return [pod["metadata"]["name"], f"{ready}/{total}", reason, str(restarts), _age(pod),
            status.get("podIP") or "<none>", _get(pod, "spec", "nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", f"{len(gates)}/{len(gates)}" if gates else "<none>"]


def _deployment_cells(deployment: dict[str, Any]) -> list[Any]:
    status = deployment.get("status") or {}
    desired = _get(deployment, "spec", "replicas", default=1)
    names, images = _containers(deployment)
    return [deployment["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{desired}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(deployment), names, images,
            format_selector(_get(deployment, "spec", "selector"))]


def _replicaset_cells(rs: dict[str, Any]) -> list[Any]:
    status = rs.get("status") or {}
    names, images = _containers(rs)
    return [rs["metadata"]["name"], _get(rs, "spec", "replicas", default=1), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(rs), names, images, format_selector(_get(rs, "spec", "selector"))]


def _job_state(status: dict[str, Any]) -> str:
    conditions = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    for state in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet", "Suspended"):
        if state in conditions:
            return state
    return "Running"


def _job_cells(job: dict[str, Any]) -> list[Any]:
    status = job.get("status") or {}
    spec = job.get("spec") or {}
    completions = spec.get("completions")
    parallelism = spec.get("parallelism", 1)
    succeeded = status.get("succeeded", 0)
    shown = f"{succeeded}/{completions}" if completions is not None else \
        f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    duration = ""
    if status.get("startTime"):
        start = dt.datetime.fromisoformat(status["startTime"].replace("Z", "+00:00"))
        end = status.get("completionTime")
        finish = dt.datetime.fromisoformat(end.replace("Z", "+00:00")) if end else dt.datetime.now(dt.timezone.utc)
        duration = human_duration((finish - start).total_seconds())
    names, images = _containers(job)
    return [job["metadata"]["name"], _job_state(status), shown, duration, _age(job), names, images,
            format_selector(_get(job, "spec", "selector"))]


def _service_cells(service: dict[str, Any]) -> list[Any]:
    spec = service.get("spec") or {}
    ingress = _get(service, "status", "loadBalancer", "ingress", default=[])
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    node_port = {id(p): f":{p['nodePort']}" if p.get("nodePort") else "" for p in spec.get("ports") or []}
    ports = ",".join(f"{p.get('port')}{node_port[id(p)]}/{p.get('protocol', 'TCP')}"
                     for p in spec.get("ports") or []) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [service["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", external,
            ports, _age(service), selector]


def _event_cells(event: dict[str, Any]) -> list[Any]:
    involved = event.get("involvedObject") or {}
    source = event.get("source") or {}
    last = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")
    first = event.get("firstTimestamp") or event.get("eventTime")
    return [since(last), event.get("type", ""), event.get("reason", ""),
            f"{involved.get('kind', '').lower()}/{involved.get('name', '')}", involved.get("fieldPath", ""),
            ", ".join(filter(None, (source.get("component"), source.get("host")))), event.get("message", ""),
            since(first), event.get("count", 1), event["metadata"]["name"]]


def _namespace_cells(ns: dict[str, Any]) -> list[Any]:
    return [ns["metadata"]["name"], _get(ns, "status", "phase", default=""), _age(ns)]


def _secret_cells(secret: dict[str, Any]) -> list[Any]:
    return [secret["metadata"]["name"], secret.get("type", "Opaque"), len(secret.get("data") or {}), _age(secret)]


def _configmap_cells(cm: dict[str, Any]) -> list[Any]:
    return [cm["metadata"]["name"], len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm)]


def _node_cells(node: dict[str, Any]) -> list[Any]:
    status = node.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = {"True": "Ready", "False": "NotReady"}.get(ready or "", "Unknown")
    if _get(node, "spec", "unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = ",".join(sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))) or "<none>"
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [node["metadata"]["name"], state, roles, _age(node), info.get("kubeletVersion", ""),
            addresses.get("InternalIP", "<none>"), addresses.get("ExternalIP", "<none>"), info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


_NAME = ("Name", "string", 0)
_WORKLOAD_WIDE = (("Containers", "string", 1), ("Images", "string", 1), ("Selector", "string", 1))
PRINTERS: dict[str, Printer] = {
    "pods": Printer((_NAME, ("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0),
                     ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1),
                     ("Nominated Node", "string", 1), ("Readiness Gates", "string", 1)), _pod_cells),
    "deployments.apps": Printer((_NAME, ("Ready", "string", 0), ("Up-to-date", "integer", 0),
                                 ("Available", "integer", 0), ("Age", "string", 0), *_WORKLOAD_WIDE),
                                _deployment_cells),
    "replicasets.apps": Printer((_NAME, ("Desired", "integer", 0), ("Current", "integer", 0),
                                 ("Ready", "integer", 0), ("Age", "string", 0), *_WORKLOAD_WIDE), _replicaset_cells),
    "jobs.batch": Printer((_NAME, ("Status", "string", 0), ("Completions", "string", 0), ("Duration", "string", 0),
                           ("Age", "string", 0), *_WORKLOAD_WIDE), _job_cells),
    "services": Printer((_NAME, ("Type", "string", 0), ("Cluster-IP", "string", 0), ("External-IP", "string", 0),
                         ("Port(s)", "string", 0), ("Age", "string", 0), ("Selector", "string", 1)), _service_cells),
    "events": Printer((("Last Seen", "string", 0), ("Type", "string", 0), ("Reason", "string", 0),
                       ("Object", "string", 0), ("Subobject", "string", 1), ("Source", "string", 1),
                       ("Message", "string", 0), ("First Seen", "string", 1), ("Count", "string", 1),
                       ("Name", "string", 1)), _event_cells),
    "nodes": Printer((_NAME, ("Status", "string", 0), ("Roles", "string", 0), ("Age", "string", 0),
                      ("Version", "string", 0), ("Internal-IP", "string", 1), ("External-IP", "string", 1),
                      ("OS-Image", "string", 1), ("Kernel-Version", "string", 1), ("Container-Runtime", "string", 1)),
                     _node_cells),
    "namespaces": Printer((_NAME, ("Status", "string", 0), ("Age", "string", 0)), _namespace_cells),
    "secrets": Printer((_NAME, ("Type", "string", 0), ("Data", "string", 0), ("Age", "string", 0)), _secret_cells),
    "configmaps": Printer((_NAME, ("Data", "string", 0), ("Age", "string", 0)), _configmap_cells),
}


# ----------------------------------------------------------------- CRD columns and the fallback


def json_path(obj: Any, path: str) -> Any:
    """The simple JSONPath CRDs use in printer columns: ``.a.b``, ``.a[0].b``, ``.a[?(@.k=="v")].b``."""
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]|\[\?\(@\.(\w+)==[\"']([^\"']*)[\"']\)\]", path):
        key, index, filter_key, filter_value = part
        if key:
            obj = obj.get(key) if isinstance(obj, dict) else None
        elif index:
            obj = obj[int(index)] if isinstance(obj, list) and len(obj) > int(index) else None
        else:
            obj = next((o for o in obj or [] if isinstance(o, dict) and o.get(filter_key) == filter_value), None) \
                if isinstance(obj, list) else None
        if obj is None:
            return None
    return obj


def _custom_printer(columns: Sequence[PrinterColumn]) -> Printer:
    """A CRD's printer: Name, its additionalPrinterColumns (``date`` ones as ages), and Age if it has none."""
    definitions = [_NAME] + [(c.name, c.type, c.priority) for c in columns]
    has_age = any(c.json_path == ".metadata.creationTimestamp" for c in columns)
    if not has_age:
        definitions.append(("Age", "date", 0))

    def cells(obj: dict[str, Any]) -> list[Any]:
        row: list[Any] = [obj["metadata"]["name"]]
        for column in columns:
            value = json_path(obj, column.json_path)
            row.append(since(value) if column.type == "date" and value else value)
        return row + ([] if has_age else [_age(obj)])

    return Printer(definitions, cells)


GENERIC = Printer((_NAME, ("Age", "string", 0)), lambda obj: [obj["metadata"]["name"], _age(obj)])


def printer_for(rt: ResourceType) -> Printer:
    """The columns ``kubectl get`` shows for a type."""
    if rt.key in PRINTERS:
        return PRINTERS[rt.key]
    if rt.printer_columns:
        return _custom_printer(rt.printer_columns)
    return GENERIC


# ----------------------------------------------------------------- the Table object


def _partial(obj: dict[str, Any], include: str, rt: ResourceType) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
    return {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION, "metadata": obj["metadata"]}


def table(rt: ResourceType, objects: list[dict[str, Any]], metadata: dict[str, Any],
          include_object: str | None = None, headers: bool = True) -> dict[str, Any]:
    """A ``Table`` of ``objects`` (``headers=False`` leaves out columnDefinitions, as watches after the first do)."""
    printer = printer_for(rt)
    include = include_object or "Metadata"
    columns = [{"name": name, "type": kind, "format": "name" if name == "Name" else "", "description": "",
                "priority": priority} for name, kind, priority in printer.columns]
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.cells(obj)}
        partial = _partial(obj, include, rt)
        if partial is not None:
            row["object"] = partial
        rows.append(row)
    return {"kind": "Table", "apiVersion": TABLE_API_VERSION, "metadata": metadata,
            "columnDefinitions": columns if headers else [], "rows": rows}
