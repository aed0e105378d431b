"""The resource types the emulator serves, and the discovery documents built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class PrinterColumn:
    """One of a CRD's ``additionalPrinterColumns``: a column ``kubectl get`` shows."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0


@dataclass(frozen=True)
class ScaleSpec:
    """Where a type keeps what its ``/scale`` subresource reads and writes (a CRD's ``subresources.scale``)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    # a label selector, as a string or (built-in workloads) a metav1.LabelSelector; None: no selector
    label_selector_path: str | None = ".spec.selector"


WORKLOAD_SCALE = ScaleSpec()


@dataclass(frozen=True)
class ResourceType:
    """One REST resource, as discovery describes it (``pods``, ``deployments.apps``...)."""

    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Whether the resource has a /status subresource: then writes to the main resource keep
    # the stored status and API creates start from a blank one, like the real registry.
    status_subresource: bool = False
    # Whether metadata.generation is tracked (bumped on every spec change).
    generation: bool = False
    # Fields a fieldSelector may use besides metadata.name / metadata.namespace.
    field_labels: tuple[str, ...] = ()
    # Served from a CRD: no built-in defaults, no strategic merge patch (the real server's 415).
    custom_resource: bool = False
    # For custom resources (and CRDs themselves): an object with ``process(obj) -> causes`` that
    # prunes, defaults and validates each write (:class:`tests.k8s.schema.StructuralSchema`).
    schema: Any = field(default=None, compare=False, repr=False)
    # What ``kubectl get`` shows for a type without a built-in printer (tables.py).
    printer_columns: tuple[PrinterColumn, ...] = ()
    # Whether (and how) the type has a ``/scale`` subresource (autoscaling/v1 Scale).
    scale: ScaleSpec | None = None

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, else ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> str:
        """A unique name: ``pods``, ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def qualified(self) -> str:
        """How the real server names the resource in error messages (``deployments.apps``)."""
        return self.key

    def matches(self, name: str) -> bool:
        """Whether ``name`` (plural, singular, kind, short name, optionally ``.group``) means this type."""
        base, _, group = name.partition(".")
        if group and group != self.group:
            return False
        candidates = {self.plural, self.singular, self.kind.lower(), *self.short_names}
        return base.lower() in candidates or base == self.kind


CORE = "v1"
POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

DEFAULT_RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", CORE, "namespaces", "namespace", "Namespace", namespaced=False,
                 short_names=("ns",), status_subresource=True, field_labels=("status.phase",),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    ResourceType("", CORE, "pods", "pod", "Pod", short_names=("po",), categories=("all",),
                 status_subresource=True, field_labels=POD_FIELDS),
    ResourceType("", CORE, "services", "service", "Service", short_names=("svc",),
                 categories=("all",), status_subresource=True,
                 verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    ResourceType("", CORE, "secrets", "secret", "Secret", field_labels=("type",)),
    ResourceType("", CORE, "configmaps", "configmap", "ConfigMap", short_names=("cm",)),
    ResourceType("", CORE, "serviceaccounts", "serviceaccount", "ServiceAccount", short_names=("sa",)),
    ResourceType("", CORE, "endpoints", "endpoints", "Endpoints", short_names=("ep",)),
    ResourceType("", CORE, "events", "event", "Event", short_names=("ev",), field_labels=EVENT_FIELDS),
    ResourceType("", CORE, "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim",
                 short_names=("pvc",), status_subresource=True, field_labels=("status.phase",)),
    ResourceType("", CORE, "nodes", "node", "Node", namespaced=False, short_names=("no",),
                 status_subresource=True, field_labels=("spec.unschedulable",)),
    ResourceType("apps", "v1", "deployments", "deployment", "Deployment", short_names=("deploy",),
                 categories=("all",), status_subresource=True, generation=True, scale=WORKLOAD_SCALE),
    ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", short_names=("rs",),
                 categories=("all",), status_subresource=True, generation=True, scale=WORKLOAD_SCALE),
    ResourceType("apps", "v1", "statefulsets", "statefulset", "StatefulSet", short_names=("sts",),
                 categories=("all",), status_subresource=True, generation=True, scale=WORKLOAD_SCALE),
    ResourceType("apps", "v1", "daemonsets", "daemonset", "DaemonSet", short_names=("ds",),
                 categories=("all",), status_subresource=True, generation=True),
    ResourceType("batch", "v1", "jobs", "job", "Job", categories=("all",),
                 status_subresource=True, generation=True, field_labels=("status.successful",)),
)


@dataclass
class Registry:
    """The served resource types, looked up by URL parts or by any of their names."""

    types: list[ResourceType] = field(default_factory=lambda: list(DEFAULT_RESOURCES))

    def add(self, resource_type: ResourceType) -> None:
        """Serve one more type (a CRD version, say); it shows up in discovery at once."""
        self.types = [t for t in self.types
                      if (t.key, t.version) != (resource_type.key, resource_type.version)] + [resource_type]

    def remove(self, key: str) -> list[ResourceType]:
        """Stop serving every version of ``key`` (``rayclusters.ray.io``); returns what was removed."""
        removed = [t for t in self.types if t.key == key]
        self.types = [t for t in self.types if t.key != key]
        return removed

    def by_key(self) -> dict[str, ResourceType]:
        """Types by key; where several versions share one, the first registered (the storage version)."""
        found: dict[str, ResourceType] = {}
        for t in self.types:
            found.setdefault(t.key, t)
        return found

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        for t in self.types:
            if t.group == group and t.version == version and t.plural == plural:
                return t
        return None

    def resolve(self, name: str | ResourceType) -> ResourceType:
        """Find a type by plural/singular/kind/short name (``deploy``, ``Deployment``, ``deployments.apps``)."""
        if isinstance(name, ResourceType):
            return name
        for t in self.types:
            if t.matches(name):
                return t
        raise KeyError(f"unknown resource type {name!r}")

    def group_versions(self) -> dict[str, list[str]]:
        """Non-core groups and their versions, in registration order."""
        groups: dict[str, list[str]] = {}
        for t in self.types:
            if t.group and t.version not in groups.setdefault(t.group, []):
                groups[t.group].append(t.version)
        return groups

    # ----------------------------------------------------------------- discovery documents

    def api_versions(self, server_address: str) -> dict[str, Any]:
        """``GET /api``: the core group's versions."""
        return {
            "kind": "APIVersions",
            "versions": [CORE],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }

    def api_group_list(self) -> dict[str, Any]:
        """``GET /apis``: every non-core group."""
        groups = []
        for group, versions in self.group_versions().items():
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group: str) -> dict[str, Any] | None:
        """``GET /apis/GROUP``."""
        versions = self.group_versions().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
                "preferredVersion": entries[0]}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        """``GET /api/v1`` or ``/apis/GROUP/VERSION``: an APIResourceList (groupVersion ``v1`` for core)."""
        members = [t for t in self.types if t.group == group and t.version == version]
        if not members:
            return None
        resources: list[dict[str, Any]] = []
        for t in members:
            entry: dict[str, Any] = {
                "name": t.plural,
                "singularName": t.singular,
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": list(t.verbs),
            }
            if t.short_names:
                entry["shortNames"] = list(t.short_names)
            if t.categories:
                entry["categories"] = list(t.categories)
            resources.append(entry)
            if t.status_subresource:
                resources.append({"name": f"{t.plural}/status", "singularName": "", "namespaced": t.namespaced,
                                  "kind": t.kind, "verbs": ["get", "patch", "update"]})
            if t.scale is not None:
                resources.append({"name": f"{t.plural}/scale", "singularName": "", "namespaced": t.namespaced,
                                  "group": "autoscaling", "version": "v1", "kind": "Scale",
                                  "verbs": ["get", "patch", "update"]})
            if t.kind == "Pod":
                resources.append({"name": "pods/log", "singularName": "", "namespaced": True,
                                  "kind": "Pod", "verbs": ["get"]})
        group_version = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                "resources": resources}
