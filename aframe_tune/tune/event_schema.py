"""The part of TensorFlow's ``Event`` protocol buffer that :mod:`aframe_tune.tune.event_files` reads.

Declared to protobuf here, with TensorFlow's field numbers and types (``event.proto``,
``summary.proto``, ``tensor.proto``), so that decoding an event file needs protobuf alone. A
record's other fields are skipped as unknown fields, as protobuf skips any field it was not told of.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "aframe_tune.tensorboard"
Field = descriptor_pb2.FieldDescriptorProto
# (message, [(field, number, type, label, message type of the field, oneof index)]); DataType,
# an enum in TensorFlow's schema, is read as the varint it is on the wire
MESSAGES: list[tuple[str, list[tuple[str, int, int, int, str, int | None]]]] = [
    ("TensorProto", [
        ("dtype", 1, Field.TYPE_INT32, Field.LABEL_OPTIONAL, "", None),
        ("tensor_content", 4, Field.TYPE_BYTES, Field.LABEL_OPTIONAL, "", None),
        ("float_val", 5, Field.TYPE_FLOAT, Field.LABEL_REPEATED, "", None),
        ("double_val", 6, Field.TYPE_DOUBLE, Field.LABEL_REPEATED, "", None),
    ]),
    ("Value", [  # Summary.Value; simple_value and tensor are two cases of its oneof "value"
        ("tag", 1, Field.TYPE_STRING, Field.LABEL_OPTIONAL, "", None),
        ("simple_value", 2, Field.TYPE_FLOAT, Field.LABEL_OPTIONAL, "", 0),
        ("tensor", 8, Field.TYPE_MESSAGE, Field.LABEL_OPTIONAL, "TensorProto", 0),
    ]),
    ("Summary", [("value", 1, Field.TYPE_MESSAGE, Field.LABEL_REPEATED, "Value", None)]),
    ("Event", [
        ("wall_time", 1, Field.TYPE_DOUBLE, Field.LABEL_OPTIONAL, "", None),
        ("step", 2, Field.TYPE_INT64, Field.LABEL_OPTIONAL, "", None),
        ("summary", 5, Field.TYPE_MESSAGE, Field.LABEL_OPTIONAL, "Summary", 0),  # a case of oneof "what"
    ]),
]
ONEOFS = {"Value": "value", "Event": "what"}


def _schema() -> descriptor_pb2.FileDescriptorProto:
    schema = descriptor_pb2.FileDescriptorProto(name="aframe_tune/tensorboard_event.proto", package=PACKAGE,
                                                syntax="proto3")
    for name, fields in MESSAGES:
        message = schema.message_type.add(name=name)
        if name in ONEOFS:
            message.oneof_decl.add(name=ONEOFS[name])
        for field, number, kind, label, type_name, oneof in fields:
            declared = message.field.add(name=field, number=number, type=kind, label=label)
            if type_name:
                declared.type_name = f".{PACKAGE}.{type_name}"
            if oneof is not None:
                declared.oneof_index = oneof
    return schema


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_schema())
Event = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.Event"))
