"""Just enough protobuf to read what client-go sends and to write an OpenAPI v2 document.

client-go (>= 0.32, used by helm 3.17) encodes built-in objects as protobuf: the body is the
magic ``k8s\\x00`` followed by a ``runtime.Unknown`` message whose ``raw`` field holds the
object. There is no generated code for Kubernetes types in Python, so this module carries a
small hand-written schema for the handful of kinds that clients actually send this way
(Secret, ConfigMap, Namespace, ServiceAccount, DeleteOptions) and turns them into the JSON form.
Anything else raises :class:`UnsupportedProtobuf`, which the server answers with 415.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAGIC = b"k8s\x00"
PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# Wire types.
VARINT = 0
FIXED64 = 1
LENGTH = 2
FIXED32 = 5


class ProtobufError(ValueError):
    """The bytes are not valid protobuf (or not the message we expected)."""


class UnsupportedProtobuf(ProtobufError):
    """Valid envelope, but a kind this decoder has no schema for."""


# --------------------------------------------------------------------------- wire format


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; returns (value, new position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ProtobufError("varint too long")


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for every field of one message."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        value: int | bytes
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
        elif wire_type == LENGTH:
            length, pos = read_varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated length-delimited field")
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == FIXED64:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire_type == FIXED32:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value


def encode_varint(value: int) -> bytes:
    """Encode a non-negative (or two's-complement 64-bit negative) integer as a varint."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_field(number: int, value: int | bool | str | bytes) -> bytes:
    """Encode one field: ints/bools as varints, str/bytes length-delimited."""
    if isinstance(value, (bool, int)):
        return encode_varint(number << 3 | VARINT) + encode_varint(int(value))
    raw = value.encode() if isinstance(value, str) else value
    return encode_varint(number << 3 | LENGTH) + encode_varint(len(raw)) + raw


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# --------------------------------------------------------------------------- schemas
#
# A schema maps field number -> (json name, type). Types: "string", "bytes" (base64 in JSON),
# "int", "optional_int" (zero kept), "bool", "time" (metav1.Time -> RFC 3339), "map_string", "map_bytes",
# "strings" (repeated string), or a nested schema dict (optionally repeated, see Repeated).


@dataclass(frozen=True)
class Repeated:
    """A repeated embedded message."""

    schema: dict[int, tuple[str, Any]]


OWNER_REFERENCE: dict[int, tuple[str, Any]] = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
OBJECT_META: dict[int, tuple[str, Any]] = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    4: ("selfLink", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int"),
    8: ("creationTimestamp", "time"),
    9: ("deletionTimestamp", "time"),
    10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", "map_string"),
    12: ("annotations", "map_string"),
    13: ("ownerReferences", Repeated(OWNER_REFERENCE)),
    14: ("finalizers", "strings"),
    # 17 managedFields: server-side apply bookkeeping, deliberately dropped.
}
OBJECT_REFERENCE: dict[int, tuple[str, Any]] = {
    1: ("kind", "string"),
    2: ("namespace", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("resourceVersion", "string"),
    7: ("fieldPath", "string"),
}
LOCAL_OBJECT_REFERENCE: dict[int, tuple[str, Any]] = {1: ("name", "string")}

SECRET: dict[int, tuple[str, Any]] = {
    1: ("metadata", OBJECT_META),
    2: ("data", "map_bytes"),
    3: ("type", "string"),
    4: ("stringData", "map_string"),
    5: ("immutable", "bool"),
}
CONFIG_MAP: dict[int, tuple[str, Any]] = {
    1: ("metadata", OBJECT_META),
    2: ("data", "map_string"),
    3: ("binaryData", "map_bytes"),
    4: ("immutable", "bool"),
}
NAMESPACE: dict[int, tuple[str, Any]] = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {1: ("finalizers", "strings")}),
    3: ("status", {1: ("phase", "string")}),
}
SERVICE_ACCOUNT: dict[int, tuple[str, Any]] = {
    1: ("metadata", OBJECT_META),
    2: ("secrets", Repeated(OBJECT_REFERENCE)),
    3: ("imagePullSecrets", Repeated(LOCAL_OBJECT_REFERENCE)),
    4: ("automountServiceAccountToken", "bool"),
}
DELETE_OPTIONS: dict[int, tuple[str, Any]] = {
    1: ("gracePeriodSeconds", "optional_int"),  # a pointer in Go: 0 means "now", so keep it
    2: ("preconditions", {1: ("uid", "string"), 2: ("resourceVersion", "string")}),
    3: ("orphanDependents", "bool"),
    4: ("propagationPolicy", "string"),
    5: ("dryRun", "strings"),
}

# (apiVersion, kind) -> schema of the object carried in runtime.Unknown.raw.
SCHEMAS: dict[tuple[str, str], dict[int, tuple[str, Any]]] = {
    ("v1", "Secret"): SECRET,
    ("v1", "ConfigMap"): CONFIG_MAP,
    ("v1", "Namespace"): NAMESPACE,
    ("v1", "ServiceAccount"): SERVICE_ACCOUNT,
    # DeleteOptions travels as meta.k8s.io/v1 (or v1 from older clients).
    ("meta.k8s.io/v1", "DeleteOptions"): DELETE_OPTIONS,
    ("v1", "DeleteOptions"): DELETE_OPTIONS,
}


def _time(data: bytes) -> str | None:
    seconds = 0
    for number, _, value in iter_fields(data):
        if number == 1 and isinstance(value, int):
            seconds = _signed64(value)
    if seconds == 0:
        return None  # the zero time, which JSON spells as null (and omits)
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(data: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, _, item in iter_fields(data):
        if number == 1 and isinstance(item, bytes):
            key = item.decode()
        elif number == 2 and isinstance(item, bytes):
            value = item
    return key, value


def decode_message(data: bytes, schema: dict[int, tuple[str, Any]]) -> dict[str, Any]:
    """Decode one message with a hand-written schema into its JSON form; unknown fields are skipped.

    gogo-protobuf writes every non-pointer scalar, empty or not; the JSON form omits empty
    values (``omitempty``), so empty strings, zeros and false are dropped here too.
    """
    out: dict[str, Any] = {}
    for number, wire_type, value in iter_fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(value, int):
            if kind not in ("bool", "int", "optional_int"):
                raise ProtobufError(f"field {name}: unexpected varint")
            if value or kind == "optional_int":
                out[name] = bool(value) if kind == "bool" else _signed64(value)
            continue
        if kind == "string":
            if value:
                out[name] = value.decode()
        elif kind == "bytes":
            if value:
                out[name] = base64.b64encode(value).decode()
        elif kind == "time":
            moment = _time(value)
            if moment is not None:
                out[name] = moment
        elif kind == "map_string":
            key, raw = _map_entry(value)
            out.setdefault(name, {})[key] = raw.decode()
        elif kind == "map_bytes":
            key, raw = _map_entry(value)
            out.setdefault(name, {})[key] = base64.b64encode(raw).decode()
        elif kind == "strings":
            out.setdefault(name, []).append(value.decode())
        elif isinstance(kind, Repeated):
            out.setdefault(name, []).append(decode_message(value, kind.schema))
        elif isinstance(kind, dict):
            out[name] = decode_message(value, kind)
        else:
            raise ProtobufError(f"field {name}: wire type {wire_type} does not fit {kind!r}")
    return out


# --------------------------------------------------------------------------- envelope


@dataclass(frozen=True)
class Unknown:
    """runtime.Unknown: the envelope around every protobuf-encoded object."""

    api_version: str
    kind: str
    raw: bytes
    content_encoding: str = ""
    content_type: str = ""


def decode_unknown(body: bytes) -> Unknown:
    """Strip the ``k8s\\x00`` magic and parse the runtime.Unknown envelope."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic prefix")
    api_version = kind = encoding = content_type = ""
    raw = b""
    for number, _, value in iter_fields(body[len(MAGIC) :]):
        if not isinstance(value, bytes):
            continue
        if number == 1:
            for sub, _, item in iter_fields(value):
                if sub == 1 and isinstance(item, bytes):
                    api_version = item.decode()
                elif sub == 2 and isinstance(item, bytes):
                    kind = item.decode()
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = value.decode()
        elif number == 4:
            content_type = value.decode()
    return Unknown(api_version, kind, raw, encoding, content_type)


def decode_object(body: bytes) -> dict[str, Any]:
    """Turn a protobuf request body into the JSON form of the object it carries."""
    envelope = decode_unknown(body)
    schema = SCHEMAS.get((envelope.api_version, envelope.kind))
    if schema is None:
        raise UnsupportedProtobuf(
            f"no protobuf schema for {envelope.api_version}/{envelope.kind}; send JSON instead"
        )
    obj = decode_message(envelope.raw, schema)
    return {"apiVersion": envelope.api_version, "kind": envelope.kind, **obj}


def encode_message(obj: dict[str, Any], schema: dict[int, tuple[str, Any]]) -> bytes:
    """The inverse of :func:`decode_message` (used by tests to build request bodies)."""
    out = bytearray()
    for number, (name, kind) in sorted(schema.items()):
        if name not in obj:
            continue
        value = obj[name]
        if kind in ("string", "int", "optional_int", "bool"):
            out += encode_field(number, value)
        elif kind == "bytes":
            out += encode_field(number, base64.b64decode(value))
        elif kind == "time":
            moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
            out += encode_field(number, encode_field(1, int(moment.timestamp())))
        elif kind in ("map_string", "map_bytes"):
            for key in sorted(value):
                raw = base64.b64decode(value[key]) if kind == "map_bytes" else value[key]
                out += encode_field(number, encode_field(1, key) + encode_field(2, raw))
        elif kind == "strings":
            for item in value:
                out += encode_field(number, item)
        elif isinstance(kind, Repeated):
            for item in value:
                out += encode_field(number, encode_message(item, kind.schema))
        elif isinstance(kind, dict):
            out += encode_field(number, encode_message(value, kind))
    return bytes(out)


def encode_object(obj: dict[str, Any]) -> bytes:
    """Encode an object the way client-go does: magic + runtime.Unknown{typeMeta, raw}."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    schema = SCHEMAS.get((api_version, kind))
    if schema is None:
        raise UnsupportedProtobuf(f"no protobuf schema for {api_version}/{kind}")
    type_meta = encode_field(1, api_version) + encode_field(2, kind)
    envelope = encode_field(1, type_meta) + encode_field(2, encode_message(obj, schema))
    # client-go always writes contentEncoding and contentType, both empty.
    envelope += encode_field(3, "") + encode_field(4, "")
    return MAGIC + envelope


# --------------------------------------------------------------------------- OpenAPI v2


def openapi_v2_document(title: str, version: str) -> bytes:
    """A minimal gnostic ``openapi_v2.Document``: swagger 2.0, info, no paths, no definitions.

    client-go asks ``/openapi/v2`` for protobuf only and parses it with gnostic; kubectl's
    validator then looks each manifest's GVK up among the definitions and skips those it
    does not find, so an empty document validates everything (helm's client-side check
    becomes a no-op, exactly as for a CRD kind on a real cluster).
    Field numbers: Document{1 swagger, 2 info, 8 paths, 9 definitions}, Info{1 title, 2 version}.
    """
    info = encode_field(1, title) + encode_field(2, version)
    return encode_field(1, "2.0") + encode_field(2, info) + encode_field(8, b"") + encode_field(9, b"")
