"""A training command's metrics as they appear: one row per step, from TensorBoard event files,
JSON lines on its output, or a CSV file.

A reader is polled; each poll returns the steps completed since the last one. A step counts
once the ranking metric (``tune_config.metric``) has a value for it: schedulers compare trials
on that metric, and Ray Tune refuses a result without it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aframe_tune.tune.command_spec import MetricSourceKind
from aframe_tune.tune.event_files import EventFolder


@dataclass(frozen=True)
class MetricRow:
    """The metrics of one step of a command.

    Args:
        values: name -> number, the ranking metric among them.
    """

    values: dict[str, float] = field(default_factory=dict)


class MetricReader(Protocol):
    def poll(self) -> list[MetricRow]:
        """The steps completed since the last poll."""

    def feed_line(self, line: str) -> None:
        """A line of the command's output (only the jsonl reader reads it)."""


def as_number(value: Any) -> float | None:
    """A number from a JSON or CSV value (``"nan"`` and ``"inf"`` included); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class TensorBoardReader:
    """Scalars from the event files under a folder; a step is complete once the metric's tag has
    a value for it, and the row holds every tag's newest value at that moment.

    Args:
        folder: where the command writes its event files.
        metric: the ranking metric's tag.
    """

    def __init__(self, folder: Path, metric: str) -> None:
        self.events = EventFolder(folder)
        self.metric = metric
        self.latest: dict[str, float] = {}
        self.last_step: int | None = None

    def poll(self) -> list[MetricRow]:
        rows = []
        for scalar in self.events.new_scalars():
            self.latest[scalar.tag] = scalar.value
            if scalar.tag == self.metric and scalar.step != self.last_step:
                self.last_step = scalar.step
                rows.append(MetricRow({**self.latest, "step": float(scalar.step)}))
        return rows

    def feed_line(self, line: str) -> None:
        pass


class JsonlReader:
    """JSON objects the command prints, one a line; other lines are its ordinary output.

    Args:
        metric: the ranking metric's key; an object without it adds to the next row.
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.pending: dict[str, float] = {}
        self.rows: list[MetricRow] = []

    def feed_line(self, line: str) -> None:
        text = line.strip()
        if not (text.startswith("{") and text.endswith("}")):
            return
        try:
            content = json.loads(text)
        except ValueError:
            return
        if not isinstance(content, dict):
            return
        numbers = {str(key): number for key, value in content.items() if (number := as_number(value)) is not None}
        self.pending.update(numbers)
        if self.metric in numbers:
            self.rows.append(MetricRow(self.pending))
            self.pending = {}

    def poll(self) -> list[MetricRow]:
        rows, self.rows = self.rows, []
        return rows


class CsvReader:
    """Rows of a CSV file with a header line (the file itself, or the newest ``*.csv`` under a
    folder, as Lightning's CSVLogger writes ``metrics.csv``); a row without the metric adds to the next one.

    Args:
        path: the file, or a folder to find it in.
        metric: the ranking metric's column.
    """

    def __init__(self, path: Path, metric: str) -> None:
        self.path = path
        self.metric = metric
        self.offset = 0
        self.header: list[str] | None = None
        self.file: Path | None = None
        self.pending: dict[str, float] = {}

    def _find(self) -> Path | None:
        if self.path.is_file():
            return self.path
        if self.path.is_dir():
            found = sorted(self.path.rglob("*.csv"), key=lambda p: p.stat().st_mtime)
            return found[-1] if found else None
        return None

    def poll(self) -> list[MetricRow]:
        self.file = self.file or self._find()
        if self.file is None:
            return []
        try:
            with self.file.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        rows = []
        for record in csv.reader(io.StringIO(complete.decode(errors="replace"))):
            if not record:
                continue
            if self.header is None:
                self.header = record
                continue
            row = self._row(record)
            if row is not None:
                rows.append(row)
        return rows

    def _row(self, record: list[str]) -> MetricRow | None:
        numbers = {name: number for name, value in zip(self.header or [], record)
                   if value != "" and (number := as_number(value)) is not None}
        self.pending.update(numbers)
        if self.metric not in numbers:
            return None
        row, self.pending = MetricRow(self.pending), {}
        return row

    def feed_line(self, line: str) -> None:
        pass


def metric_reader(kind: MetricSourceKind, path: Path, metric: str) -> MetricReader:
    """The reader of a command's metrics."""
    if kind is MetricSourceKind.TENSORBOARD:
        return TensorBoardReader(path, metric)
    if kind is MetricSourceKind.CSV:
        return CsvReader(path, metric)
    return JsonlReader(metric)
