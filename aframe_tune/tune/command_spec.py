"""The command trainable's keys of tune.yaml: a training command and where its metrics come from.

```yaml
trainable: command
trial_command: ["{python}", "train.py", "--lr={lr}", "--logdir={trial_dir}"]
trial_metrics: {source: tensorboard, path: "{trial_dir}"}
stall_timeout: 300
repeat: 1
```

Read and checked here without importing Ray; every problem is reported at once.
"""

from __future__ import annotations

import enum
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aframe_tune.errors import ConfigError, Problems, did_you_mean


class TrainableKind(enum.StrEnum):
    """What a trial runs: a LightningCLI model (lightray's trainable) or any command."""

    LIGHTNING = "lightning"
    COMMAND = "command"


class MetricSourceKind(enum.StrEnum):
    """Where a command's metrics come from."""

    TENSORBOARD = "tensorboard"  # scalars in event files under a folder
    JSONL = "jsonl"  # JSON objects on the command's output, one a line
    CSV = "csv"  # rows of a CSV file (or the newest one in a folder)


# placeholders aframe-tune fills in besides the param_space keys
PYTHON, TRIAL_DIR, CHECKPOINT_DIR, SEED = "python", "trial_dir", "checkpoint_dir", "seed"
BUILT_IN_PLACEHOLDERS = (PYTHON, TRIAL_DIR, CHECKPOINT_DIR, SEED)
COMMAND_KEYS = ("trainable", "trial_command", "trial_metrics", "stall_timeout", "repeat")
DEFAULT_STALL_TIMEOUT_S = 300.0
# the best trial's last {checkpoint_dir}, in the run directory
BEST_FOLDER = "best"
# {name}, or a doubled brace, which stands for a brace
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def placeholders(template: str) -> list[str]:
    """The placeholder names in one argument, in order (``{{`` and ``}}`` are literal braces)."""
    return [match.group(1) for match in _PLACEHOLDER.finditer(template) if match.group(1) is not None]


def fill(template: str, values: Mapping[str, Any]) -> str:
    """One argument with its placeholders replaced by ``values`` (each as ``str()`` gives it)."""
    def one(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        return str(values[match.group(1)])
    return _PLACEHOLDER.sub(one, template)


@dataclass(frozen=True)
class MetricSource:
    """Where a trial's metrics are read.

    Args:
        kind: tensorboard, jsonl or csv.
        path: a folder (tensorboard) or a file or folder (csv), with placeholders; unused for jsonl.
    """

    kind: MetricSourceKind
    path: str = "{trial_dir}"


@dataclass(frozen=True)
class CommandSpec:
    """How each trial runs a command.

    Args:
        argv: the command, one argument each, with placeholders.
        metrics: where its metrics come from.
        stall_timeout_s: seconds without a new metric before the trial counts as failed.
        repeat: runs (seeds) per configuration; their mean is reported.
        working_dir: where the command runs: tune.yaml's folder, where the experiment's files
            are (where it is not, on another machine, the trial process's working directory).
    """

    argv: tuple[str, ...]
    metrics: MetricSource
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S
    repeat: int = 1
    working_dir: str = ""

    def command_for(self, values: Mapping[str, Any]) -> list[str]:
        """The command line of one run: every placeholder filled in from ``values``."""
        return [fill(argument, values) for argument in self.argv]

    def metrics_path(self, values: Mapping[str, Any]) -> Path:
        return Path(fill(self.metrics.path, values))


def trainable_kind(content: Mapping[str, Any], path: Path) -> TrainableKind:
    """tune.yaml's ``trainable`` (default: lightning)."""
    value = content.get("trainable", TrainableKind.LIGHTNING.value)
    try:
        return TrainableKind(value)
    except ValueError:
        raise ConfigError(f"{path}: trainable is {value!r}; it must be lightning (a LightningCLI model) or command "
                          "(any training command)", key=f"{path}::trainable") from None


def load_command_spec(content: Mapping[str, Any], path: Path, param_keys: Iterable[str]) -> CommandSpec:
    """Read and check the command trainable's keys of tune.yaml (:data:`COMMAND_KEYS`); every
    problem is reported at once (:class:`~aframe_tune.errors.InvalidInputsError`)."""
    problems = Problems()
    keys = tuple(param_keys)
    argv = problems.result(lambda: _argv(content.get("trial_command"), path, keys))  # type: ignore[arg-type]
    metrics = problems.result(lambda: _metric_source(content.get("trial_metrics"), path, keys))
    stall = problems.result(lambda: _positive(content, "stall_timeout", DEFAULT_STALL_TIMEOUT_S, path, float))
    repeat = problems.result(lambda: _positive(content, "repeat", 1, path, int))
    problems.raise_if_any()
    return CommandSpec(argv, metrics, float(stall), int(repeat), str(path.parent.resolve()))  # type: ignore[arg-type]


def _argv(value: Any, path: Path, param_keys: tuple[str, ...]) -> tuple[str, ...]:
    key = f"{path}::trial_command"
    if not isinstance(value, list) or not value or not all(isinstance(a, (str, int, float)) for a in value):
        raise ConfigError(f"{path}: trial_command must be a list of the command's arguments, such as "
                          '["{python}", "train.py", "--lr={lr}"]', key=key)
    argv = tuple(str(argument) for argument in value)
    problems = Problems()
    _check_placeholders(argv, path, "trial_command", param_keys, problems)
    unused = [name for name in param_keys if not any(name in placeholders(argument) for argument in argv)]
    if unused:
        problems.add(ConfigError(
            f"{path}: param_space {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used in trial_command; "
            f"pass {'it' if len(unused) == 1 else 'each'} to the command, such as \"--{unused[0]}={{{unused[0]}}}\"",
            key=f"{path}::param_space"))
    with problems.check():
        check_executable(argv[0], path, path.parent)
    problems.raise_if_any()
    return argv


def check_executable(first: str, path: Path, working_dir: Path) -> None:
    """The command's program must resolve: ``{python}``, a path (from ``working_dir``, where the
    command runs), or a name on ``PATH``."""
    names = placeholders(first)
    if names and names != [PYTHON]:
        return  # an argument filled in per trial: nothing to check before it is known
    program = fill(first, {PYTHON: sys.executable})
    found = (working_dir / program).is_file() if "/" in program else shutil.which(program) is not None
    if not found:
        raise ConfigError(f"{path}: trial_command's program {program!r} is not found; give a path or a program on "
                          "PATH, or \"{python}\" for the trial's Python", key=f"{path}::trial_command[0]")


def _check_placeholders(arguments: Iterable[str], path: Path, where: str, param_keys: tuple[str, ...],
                        problems: Problems) -> None:
    known = (*BUILT_IN_PLACEHOLDERS, *param_keys)
    unknown = [name for argument in arguments for name in placeholders(argument) if name not in known]
    if unknown:
        hints = "".join(did_you_mean(name, known) for name in unknown)
        problems.add(ConfigError(
            f"{path}: {where} has unknown placeholders {', '.join('{' + n + '}' for n in unknown)}{hints}; known: "
            f"{', '.join('{' + k + '}' for k in known)} (write {{{{ and }}}} for literal braces)",
            key=f"{path}::{where}"))


def _metric_source(value: Any, path: Path, param_keys: tuple[str, ...]) -> MetricSource:
    key = f"{path}::trial_metrics"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: trial_metrics must say where the command's metrics are, such as "
                          '{source: tensorboard, path: "{trial_dir}"}', key=key)
    unknown = sorted(set(value) - {"source", "path"})
    if unknown:
        raise ConfigError(f"{path}: trial_metrics has unknown keys {', '.join(unknown)}; it takes source and path",
                          key=key)
    try:
        kind = MetricSourceKind(value.get("source"))
    except ValueError:
        raise ConfigError(f"{path}: trial_metrics.source is {value.get('source')!r}; it must be tensorboard (event "
                          "files under path), jsonl (JSON objects on the command's output) or csv (a file under "
                          "path)", key=f"{path}::trial_metrics.source") from None
    metrics_path = value.get("path", "{trial_dir}")
    if not isinstance(metrics_path, str) or not metrics_path:
        raise ConfigError(f"{path}: trial_metrics.path must be a folder or file, such as \"{{trial_dir}}\"",
                          key=f"{path}::trial_metrics.path")
    problems = Problems()
    _check_placeholders([metrics_path], path, "trial_metrics.path", param_keys, problems)
    problems.raise_if_any()
    return MetricSource(kind, metrics_path)


def _positive(content: Mapping[str, Any], key: str, default: float, path: Path, kind: type) -> float:
    value = content.get(key, default)
    whole = kind is int
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value <= 0:
        what = "a whole number of at least 1" if whole else "a number of seconds above 0"
        raise ConfigError(f"{path}: {key} = {value!r} must be {what}", key=f"{path}::{key}")
    return value
