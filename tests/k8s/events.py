"""Recording core/v1 Events, as client-go's event recorder does for controllers and the kubelet.

``kubectl get events`` lists them and ``kubectl describe`` shows those of an object (it selects
them by ``involvedObject`` fields). Like client-go's correlator, a repeat of the same event (same
object, type, reason and message) bumps ``count`` and ``lastTimestamp`` of the first instead of
adding another.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"


class _Api(Protocol):
    def create(self, resource: str, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]: ...

    def patch(self, resource: str, namespace: str | None, name: str, patch: Any,
              patch_type: str = "merge") -> dict[str, Any]: ...


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_last_stamp = 0
_stamp_lock = threading.Lock()


def _stamp() -> int:
    """A distinct nanosecond time: client-go names an event after its object and the time, so names sort by time."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns(), _last_stamp + 1)
        return _last_stamp


def reference(obj: dict[str, Any], field_path: str | None = None) -> dict[str, Any]:
    """An ObjectReference to ``obj`` (``field_path`` names a container: ``spec.containers{ray}``)."""
    metadata = obj["metadata"]
    ref = {"kind": obj.get("kind"), "namespace": metadata.get("namespace"), "name": metadata["name"],
           "uid": metadata.get("uid"), "apiVersion": obj.get("apiVersion"),
           "resourceVersion": metadata.get("resourceVersion")}
    if field_path:
        ref["fieldPath"] = field_path
    return {k: v for k, v in ref.items() if v is not None}


class EventRecorder:
    """Records Events as one component (``default-scheduler``, ``kubelet``, ``job-controller``...)."""

    def __init__(self, api: _Api, component: str, host: str | None = None) -> None:
        self.api = api
        self.component = component
        self.host = host
        self._seen: dict[tuple[str, ...], tuple[str, int]] = {}  # correlation key -> (event name, count)
        self._lock = threading.Lock()

    def record(self, obj: dict[str, Any], type_: str, reason: str, message: str,
               field_path: str | None = None) -> None:
        """Record (or count once more) an event about ``obj``; never raises: events are best effort."""
        involved = reference(obj, field_path)
        namespace = involved.get("namespace") or "default"
        key = (involved.get("uid", ""), field_path or "", type_, reason, message)
        try:
            with self._lock:
                seen = self._seen.get(key)
                if seen is not None:
                    name, count = seen
                    self.api.patch("events", namespace, name, {"count": count + 1, "lastTimestamp": _now()})
                    self._seen[key] = (name, count + 1)
                    return
                name = f"{involved['name']}.{_stamp():x}"
                self.api.create("events", namespace, self._event(name, namespace, involved, type_, reason, message))
                self._seen[key] = (name, 1)
        except Exception as exc:  # the object's namespace is gone, say: an event is never worth failing for
            log.debug("event %s on %s not recorded: %s", reason, involved.get("name"), exc)

    def _event(self, name: str, namespace: str, involved: dict[str, Any], type_: str, reason: str,
               message: str) -> dict[str, Any]:
        source = {"component": self.component, **({"host": self.host} if self.host else {})}
        stamp = _now()
        return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                "involvedObject": involved, "reason": reason, "message": message, "source": source,
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": type_, "eventTime": None,
                "reportingComponent": self.component, "reportingInstance": self.host or ""}
