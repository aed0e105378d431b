"""What aframe-tune itself needs to know from a ``tune.yaml``, read once and checked."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aframe_tune.errors import ConfigError, Problems
from aframe_tune.tune.command_spec import (COMMAND_KEYS, CommandSpec, TrainableKind, load_command_spec,
                                          trainable_kind)
from aframe_tune.tune.param_space import normalize_param_space, param_space_argument
from aframe_tune.tune.search_parser import MODEL_ONLY_ARGUMENTS


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Parse a YAML file whose top level must be a mapping, with errors that name the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; check the path in tune.cfg or run aframe-init")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {getattr(error, 'problem', error)}")
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return content


@dataclass(frozen=True)
class TuneSpec:
    """The parts of a lightray ``tune.yaml`` that aframe-tune acts on.

    Args:
        path: the file it was read from.
        metric: the metric trials are ranked by (``tune_config.metric``).
        mode: ``"min"`` or ``"max"`` (``tune_config.mode``).
        experiment_name: the experiment's folder in the run directory (``run_config.name``).
        num_samples: number of trials (``tune_config.num_samples``).
        lightning_cli_cls: import path of the LightningCLI class trials run.
        param_space: dot path -> checked sampling function, as lightray evaluates it.
        checkpoint_metric: the metric checkpoints are ranked by
            (``run_config.checkpoint_config``'s ``checkpoint_score_attribute``), if any.
        cpus_per_trial: CPUs each trial asks Ray for.
        gpus_per_trial: GPUs each trial asks Ray for.
        reuse_actors: whether a finished trial's process runs the next trial
            (``tune_config.reuse_actors``).
        trainable: what trials run: a LightningCLI model, or a command (``trainable``).
        command: the command and its metrics, for ``trainable: command``.
    """

    path: Path
    metric: str
    mode: str
    experiment_name: str
    num_samples: int
    lightning_cli_cls: str = ""
    param_space: dict[str, str] = field(default_factory=dict)
    checkpoint_metric: str | None = None
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    reuse_actors: bool = False
    trainable: TrainableKind = TrainableKind.LIGHTNING
    command: CommandSpec | None = None

    @property
    def runs_a_command(self) -> bool:
        return self.trainable is TrainableKind.COMMAND

    def lightray_overrides(self) -> tuple[str, ...]:
        """lightray arguments that replace what tune.yaml says with what was checked here."""
        return (param_space_argument(self.param_space),) if self.param_space else ()

    def import_cli_class(self) -> type:
        """Import ``lightning_cli_cls``, with an error that says which key and file to fix."""
        module_name, _, class_name = self.lightning_cli_cls.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigError(
                f"{self.path}: lightning_cli_cls {self.lightning_cli_cls!r} cannot be imported "
                f"({error}); give the full dotted path of a LightningCLI subclass that is "
                "installed in this environment",
                key=f"{self.path}::lightning_cli_cls",
            ) from None


def _mapping(content: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = content.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {key} must be a mapping of options, not {value!r}", key=f"{path}::{key}")
    return value


def _checkpoint_metric(run_config: dict[str, Any]) -> str | None:
    checkpoint = run_config.get("checkpoint_config") or {}
    if not isinstance(checkpoint, dict):
        return None
    options = checkpoint.get("init_args", checkpoint)
    metric = options.get("checkpoint_score_attribute") if isinstance(options, dict) else None
    return str(metric) if metric else None


def _resource(content: dict[str, Any], key: str, default: float, path: Path) -> float:
    value = content.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{path}: {key} = {value!r} must be a number of zero or more", key=f"{path}::{key}")
    return value


def _raw_keys(param_space: Any) -> list[str]:
    """param_space's keys, when param_space itself did not pass its checks (reported already)."""
    return [str(key) for key in param_space] if isinstance(param_space, dict) else []


def load_tune_spec(path: Path) -> TuneSpec:
    """Read and check the keys of ``tune.yaml`` that aframe-tune relies on; every problem is
    reported at once (:class:`~aframe_tune.errors.InvalidInputsError`)."""
    content = read_yaml_mapping(path)
    problems = Problems()
    values: dict[str, Any] = {}

    def required(section: dict[str, Any], key: str, dotted: str) -> Any:
        if section.get(key) in (None, ""):
            raise ConfigError(f"{path}: {dotted} is not set; add it (see the scaffolded tune.yaml)",
                              key=f"{path}::{dotted}")
        return section[key]

    tune_config: dict[str, Any] = {}
    run_config: dict[str, Any] = {}
    with problems.check():
        tune_config = _mapping(content, "tune_config", path)
    with problems.check():
        run_config = _mapping(content, "run_config", path)
    with problems.check():
        values["metric"] = str(required(tune_config, "metric", "tune_config.metric"))
    with problems.check():
        mode = required(tune_config, "mode", "tune_config.mode")
        if mode not in ("min", "max"):
            raise ConfigError(f"{path}: tune_config.mode is {mode!r}; it must be min or max",
                              key=f"{path}::tune_config.mode")
        values["mode"] = mode
    with problems.check():
        num_samples = tune_config.get("num_samples", 1)
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(f"{path}: tune_config.num_samples = {num_samples!r} must be a whole number of "
                              "at least 1 (the number of trials)", key=f"{path}::tune_config.num_samples")
        values["num_samples"] = num_samples
    with problems.check():
        values["experiment_name"] = str(required(run_config, "name", "run_config.name"))
    trainable = problems.result(lambda: trainable_kind(content, path)) or TrainableKind.LIGHTNING
    values["trainable"] = trainable
    if trainable is TrainableKind.LIGHTNING:
        with problems.check():
            values["lightning_cli_cls"] = str(required(content, "lightning_cli_cls", "lightning_cli_cls"))
    with problems.check():
        values["param_space"] = normalize_param_space(content.get("param_space"), path)
    stray = [key for key in COMMAND_KEYS[1:] if key in content]
    if trainable is TrainableKind.LIGHTNING and stray:
        problems.add(ConfigError(f"{path}: {', '.join(stray)} {'is' if len(stray) == 1 else 'are'} for a command, but "
                                 "trainable is lightning (the default); add trainable: command to tune a command",
                                 key=f"{path}::trainable"))
    model_keys = [key for key in MODEL_ONLY_ARGUMENTS if key in content]
    if trainable is TrainableKind.COMMAND and model_keys:
        problems.add(ConfigError(f"{path}: {', '.join(model_keys)} {'is' if len(model_keys) == 1 else 'are'} for a "
                                 "LightningCLI model, but trainable is command; remove "
                                 f"{'it' if len(model_keys) == 1 else 'them'}", key=f"{path}::{model_keys[0]}"))
    if trainable is TrainableKind.COMMAND:
        with problems.check():
            values["command"] = load_command_spec(content, path, values.get("param_space") or
                                                  _raw_keys(content.get("param_space")))
    with problems.check():
        values["cpus_per_trial"] = _resource(content, "cpus_per_trial", 1, path)
    with problems.check():
        values["gpus_per_trial"] = _resource(content, "gpus_per_trial", 0, path)
    # its type is checked with lightray's parser
    values["reuse_actors"] = tune_config.get("reuse_actors") is True
    problems.raise_if_any()
    return TuneSpec(path=path, checkpoint_metric=_checkpoint_metric(run_config), **values)
