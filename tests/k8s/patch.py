"""The three PATCH flavours: JSON merge patch, strategic merge patch (loosely) and JSON patch."""

from __future__ import annotations

import copy
from typing import Any

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class PatchError(ValueError):
    """A patch that cannot be applied (the server answers 422 or 400)."""


# --------------------------------------------------------------------------- RFC 7386


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch: objects merge recursively, ``null`` deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------- strategic merge
#
# Real strategic merge patch reads patchStrategy/patchMergeKey from the Go struct tags. We
# only know them by field name, which covers what helm's three-way patches touch in
# Deployments, Services, Pods and their templates. Lists not listed here are replaced.

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
# Lists of scalars with patchStrategy=merge (set union).
_PRIMITIVE_MERGE = {"finalizers"}


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        # Container ports merge on containerPort, Service ports on port.
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return _MERGE_KEYS.get(field)


def _strip_directives(value: Any) -> Any:
    """A patch value that lands where nothing was: apply it to nothing to drop directives."""
    if isinstance(value, dict):
        merged = strategic_merge_patch({}, value)
        return {} if merged is _DELETE else merged
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


_DELETE = object()


def _merge_list(field: str, current: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(field, current + patch)
    if field in _PRIMITIVE_MERGE:
        return current + [v for v in patch if v not in current]
    if key is None or not all(isinstance(v, dict) for v in patch):
        return [_strip_directives(v) for v in patch]
    if any(v.get("$patch") == "replace" for v in patch):
        return [_strip_directives(v) for v in patch if v.get("$patch") != "replace"]
    result = [copy.deepcopy(v) for v in current]
    for item in patch:
        index = next((i for i, v in enumerate(result) if isinstance(v, dict) and v.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(_strip_directives(item))
        else:
            merged = strategic_merge_patch(result[index], item)
            result[index] = merged
    return result


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Apply ``$setElementOrder``: listed elements first in that order, the rest after."""
    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = sorted(items, key=lambda i: wanted.index(ident(i)) if ident(i) in wanted else len(wanted))
    return ranked


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch, with list merge keys known by field name.

    Supports ``$patch: replace|delete``, ``$retainKeys``, ``$setElementOrder/FIELD`` and
    ``$deleteFromPrimitiveList/FIELD`` — the directives client-go's three-way patches use.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        else:
            result[key] = _strip_directives(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, _merge_key(field, result[field]))
    if isinstance(patch.get("$retainKeys"), list):
        keep = set(patch["$retainKeys"])
        result = {k: v for k, v in result.items() if k in keep}
    return result


# --------------------------------------------------------------------------- RFC 6902


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    current = doc
    for part in parts[:-1]:
        if isinstance(current, list):
            try:
                current = current[int(part)]
            except (ValueError, IndexError) as exc:
                raise PatchError(f"path element {part!r} not found") from exc
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise PatchError(f"path element {part!r} not found")
    return current, parts[-1]


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _parent(doc, parts)
    try:
        return parent[int(last)] if isinstance(parent, list) else parent[last]
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise PatchError(f"path {path!r} not found") from exc


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, _pointer(path))
    try:
        return parent.pop(int(last)) if isinstance(parent, list) else parent.pop(last)
    except (ValueError, IndexError, KeyError) as exc:
        raise PatchError(f"remove: path {path!r} not found") from exc


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
            return doc
        index = int(last)
        if replace:
            parent[index] = value
        elif 0 <= index <= len(parent):
            parent.insert(index, value)
        else:
            raise PatchError(f"add: index {index} out of range")
    elif isinstance(parent, dict):
        # The API server applies JSON patches with evanphx/json-patch v4, kept on purpose
        # (kubernetes/kubernetes#102467), where a replace of a missing object key adds it, unlike
        # RFC 6902. Ray's autoscaler relies on it: it replaces a worker group's scaleStrategy
        # whether the RayCluster has one or not.
        parent[last] = value
    else:
        raise PatchError(f"path {path!r} does not point into an object or array")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            doc = _add(doc, path, _remove(doc, op["from"]))
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"test failed: {path} is not {op.get('value')!r}")
        else:
            raise PatchError(f"unknown operation {kind!r}")
    return doc


def apply_patch(target: Any, patch: Any, content_type: str) -> Any:
    """Dispatch on the PATCH Content-Type (apply patches are treated as merge patches)."""
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    if content_type == STRATEGIC_MERGE_PATCH:
        result = strategic_merge_patch(target, patch)
        if result is _DELETE:
            raise PatchError("$patch: delete at the top level")
        return result
    if content_type in (MERGE_PATCH, APPLY_PATCH):
        return merge_patch(target, patch)
    raise PatchError(f"unsupported patch type {content_type!r}")
