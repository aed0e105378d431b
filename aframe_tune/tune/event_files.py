"""Scalars of TensorBoard event files, read as they grow.

An event file is a sequence of TFRecords (a little-endian 64-bit length, a CRC of it, the
record, a CRC of the record), each record an ``Event`` protocol buffer. protobuf decodes them
with the part of TensorFlow's schema read here (:mod:`aframe_tune.tune.event_schema`). The
``tensorboard`` package, whose reader (``EventFileLoader``) does the same, would bring a web
server and its dependencies for these few lines; tensorboardX's copy of the schema cannot be
imported without tensorboardX's package, which imports torch (1.1 s and ~185 MB in every trial
process of a command's search, and in its driver).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aframe_tune.tune.event_schema import Event

HEADER = struct.Struct("<QI")  # length, masked CRC of the length
FOOTER_BYTES = 4  # masked CRC of the record
# TensorFlow's DataType numbers of a scalar held as a tensor (TF 2 summaries)
DT_FLOAT, DT_DOUBLE = 1, 2


@dataclass(frozen=True)
class Scalar:
    """One scalar an event file holds.

    Args:
        tag: its name (``valid/loss``).
        step: the step it was logged at.
        value: its value.
    """

    tag: str
    step: int
    value: float


def scalars_of(event: Any) -> list[Scalar]:
    """The scalars of one event: ``simple_value`` (tensorboardX, PyTorch) or a one-number tensor (TF 2)."""
    found = []
    for value in event.summary.value:
        if value.HasField("simple_value"):
            found.append(Scalar(value.tag, event.step, float(value.simple_value)))
        elif value.HasField("tensor"):
            number = _tensor_scalar(value.tensor)
            if number is not None:
                found.append(Scalar(value.tag, event.step, number))
    return found


def _tensor_scalar(tensor: object) -> float | None:
    dtype = getattr(tensor, "dtype", None)
    if dtype == DT_FLOAT and tensor.float_val:  # type: ignore[attr-defined]
        return float(tensor.float_val[0])  # type: ignore[attr-defined]
    if dtype == DT_DOUBLE and tensor.double_val:  # type: ignore[attr-defined]
        return float(tensor.double_val[0])  # type: ignore[attr-defined]
    content = getattr(tensor, "tensor_content", b"")
    if dtype == DT_FLOAT and len(content) == 4:
        return struct.unpack("<f", content)[0]
    if dtype == DT_DOUBLE and len(content) == 8:
        return struct.unpack("<d", content)[0]
    return None


class EventFileTail:
    """Reads the records a growing event file gains; a record still being written waits for the next read.

    Args:
        path: the event file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def new_scalars(self) -> list[Scalar]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        scalars, used = [], 0
        while len(data) - used >= HEADER.size:
            length, _ = HEADER.unpack_from(data, used)
            end = used + HEADER.size + length + FOOTER_BYTES
            if end > len(data):
                break
            record = data[used + HEADER.size: used + HEADER.size + length]
            scalars.extend(scalars_of(Event.FromString(record)))
            used = end
        self.offset += used
        return scalars


class EventFolder:
    """Every event file under a folder (Lightning and others write into subfolders), read as they grow.

    Args:
        folder: where the command writes its event files.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tails: dict[Path, EventFileTail] = {}

    def new_scalars(self) -> list[Scalar]:
        if self.folder.is_dir():
            for path in sorted(self.folder.rglob("*tfevents*")):
                if path.is_file() and path not in self.tails:
                    self.tails[path] = EventFileTail(path)
        return [scalar for tail in self.tails.values() for scalar in tail.new_scalars()]
