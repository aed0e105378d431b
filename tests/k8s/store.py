"""The emulator's in-memory object store: Kubernetes write semantics, events, watches, GC.

Every write takes one lock, bumps a global resourceVersion counter, records an
:class:`Event` in a history (so watches can resume from a resourceVersion) and hands the
event to open watches and to subscribers. Stored objects are never mutated in place — each
write stores a fresh dict — so events can share them safely.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import itertools
import json
import logging
import queue
import random
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .patch import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, PatchError, apply_patch
from .resources import Registry, ResourceType
from .workloads import default_job, qos_class

log = logging.getLogger(__name__)

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet the real server uses


class ApiError(Exception):
    """An error the API server reports as a ``Status`` object with an HTTP code."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The JSON ``Status`` body, shaped like the real server's."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(rt: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified()} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{rt.qualified()} "{name}" already exists', _details(rt, name))


def conflict(rt: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified()} "{name}": {why}',
                    _details(rt, name))


def invalid(rt: ResourceType, name: str, field_path: str, why: str, value: Any = None,
            reason: str = "FieldValueInvalid") -> ApiError:
    message = f"Invalid value: {json.dumps(value)}: {why}" if reason == "FieldValueInvalid" else why
    cause = {"reason": reason, "message": message, "field": field_path}
    details = {**_details(rt, name), "kind": rt.kind, "causes": [cause]}
    qualified_kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {field_path}: {message}', details)


def invalid_causes(rt: ResourceType, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 Invalid listing every cause, worded like the real server (one cause: no brackets)."""
    rendered = [f"{c['field']}: {c['message']}" for c in causes]
    summary = rendered[0] if len(rendered) == 1 else f"[{', '.join(rendered)}]"
    qualified_kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    details = {**_details(rt, name), "kind": rt.kind, "causes": causes}
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    """One change in the store, as watches and subscribers see it."""

    type: str  # ADDED, MODIFIED or DELETED
    resource: ResourceType
    namespace: str  # "" for cluster-scoped objects
    name: str
    object: dict[str, Any]  # the new state (for DELETED: the last state, at the deletion's resourceVersion)
    old: dict[str, Any] | None  # the previous state (None for ADDED)
    resource_version: int

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def plural(self) -> str:
        return self.resource.plural


@dataclass(eq=False)
class Watcher:
    """An open watch: the store pushes matching events (and finally None) onto ``queue``."""

    resource: ResourceType
    namespace: str | None
    queue: "queue.Queue[Event | None]" = field(default_factory=queue.Queue)

    def wants(self, event: Event) -> bool:
        return event.resource == self.resource and (self.namespace is None or event.namespace == self.namespace)


class Expired(ApiError):
    """A watch asked to resume from a resourceVersion older than the retained history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(410, "Expired", f"too old resource version: {requested} ({oldest})")


Key = tuple[str, str, str]  # (resource type key, namespace or "", name)


class Store:
    """Thread-safe object store with Kubernetes semantics (see the module docstring)."""

    def __init__(self, registry: Registry, history_limit: int = 100_000) -> None:
        self.registry = registry
        self._lock = threading.RLock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=history_limit)
        self._compacted_rv = 0  # watches from below this resourceVersion get 410 Gone
        self._watchers: set[Watcher] = set()
        self._cluster_ips = itertools.count(10)
        # Subscribers run on one dispatcher thread, in resourceVersion order, outside the lock,
        # so a callback may write to the store (like a controller would) without deadlocking.
        self._subscribers: list[tuple[Callable[[Event], None], ResourceType | None]] = []
        self._dispatch: queue.Queue[Event | None] = queue.Queue()
        self._dispatch_thread: threading.Thread | None = None
        self._dispatched = threading.Condition()
        self._enqueued = 0
        self._delivered = 0
        # validating admission plugins: called with each object an API request creates or
        # changes (not its status), after defaulting; one raises ApiError to deny the request
        self.admission: list[Callable[[ResourceType, dict[str, Any]], None]] = []
        # called with every Event inside the write, under the lock (the CRD controller registers
        # types here, so a CRD's kinds are served as soon as its create returns); may write
        self.write_hooks: list[Callable[[Event], None]] = []

    # ----------------------------------------------------------------- bookkeeping

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out."""
        return self._rv

    def _commit(self, kind: str, rt: ResourceType, namespace: str, name: str,
                new: dict[str, Any], old: dict[str, Any] | None) -> Event:
        """Store (or drop, for DELETED) ``new`` at the next resourceVersion and announce it."""
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        key = (rt.key, namespace, name)
        if kind == "DELETED":
            self._objects.pop(key, None)
        else:
            self._objects[key] = new
        event = Event(kind, rt, namespace, name, new, old, self._rv)
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].resource_version
        self._history.append(event)
        for watcher in list(self._watchers):
            if watcher.wants(event):
                watcher.queue.put(event)
        if self._subscribers:
            with self._dispatched:
                self._enqueued += 1
            self._dispatch.put(event)
        log.debug("%s %s %s/%s rv=%d", kind, rt.key, namespace, name, self._rv)
        for hook in self.write_hooks:
            hook(event)
        return event

    def _namespace_of(self, rt: ResourceType, namespace: str | None, meta: dict[str, Any]) -> str:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        resolved = namespace or body_ns or "default"
        meta["namespace"] = resolved
        return resolved

    def _check_namespace(self, rt: ResourceType, namespace: str) -> None:
        if not rt.namespaced:
            return
        ns_type = self.registry.resolve("namespaces")
        ns = self._objects.get((ns_type.key, "", namespace))
        if ns is None:
            raise not_found(ns_type, namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f"{rt.plural} \"{ns['metadata']['name']}\" is forbidden: unable to create "
                           f"new content in namespace {namespace} because it is being terminated")

    # ----------------------------------------------------------------- reads

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """A deep copy of one object; raises NotFound."""
        with self._lock:
            obj = self._objects.get((rt.key, _scope(rt, namespace), name))
            if obj is None:
                raise not_found(rt, name)
            return copy.deepcopy(obj)

    def list(self, rt: ResourceType, namespace: str | None = None,
             predicate: Callable[[dict[str, Any]], bool] | None = None) -> tuple[list[dict[str, Any]], int]:
        """Objects of one type (one namespace, or all when None), sorted by namespace/name; plus the list RV."""
        with self._lock:
            items = [
                obj for (key, ns, _), obj in sorted(self._objects.items())
                if key == rt.key and (namespace is None or not rt.namespaced or ns == namespace)
                and (predicate is None or predicate(obj))
            ]
            return copy.deepcopy(items), self._rv

    def all_objects(self) -> list[tuple[ResourceType, dict[str, Any]]]:
        """Every stored object with its type (a snapshot)."""
        with self._lock:
            by_key = self.registry.by_key()
            return [(by_key[key], copy.deepcopy(obj)) for (key, _, _), obj in sorted(self._objects.items())
                    if key in by_key]

    # ----------------------------------------------------------------- writes

    def create(self, rt: ResourceType, namespace: str | None, obj: dict[str, Any], *,
               from_api: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """Create an object (201 semantics); ``from_api`` resets status like the real registry."""
        new = copy.deepcopy(obj)
        self._check_type(rt, new)
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        with self._lock:
            ns = self._namespace_of(rt, namespace, meta)
            name = meta.get("name")
            if not name:
                if not meta.get("generateName"):
                    raise ApiError(422, "Invalid", f"{rt.kind} \"\" is invalid: metadata.name: Required value: "
                                   "name or generateName is required", {"kind": rt.kind})
                name = meta["generateName"] + "".join(random.choices(_GENERATE_CHARS, k=5))
                meta["name"] = name
            if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
                raise invalid(rt, name, "metadata.name", "a lowercase RFC 1123 subdomain must consist of lower case "
                              "alphanumeric characters, '-' or '.'", name)
            self._check_namespace(rt, ns)
            if (rt.key, ns, name) in self._objects:
                raise already_exists(rt, name)
            for transient in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                              "managedFields"):
                meta.pop(transient, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            if rt.generation:
                meta["generation"] = 1
            if from_api and rt.status_subresource:
                new.pop("status", None)
            _check_schema(rt, name, new)
            if from_api:
                _validate(rt, new)
            self._apply_defaults(rt, new, creating=True)
            if from_api:
                self._admit(rt, new)
            if dry_run:
                return new
            self._commit("ADDED", rt, ns, name, new, None)
            return copy.deepcopy(new)

    def replace(self, rt: ResourceType, namespace: str | None, name: str, obj: dict[str, Any], *,
                subresource: str | None = None, from_api: bool = False, dry_run: bool = False,
                check_version: bool = True) -> dict[str, Any]:
        """Update (PUT) an object; with ``subresource="status"`` only its status changes."""
        new = copy.deepcopy(obj)
        self._check_type(rt, new)
        meta = new.setdefault("metadata", {})
        with self._lock:
            ns = _scope(rt, namespace)
            old = self._objects.get((rt.key, ns, name))
            if old is None:
                raise not_found(rt, name)
            if meta.get("name") and meta["name"] != name:
                raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
            if rt.namespaced and meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            wanted_rv = meta.get("resourceVersion")
            if check_version and wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name, "the object has been modified; please apply your changes to the latest "
                               "version and try again")
            if subresource == "status":
                result = copy.deepcopy(old)
                if "status" in new:
                    result["status"] = new["status"]
                else:
                    result.pop("status", None)
                new = result
                _check_schema(rt, name, new)
            else:
                if from_api and rt.status_subresource:
                    # Writes to the main resource cannot change status (that is what /status is for).
                    if "status" in old:
                        new["status"] = copy.deepcopy(old["status"])
                    else:
                        new.pop("status", None)
                meta = new["metadata"]
                for fixed in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                              "generateName"):
                    if fixed in old["metadata"]:
                        meta[fixed] = old["metadata"][fixed]
                    else:
                        meta.pop(fixed, None)
                meta["name"] = name
                if rt.namespaced:
                    meta["namespace"] = ns
                meta.pop("managedFields", None)
                _check_schema(rt, name, new)
                if from_api:
                    _validate(rt, new)
                self._apply_defaults(rt, new, creating=False, old=old)
                if from_api:
                    self._admit(rt, new)
            new.setdefault("apiVersion", rt.api_version)
            new.setdefault("kind", rt.kind)
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            if rt.generation:
                changed = _without(new, "metadata", "status") != _without(old, "metadata", "status")
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + (1 if changed else 0)
            if new == old:
                # A no-op update neither bumps the resourceVersion nor fires an event.
                return copy.deepcopy(old)
            if dry_run:
                return new
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                # The last finalizer is gone: the pending deletion completes now.
                self._commit("DELETED", rt, ns, name, new, old)
                self._collect_dependents(new["metadata"]["uid"], "Background")
                return copy.deepcopy(new)
            self._commit("MODIFIED", rt, ns, name, new, old)
            return copy.deepcopy(new)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, patch: Any, content_type: str, *,
              subresource: str | None = None, from_api: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """PATCH with any of the supported patch content types."""
        if rt.custom_resource and content_type == STRATEGIC_MERGE_PATCH:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                           f"media types include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}")
        with self._lock:
            ns = _scope(rt, namespace)
            old = self._objects.get((rt.key, ns, name))
            if old is None:
                if content_type == APPLY_PATCH and isinstance(patch, dict):
                    # Server-side apply creates missing objects (the merge itself is only approximated).
                    return self.create(rt, namespace, {**patch, "metadata": {**patch.get("metadata", {}),
                                                                              "name": name}},
                                       from_api=from_api, dry_run=dry_run)
                raise not_found(rt, name)
            try:
                patched = apply_patch(old, patch, content_type)
            except PatchError as exc:
                raise ApiError(422, "Invalid", str(exc), _details(rt, name)) from exc
            if not isinstance(patched, dict):
                raise bad_request("the patch does not produce an object")
            patched_rv = (patched.get("metadata") or {}).get("resourceVersion")
            if patched_rv and patched_rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name, "the object has been modified; please apply your changes to the latest "
                               "version and try again")
            return self.replace(rt, namespace, name, patched, subresource=subresource, from_api=from_api,
                                dry_run=dry_run, check_version=False)

    def delete(self, rt: ResourceType, namespace: str | None, name: str, *,
               propagation_policy: str | None = None, preconditions: dict[str, Any] | None = None,
               dry_run: bool = False) -> tuple[dict[str, Any], bool]:
        """Delete an object; returns (object, whether it is gone now).

        Objects with ``metadata.finalizers`` only get a deletionTimestamp until the finalizers
        are removed. Dependents (ownerReferences to this uid) are deleted too, unless the
        policy is ``Orphan``; ``Foreground`` deletes them before the owner, ``Background`` after.
        """
        with self._lock:
            ns = _scope(rt, namespace)
            old = self._objects.get((rt.key, ns, name))
            if old is None:
                raise not_found(rt, name)
            preconditions = preconditions or {}
            if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
                raise conflict(rt, name, f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                               f"UID in object meta: {old['metadata']['uid']}")
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != old["metadata"][
                    "resourceVersion"]:
                raise conflict(rt, name, "Precondition failed: ResourceVersion in precondition: "
                               f"{preconditions['resourceVersion']}, ResourceVersion in object meta: "
                               f"{old['metadata']['resourceVersion']}")
            if dry_run:
                return copy.deepcopy(old), True
            policy = propagation_policy or "Background"
            uid = old["metadata"]["uid"]
            if rt.kind == "Namespace":
                if name in ("default", "kube-system", "kube-public"):
                    raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be '
                                   "deleted", _details(rt, name))
                return self._delete_namespace(rt, name, old), True
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(old), False
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = now()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                self._commit("MODIFIED", rt, ns, name, new, old)
                return copy.deepcopy(new), False
            if policy == "Foreground":
                self._collect_dependents(uid, policy)
            gone = copy.deepcopy(old)
            self._commit("DELETED", rt, ns, name, gone, old)
            if policy != "Foreground":
                self._collect_dependents(uid, policy)
            return copy.deepcopy(gone), True

    def _delete_namespace(self, rt: ResourceType, name: str, old: dict[str, Any]) -> dict[str, Any]:
        """Namespace deletion: Terminating, then its content goes, then the namespace itself."""
        terminating = copy.deepcopy(old)
        terminating["metadata"]["deletionTimestamp"] = now()
        terminating.setdefault("status", {})["phase"] = "Terminating"
        self._commit("MODIFIED", rt, "", name, terminating, old)
        for (key, ns, obj_name), _obj in sorted(self._objects.items()):
            if ns == name and (key, ns, obj_name) in self._objects:
                member = next(t for t in self.registry.types if t.key == key)
                self._force_delete(member, ns, obj_name)
        current = self._objects[(rt.key, "", name)]
        gone = copy.deepcopy(current)
        self._commit("DELETED", rt, "", name, gone, current)
        return copy.deepcopy(gone)

    def purge(self, rt: ResourceType) -> None:
        """Remove every object of a type at once, finalizers or not (its CRD is going away)."""
        with self._lock:
            for key, ns, name in sorted(self._objects):
                if key == rt.key:
                    self._force_delete(rt, ns, name)

    def _force_delete(self, rt: ResourceType, ns: str, name: str) -> None:
        old = self._objects.get((rt.key, ns, name))
        if old is not None:
            self._commit("DELETED", rt, ns, name, copy.deepcopy(old), old)
            self._collect_dependents(old["metadata"]["uid"], "Background")

    def _collect_dependents(self, owner_uid: str, policy: str) -> None:
        """The garbage collector, run synchronously: handle objects owned by ``owner_uid``."""
        by_key = self.registry.by_key()
        live_uids = {o["metadata"].get("uid") for o in self._objects.values()}
        for key, ns, name in sorted(self._objects):
            obj = self._objects.get((key, ns, name))  # re-read: recursive deletions change the store
            if obj is None:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if not any(r.get("uid") == owner_uid for r in refs) or key not in by_key:
                continue
            rt = by_key[key]
            remaining = [r for r in refs if r.get("uid") != owner_uid]
            if policy == "Orphan" or any(r.get("uid") in live_uids for r in remaining):
                # Orphaned, or still owned by someone alive: just drop the dangling reference.
                new = copy.deepcopy(obj)
                if remaining:
                    new["metadata"]["ownerReferences"] = remaining
                else:
                    new["metadata"].pop("ownerReferences", None)
                self._commit("MODIFIED", rt, ns, name, new, obj)
            else:
                self.delete(rt, ns, name, propagation_policy=policy)

    # ----------------------------------------------------------------- defaults

    def _admit(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        for plugin in self.admission:
            plugin(rt, obj)

    @staticmethod
    def _check_type(rt: ResourceType, obj: dict[str, Any]) -> None:
        if not isinstance(obj, dict):
            raise bad_request("the body of the request was not a JSON object")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != rt.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        if api_version and api_version != rt.api_version:
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                              f"({rt.api_version})")
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind

    def _apply_defaults(self, rt: ResourceType, obj: dict[str, Any], creating: bool,
                        old: dict[str, Any] | None = None) -> None:
        """The few defaults and normalisations of the real registry that clients notice."""
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else None
        if rt.kind == "Secret":
            obj.setdefault("type", "Opaque")
            string_data = obj.pop("stringData", None) or {}
            if string_data:
                data = obj.setdefault("data", {})
                for key, value in string_data.items():
                    data[key] = base64.b64encode(str(value).encode()).decode()
        elif rt.kind == "Namespace":
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {}).setdefault("phase", "Active")
        elif rt.kind == "Pod":
            obj.setdefault("status", {}).setdefault("phase", "Pending")
            if spec is not None:
                obj["status"].setdefault("qosClass", qos_class(spec))  # set once, at creation, by the registry
                spec.setdefault("restartPolicy", "Always")
                spec.setdefault("schedulerName", "default-scheduler")
                spec.setdefault("terminationGracePeriodSeconds", 30)
                spec.setdefault("serviceAccountName", "default")
        elif rt.kind == "Service" and spec is not None:
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if creating and spec.get("clusterIP") is None:
                number = next(self._cluster_ips)
                ip = f"10.96.{number // 250}.{number % 250 + 1}"
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            elif not creating and old is not None and "clusterIP" not in spec:
                # clusterIP is immutable; an update that omits it keeps the allocated one.
                for keep in ("clusterIP", "clusterIPs"):
                    if keep in (old.get("spec") or {}):
                        spec[keep] = old["spec"][keep]
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
                    port.setdefault("targetPort", port.get("port"))
            obj.setdefault("status", {"loadBalancer": {}})
        elif rt.kind in ("Deployment", "ReplicaSet", "StatefulSet") and spec is not None:
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            if rt.kind == "Deployment":
                spec.setdefault("progressDeadlineSeconds", 600)
                spec.setdefault("strategy", {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        elif rt.kind == "Job" and isinstance(obj.get("spec"), dict):
            default_job(obj, old)
        if rt.status_subresource and not rt.custom_resource and rt.kind not in ("Pod", "Namespace", "Service"):
            obj.setdefault("status", {})

    # ----------------------------------------------------------------- watches and subscribers

    def open_watch(self, rt: ResourceType, namespace: str | None,
                   resource_version: str | None) -> tuple[Watcher, list[Event]]:
        """Register a watch; returns it with the events it must send first.

        No resourceVersion (or "0"): synthetic ADDED events for every current object, like the
        real server. Otherwise: every retained event after that version, or 410 Expired.
        """
        with self._lock:
            watcher = Watcher(rt, namespace)
            if resource_version in (None, "", "0"):
                initial = [
                    Event("ADDED", rt, ns, name, obj, None, int(obj["metadata"]["resourceVersion"]))
                    for (key, ns, name), obj in sorted(self._objects.items())
                    if key == rt.key and (namespace is None or ns == namespace)
                ]
            else:
                try:
                    since = int(resource_version)
                except ValueError as exc:
                    raise bad_request(f"invalid resource version {resource_version!r}") from exc
                if since < self._compacted_rv:
                    raise Expired(since, self._compacted_rv)
                initial = [e for e in self._history if e.resource_version > since and watcher.wants(e)]
            self._watchers.add(watcher)
            return watcher, initial

    def close_watch(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.discard(watcher)

    def close_all_watches(self) -> None:
        """End every open watch (clients see the stream end, as after a server-side timeout)."""
        with self._lock:
            for watcher in list(self._watchers):
                watcher.queue.put(None)
            self._watchers.clear()

    def compact(self) -> None:
        """Forget the event history: watches resuming from an older resourceVersion get 410 Gone."""
        with self._lock:
            self._history.clear()
            self._compacted_rv = self._rv  # resuming from the current version misses nothing

    def subscribe(self, callback: Callable[[Event], None],
                  resources: Iterable[ResourceType] | ResourceType | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for every later change (optionally of some types only).

        Callbacks run one at a time on a dispatcher thread, in resourceVersion order, and may
        write to the store. They receive deep copies. Returns a function that unsubscribes.
        """
        wanted = [resources] if isinstance(resources, ResourceType) else list(resources or [])
        entries = [(callback, rt) for rt in wanted] or [(callback, None)]
        with self._lock:
            self._subscribers.extend(entries)
            if self._dispatch_thread is None:
                self._dispatch_thread = threading.Thread(target=self._run_dispatch, name="k8s-emulator-dispatch",
                                                         daemon=True)
                self._dispatch_thread.start()

        def unsubscribe() -> None:
            with self._lock:
                for entry in entries:
                    if entry in self._subscribers:
                        self._subscribers.remove(entry)

        return unsubscribe

    def _run_dispatch(self) -> None:
        while True:
            event = self._dispatch.get()
            if event is None:
                return
            with self._lock:
                subscribers = list(self._subscribers)
            delivered: set[int] = set()
            for callback, rt in subscribers:
                if (rt is None or rt == event.resource) and id(callback) not in delivered:
                    delivered.add(id(callback))
                    private = Event(event.type, event.resource, event.namespace, event.name,
                                    copy.deepcopy(event.object), copy.deepcopy(event.old), event.resource_version)
                    try:
                        callback(private)
                    except Exception:  # a broken subscriber must not stop the others
                        log.exception("emulator subscriber %r failed on %s %s", callback, event.type, event.name)
            with self._dispatched:
                self._delivered += 1
                self._dispatched.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until subscribers have seen every event so far (and those their callbacks caused).

        Must not be called from a subscriber callback. Returns False on timeout.
        """
        with self._dispatched:
            return self._dispatched.wait_for(lambda: self._delivered >= self._enqueued, timeout)

    def shutdown(self) -> None:
        """Stop the dispatcher thread and end open watches."""
        self.close_all_watches()
        if self._dispatch_thread is not None:
            self._dispatch.put(None)
            self._dispatch_thread.join(timeout=5)
            self._dispatch_thread = None


_WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions) against a label map."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _validate(rt: ResourceType, obj: dict[str, Any]) -> None:
    """The slice of the real server's validation that catches common chart mistakes.

    apps/v1 workloads need a selector that matches their pod template's labels; a template
    whose labels landed at the wrong indentation fails exactly here on a real cluster too
    (the stray keys are pruned as unknown fields, then the selector no longer matches).
    """
    if rt.kind not in _WORKLOADS:
        return
    name = obj["metadata"].get("name", "")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        raise invalid(rt, name, "spec.selector", "Required value", reason="FieldValueRequired")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    labels = ((template.get("metadata") or {}).get("labels")) or {}
    if not isinstance(labels, dict) or not _selector_matches(selector, labels):
        raise invalid(rt, name, "spec.template.metadata.labels", "`selector` does not match template `labels`",
                      labels)


def _check_schema(rt: ResourceType, name: str, obj: dict[str, Any]) -> None:
    """Prune, default and validate a custom object against its structural schema (in place)."""
    if rt.schema is not None:
        causes = rt.schema.process(obj)
        if causes:
            raise invalid_causes(rt, name, causes)


def _scope(rt: ResourceType, namespace: str | None) -> str:
    """The namespace part of a store key: "" for cluster-scoped types."""
    return (namespace or "") if rt.namespaced else ""


def _without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}
