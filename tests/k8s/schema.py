"""Structural OpenAPI v3 schemas of CustomResourceDefinitions: pruning, defaulting, validation.

What a real API server does to a custom object on every write, in its order: fields the schema
does not know are dropped (``x-kubernetes-preserve-unknown-fields`` keeps them; the metadata of
an ``x-kubernetes-embedded-resource`` keeps only name, namespace, labels, annotations,
generateName and finalizers), nulls of non-nullable fields are dropped, ``default:`` values fill
missing fields, and then the object is validated. Every violation is collected as a ``Status``
cause worded like the real server's (``Invalid value: "string": spec.x in body must be of type
integer: "string"``, ``Required value``, ``Unsupported value: ...``). :meth:`StructuralSchema.unknown_fields`
lists what pruning would drop, for ``fieldValidation=Strict``.

Keywords enforced: type (incl. nullable), x-kubernetes-int-or-string, properties, required,
additionalProperties, items, enum, minimum/maximum (and exclusive), minLength/maxLength,
pattern, minItems/maxItems, minProperties/maxProperties, uniqueness of ``x-kubernetes-list-type``
``set``/``map`` lists, format ``date-time``. Not enforced: ``x-kubernetes-validations`` (CEL
rules), anyOf/allOf/oneOf/not beyond int-or-string, other formats (int32/int64 ranges
included), ``x-kubernetes-map-type`` and list types' merge semantics (server-side apply).

A schema is compiled once into :class:`Node` objects; a write then walks only the object.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

MISSING: Any = object()
# The ObjectMeta fields an embedded resource keeps (the rest is pruned).
EMBEDDED_METADATA = ("name", "namespace", "labels", "annotations", "generateName", "finalizers")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(eq=False)
class Node:
    """One compiled schema node (only the keywords this module enforces)."""

    type: str | None = None
    nullable: bool = False
    int_or_string: bool = False
    preserve_unknown: bool = False
    embedded: bool = False
    properties: dict[str, Node] = field(default_factory=dict)
    additional: Node | bool | None = None  # a schema, True (anything), or None (not allowed)
    items: Node | None = None
    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    default: Any = MISSING
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    format: str | None = None
    list_type: str | None = None
    list_map_keys: tuple[str, ...] = ()
    has_defaults: bool = False  # whether this node or a descendant has a default (skip the rest)

    def child(self, key: str) -> Node | None:
        """The schema of property ``key``: declared, or additionalProperties'."""
        found = self.properties.get(key)
        if found is None and isinstance(self.additional, Node):
            return self.additional
        return found

    def keeps_unknown(self) -> bool:
        return self.preserve_unknown or self.additional is True


def compile_schema(schema: dict[str, Any]) -> Node:
    """Compile an ``openAPIV3Schema`` (a JSONSchemaProps dict) into a :class:`Node` tree."""
    node = Node(
        type=schema.get("type"),
        nullable=bool(schema.get("nullable")),
        int_or_string=bool(schema.get("x-kubernetes-int-or-string")),
        preserve_unknown=bool(schema.get("x-kubernetes-preserve-unknown-fields")),
        embedded=bool(schema.get("x-kubernetes-embedded-resource")),
        properties={k: compile_schema(v) for k, v in (schema.get("properties") or {}).items()},
        required=tuple(schema.get("required") or ()),
        enum=tuple(schema["enum"]) if "enum" in schema else None,
        default=copy.deepcopy(schema["default"]) if "default" in schema else MISSING,
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
        exclusive_minimum=bool(schema.get("exclusiveMinimum")),
        exclusive_maximum=bool(schema.get("exclusiveMaximum")),
        min_length=schema.get("minLength"),
        max_length=schema.get("maxLength"),
        min_items=schema.get("minItems"),
        max_items=schema.get("maxItems"),
        min_properties=schema.get("minProperties"),
        max_properties=schema.get("maxProperties"),
        format=schema.get("format"),
        list_type=schema.get("x-kubernetes-list-type"),
        list_map_keys=tuple(schema.get("x-kubernetes-list-map-keys") or ()),
    )
    additional = schema.get("additionalProperties")
    node.additional = compile_schema(additional) if isinstance(additional, dict) else (True if additional else None)
    if isinstance(schema.get("items"), dict):
        node.items = compile_schema(schema["items"])
    if "pattern" in schema:
        node.pattern_text = schema["pattern"]
        try:
            node.pattern = re.compile(schema["pattern"])
        except re.error:  # an RE2-only construct: leave it unenforced rather than refuse every object
            node.pattern = None
    children = [*node.properties.values(), node.items, node.additional]
    node.has_defaults = node.default is not MISSING or any(isinstance(c, Node) and c.has_defaults for c in children)
    return node


class StructuralSchema:
    """A compiled CRD version schema; :meth:`process` prunes, defaults and validates an object in place."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.root = compile_schema(openapi)

    def process(self, obj: dict[str, Any]) -> list[dict[str, str]]:
        """Prune and default ``obj`` (a whole custom object) in place; return the validation causes."""
        prune(obj, self.root, resource_root=True)
        if self.root.has_defaults:
            apply_defaults(obj, self.root, resource_root=True)
        causes: list[dict[str, str]] = []
        validate(obj, self.root, "", causes, resource_root=True)
        return causes

    def unknown_fields(self, obj: Any) -> list[str]:
        """Paths of the fields pruning would drop (what ``fieldValidation=Strict`` refuses); no change to ``obj``."""
        found: list[str] = []
        _unknown(obj, self.root, "", found, resource_root=True)
        return found


# ----------------------------------------------------------------- pruning and defaulting

def prune(value: Any, node: Node, resource_root: bool = False) -> None:
    """Drop unknown fields (and nulls of non-nullable ones) from ``value``, recursively."""
    if isinstance(value, list):
        if node.items is not None:
            for item in value:
                prune(item, node.items)
        return
    if not isinstance(value, dict):
        return
    type_meta = resource_root or node.embedded
    for key in list(value):
        if type_meta and key in ("apiVersion", "kind", "metadata"):
            if key == "metadata" and node.embedded and isinstance(value[key], dict):
                _prune_embedded_metadata(value[key], node.properties.get("metadata"))
            continue
        child = node.child(key)
        if child is None:
            if not node.keeps_unknown():
                del value[key]
            continue
        if value[key] is None and not child.nullable:
            # As the real server: a non-nullable null is dropped (and then defaulted, if it has a default).
            del value[key]
            continue
        prune(value[key], child)


def _unknown(value: Any, node: Node, path: str, found: list[str], resource_root: bool = False) -> None:
    if isinstance(value, list):
        if node.items is not None:
            for index, item in enumerate(value):
                _unknown(item, node.items, f"{path}[{index}]", found)
        return
    if not isinstance(value, dict):
        return
    prefix = f"{path}." if path else ""
    for key, item in value.items():
        if (resource_root or node.embedded) and key in ("apiVersion", "kind", "metadata"):
            continue
        child = node.child(key)
        if child is None:
            if not node.keeps_unknown():
                found.append(f"{prefix}{key}")
        elif item is not None:
            _unknown(item, child, f"{prefix}{key}", found)


def _prune_embedded_metadata(metadata: dict[str, Any], node: Node | None) -> None:
    for key in list(metadata):
        if key not in EMBEDDED_METADATA:
            del metadata[key]
    if node is not None:
        prune(metadata, node)


def apply_defaults(value: Any, node: Node, resource_root: bool = False) -> None:
    """Fill missing fields from ``default:`` values, recursively (defaults get their own defaults)."""
    if isinstance(value, list):
        if node.items is not None and node.items.has_defaults:
            for item in value:
                apply_defaults(item, node.items)
        return
    if not isinstance(value, dict):
        return
    for key, child in node.properties.items():
        if key not in value and child.default is not MISSING and not (resource_root and key == "metadata"):
            value[key] = copy.deepcopy(child.default)
    for key, item in value.items():
        child = node.child(key)
        if child is not None and child.has_defaults and not (resource_root and key == "metadata"):
            apply_defaults(item, child)


# ----------------------------------------------------------------- validation

def type_name(value: Any) -> str:
    """The JSON type of a decoded value, as the real server names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_ok(value: Any, node: Node) -> bool:
    actual = type_name(value)
    if node.int_or_string:
        return actual in ("integer", "string")
    if node.type is None:
        return True
    return actual == node.type or (node.type == "number" and actual == "integer")


def _cause(causes: list[dict[str, str]], path: str, reason: str, message: str) -> None:
    causes.append({"reason": reason, "message": message, "field": path})


def _invalid(causes: list[dict[str, str]], path: str, value: Any, why: str) -> None:
    _cause(causes, path, "FieldValueInvalid", f"Invalid value: {_render(value)}: {path} in body {why}")


def _render(value: Any) -> str:
    """A value as the real server prints it after ``Invalid value:`` (Go's %q for strings)."""
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (str, int, float, bool)) else (
        "null" if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True))


def validate(value: Any, node: Node, path: str, causes: list[dict[str, str]], resource_root: bool = False) -> None:
    """Append a cause for every violation of ``node`` by ``value`` at ``path``."""
    if value is None and node.nullable:
        return
    if not _type_ok(value, node):
        expected = "integer,string" if node.int_or_string else node.type
        actual = type_name(value)
        _cause(causes, path, "FieldValueInvalid",
               f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"')
        return
    if node.enum is not None and value not in node.enum:
        allowed = ", ".join(_render(v) for v in node.enum)
        _cause(causes, path, "FieldValueNotSupported",
               f"Unsupported value: {_render(value)}: supported values: {allowed}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _validate_number(value, node, path, causes)
    elif isinstance(value, str):
        _validate_string(value, node, path, causes)
    elif isinstance(value, list):
        _validate_list(value, node, path, causes)
    elif isinstance(value, dict):
        _validate_object(value, node, path, causes, resource_root)


def _validate_number(value: float, node: Node, path: str, causes: list[dict[str, str]]) -> None:
    if node.minimum is not None and (value < node.minimum or (node.exclusive_minimum and value == node.minimum)):
        relation = "greater than" if node.exclusive_minimum else "greater than or equal to"
        _invalid(causes, path, value, f"should be {relation} {_number(node.minimum)}")
    if node.maximum is not None and (value > node.maximum or (node.exclusive_maximum and value == node.maximum)):
        relation = "less than" if node.exclusive_maximum else "less than or equal to"
        _invalid(causes, path, value, f"should be {relation} {_number(node.maximum)}")


def _number(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() else str(limit)


def _validate_string(value: str, node: Node, path: str, causes: list[dict[str, str]]) -> None:
    if node.max_length is not None and len(value) > node.max_length:
        _cause(causes, path, "FieldValueTooLong", f"Too long: may not be more than {node.max_length} bytes")
    if node.min_length is not None and len(value) < node.min_length:
        _invalid(causes, path, value, f"should be at least {node.min_length} chars long")
    if node.pattern is not None and node.pattern.search(value) is None:
        _invalid(causes, path, value, f"should match '{node.pattern_text}'")
    if node.format == "date-time" and not _RFC3339.match(value):
        _invalid(causes, path, value, f'must be of type date-time: "{value}"')


def _validate_list(value: list[Any], node: Node, path: str, causes: list[dict[str, str]]) -> None:
    if node.min_items is not None and len(value) < node.min_items:
        _invalid(causes, path, len(value), f"should have at least {node.min_items} items")
    if node.max_items is not None and len(value) > node.max_items:
        _cause(causes, path, "FieldValueTooMany", f"Too many: {len(value)}: must have at most {node.max_items} items")
    if node.list_type in ("set", "map"):
        _validate_unique(value, node, path, causes)
    if node.items is not None:
        for index, item in enumerate(value):
            validate(item, node.items, f"{path}[{index}]", causes)


def _validate_unique(value: list[Any], node: Node, path: str, causes: list[dict[str, str]]) -> None:
    """``set`` items and ``map`` items' keys must be unique."""
    seen: set[str] = set()
    for index, item in enumerate(value):
        if node.list_type == "map" and isinstance(item, dict):
            key = {k: item.get(k) for k in node.list_map_keys if k in item}
            shown = "map[string]interface {}{" + ", ".join(f'"{k}":{_render(v)}' for k, v in key.items()) + "}"
        else:
            key, shown = item, _render(item)
        fingerprint = json.dumps(key, sort_keys=True)
        if fingerprint in seen:
            _cause(causes, f"{path}[{index}]", "FieldValueDuplicate", f"Duplicate value: {shown}")
        seen.add(fingerprint)


def _validate_object(value: dict[str, Any], node: Node, path: str, causes: list[dict[str, str]],
                     resource_root: bool) -> None:
    prefix = f"{path}." if path else ""
    for key in node.required:
        if key not in value:
            _cause(causes, f"{prefix}{key}", "FieldValueRequired", "Required value")
    if node.min_properties is not None and len(value) < node.min_properties:
        _invalid(causes, path, len(value), f"should have at least {node.min_properties} properties")
    if node.max_properties is not None and len(value) > node.max_properties:
        _invalid(causes, path, len(value), f"should have at most {node.max_properties} properties")
    for key, item in value.items():
        if resource_root and key == "metadata":
            continue  # ObjectMeta is the store's business, as in the real server
        child = node.child(key)
        if child is not None:
            validate(item, child, f"{prefix}{key}", causes)
