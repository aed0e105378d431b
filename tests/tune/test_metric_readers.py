"""A command's metrics as they appear: TensorBoard event files, JSON lines, CSV rows."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from tensorboardX import SummaryWriter
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.types_pb2 import DataType

from aframe_tune.tune.command_spec import MetricSourceKind
from aframe_tune.tune.event_files import EventFileTail
from aframe_tune.tune.metric_readers import metric_reader


def values(rows: list) -> list[dict[str, float]]:
    return [row.values for row in rows]


def written(reader, count: int, timeout_s: float = 10.0) -> list[dict[str, float]]:
    """The next ``count`` steps: tensorboardX writes its queue from a thread of its own."""
    rows, deadline = [], time.monotonic() + timeout_s
    while len(rows) < count and time.monotonic() < deadline:
        rows += reader.poll()
        time.sleep(0.05)
    return values(rows)


def test_tensorboard_scalars_are_read_as_they_are_written_a_step_once_its_metric_is_there(tmp_path: Path) -> None:
    reader = metric_reader(MetricSourceKind.TENSORBOARD, tmp_path, "valid/loss")
    assert reader.poll() == []  # no event file yet
    writer = SummaryWriter(str(tmp_path / "version_0"), flush_secs=1)  # its default: every 120 s
    writer.add_scalar("train/loss", 2.0, 0)
    writer.add_scalar("valid/loss", 1.5, 0)
    writer.flush()
    assert written(reader, 1) == [{"train/loss": 2.0, "valid/loss": 1.5, "step": 0.0}]
    writer.add_scalar("train/loss", 1.0, 1)
    writer.flush()
    assert written(reader, 1, timeout_s=1.0) == []  # the step's metric is not there yet
    writer.add_scalar("valid/loss", 0.75, 1)
    writer.add_scalar("train/loss", 0.5, 2)
    writer.add_scalar("valid/loss", 0.25, 2)
    writer.close()
    assert written(reader, 2) == [{"train/loss": 1.0, "valid/loss": 0.75, "step": 1.0},
                                     {"train/loss": 0.5, "valid/loss": 0.25, "step": 2.0}]
    assert reader.poll() == []


def test_a_record_still_being_written_waits_for_the_next_read(tmp_path: Path) -> None:
    event = Event(step=3)
    event.summary.value.add(tag="acc", simple_value=0.5)
    data = event.SerializeToString()
    record = struct.pack("<QI", len(data), 0) + data + struct.pack("<I", 0)
    path = tmp_path / "events.out.tfevents.1"
    path.write_bytes(record[:-3])
    tail = EventFileTail(path)
    assert tail.new_scalars() == []
    path.write_bytes(record)
    (scalar,) = tail.new_scalars()
    assert (scalar.tag, scalar.step, scalar.value) == ("acc", 3, 0.5)


def test_scalars_held_as_tensors_are_read_with_tensorflow_s_own_schema(tmp_path: Path) -> None:
    """TensorFlow 2 writes a scalar as a one-number tensor; the events here are built with
    tensorboardX's copy of TensorFlow's schema, and read with the part aframe-tune declares."""
    events = []
    for step, fill in enumerate([
        lambda t: (setattr(t, "dtype", DataType.DT_FLOAT), t.float_val.append(0.25)),
        lambda t: (setattr(t, "dtype", DataType.DT_DOUBLE), t.double_val.append(0.125)),
        lambda t: (setattr(t, "dtype", DataType.DT_FLOAT), setattr(t, "tensor_content", struct.pack("<f", 0.5))),
        lambda t: (setattr(t, "dtype", DataType.DT_DOUBLE), setattr(t, "tensor_content", struct.pack("<d", 0.75))),
    ]):
        event = Event(step=step, wall_time=1.5)
        value = event.summary.value.add(tag="valid/acc")
        fill(value.tensor)
        value.tensor.tensor_shape.SetInParent()
        events.append(event)
    path = tmp_path / "events.out.tfevents.2"
    path.write_bytes(b"".join(struct.pack("<QI", len(data), 0) + data + struct.pack("<I", 0)
                              for data in [Event(file_version="brain.Event:2").SerializeToString(),
                                           *[event.SerializeToString() for event in events]]))
    assert [(s.tag, s.step, s.value) for s in EventFileTail(path).new_scalars()] == \
        [("valid/acc", 0, 0.25), ("valid/acc", 1, 0.125), ("valid/acc", 2, 0.5), ("valid/acc", 3, 0.75)]


def test_json_lines_among_ordinary_output_make_steps_when_they_hold_the_metric() -> None:
    reader = metric_reader(MetricSourceKind.JSONL, Path("."), "acc")
    for line in ["Epoch 1/3", '{"loss": 0.9}', '{"acc": 0.5, "epoch": 1}', "{not json}", '["a"]',
                 '{"acc": "0.75", "note": "text", "flag": true}\n']:
        reader.feed_line(line)
    assert values(reader.poll()) == [{"loss": 0.9, "acc": 0.5, "epoch": 1.0}, {"acc": 0.75}]
    assert reader.poll() == []


def test_csv_rows_are_read_once_complete_from_the_newest_file_of_a_folder(tmp_path: Path) -> None:
    reader = metric_reader(MetricSourceKind.CSV, tmp_path, "val_acc")
    assert reader.poll() == []
    csv_file = tmp_path / "version_0" / "metrics.csv"
    csv_file.parent.mkdir()
    csv_file.write_text("epoch,train_loss,val_acc\n0,0.9,\n0,,0.5\n1,0.7,0.6")  # the last line is unfinished
    assert values(reader.poll()) == [{"epoch": 0.0, "train_loss": 0.9, "val_acc": 0.5}]
    with csv_file.open("a") as handle:
        handle.write("5\n")
    assert values(reader.poll()) == [{"epoch": 1.0, "train_loss": 0.7, "val_acc": 0.65}]
