"""train.yaml checked as each trial's LightningCLI will read it, and param_space against it.

Trials parse ``--config train.yaml`` plus one ``--KEY=VALUE`` per sampled hyperparameter with
the LightningCLI's ``fit`` parser. Parsing the same way here, with values drawn as Ray Tune
draws them, finds a mistyped key, a float sampled for a whole-number option or a broken
train.yaml before any trial (or cluster) starts. Parsing instantiates nothing.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from unittest.mock import patch

from aframe_tune.errors import ConfigError, Problems, did_you_mean
from aframe_tune.tune.param_space import sample_values
from aframe_tune.tune.parser_errors import ParserProblem, read_parser_error
from aframe_tune.tune.spec import TuneSpec, read_yaml_mapping

logger = logging.getLogger(__name__)

# What Ray Tune adds to every result, so a metric a search may rank by besides the model's own.
RAY_RESULT_KEYS = ("training_iteration", "time_total_s", "time_this_iter_s", "time_since_restore",
                   "iterations_since_restore", "timestamp")
LOG_METHODS = ("log", "log_dict")


@cache
def fit_parser(cli_cls: type) -> Any:
    """The ``fit`` parser of a LightningCLI class, built without running it (as lightray does).

    Built once per process: the checks and the export of ``best.pt`` share it (building one
    takes up to a second).
    """
    from jsonargparse import capture_parser

    # The CLI reads sys.argv (here law's) when given no args, and warns when given both.
    with patch.object(sys, "argv", sys.argv[:1]):
        parser = capture_parser(cli_cls)
    if parser._subcommands_action:  # jsonargparse has no public accessor for a subcommand's parser
        parser = parser._subcommands_action._name_parser_map["fit"]
    parser.exit_on_error = False
    return parser


def parser_keys(parser: Any, parsed: Any) -> list[str]:
    """Every key a trial may set: the parsed config's keys, also without ``.init_args``."""
    keys = {action.dest for action in parser._actions} | set(parsed.keys())
    keys |= {key.replace(".init_args.", ".") for key in keys}
    return sorted(key for key in keys if not key.endswith((".help", "config", ".class_path")))


@dataclass(frozen=True)
class TrainConfig:
    """Where train.yaml's arguments come from, for messages that name the right file.

    Args:
        path: train.yaml.
        overrides: the ``--data.*`` arguments tune.cfg's ``[luigi_data]`` adds.
    """

    path: Path
    overrides: tuple[str, ...] = ()

    @property
    def arguments(self) -> list[str]:
        return ["--config", str(self.path), *self.overrides]

    def blame(self, problem: ParserProblem) -> str:
        """The message for a problem of train.yaml or of a [luigi_data] option passed with it."""
        option = next((o for o in self.overrides if problem.key and o.startswith(f"--{problem.key}=")), None)
        if option is not None:
            name = problem.key.split(".", 1)[1]
            return (f"tune.cfg [luigi_data] {name} is passed to the model as {option}, which {problem.text}; "
                    "remove it from [luigi_data] if your data module does not take it")
        return f"{self.path}: {problem.key or 'the file'} {problem.text}"


def check_train_config(cli_cls: type, train: TrainConfig, spec: TuneSpec) -> None:
    """Check train.yaml, every ``param_space`` key and value, and the metrics the search ranks by."""
    from jsonargparse import ArgumentError

    try:
        parser = fit_parser(cli_cls)
    except Exception as error:  # the user's CLI class failed while building its parser
        raise ConfigError(
            f"{spec.path}: lightning_cli_cls {spec.lightning_cli_cls} fails while building its argument parser "
            f"({type(error).__name__}: {error}); fix that class, or run it alone with `fit --help` to see why",
            key=f"{spec.path}::lightning_cli_cls") from None
    read_yaml_mapping(train.path)  # YAML syntax errors named with their line, as for tune.yaml
    try:
        parsed = parser.parse_args(train.arguments)
    except ArgumentError as error:
        problem = read_parser_error(str(error), parser_keys(parser, parser.get_defaults()))
        raise ConfigError(train.blame(problem), key=problem.key and f"{train.path}::{problem.key}") from None
    keys = parser_keys(parser, parsed)
    problems = Problems()
    for key, expression in spec.param_space.items():
        with problems.check():
            _check_param(parser, train, spec, keys, key, expression)
    with problems.check():
        _check_metrics(parser, parsed, spec)
    with problems.check():
        _check_accelerator(parsed, train, spec)
    problems.raise_if_any()


def _check_accelerator(parsed: Any, train: TrainConfig, spec: TuneSpec) -> None:
    """Ray hides every GPU from a trial that asks for none, so a GPU trainer would fail in every trial."""
    accelerator = str(parsed.get("trainer.accelerator") or "")
    if spec.gpus_per_trial == 0 and accelerator in ("gpu", "cuda"):
        raise ConfigError(
            f"{train.path}: trainer.accelerator = {accelerator}, but tune.yaml's gpus_per_trial is 0, so Ray gives "
            "trials no GPU and every trial would fail; set gpus_per_trial: 1 in tune.yaml, or "
            "trainer.accelerator: cpu", key=f"{train.path}::trainer.accelerator")


def _check_param(parser: Any, train: TrainConfig, spec: TuneSpec, keys: list[str], key: str, expression: str) -> None:
    from jsonargparse import ArgumentError

    where = f"{spec.path}: param_space {key!r}"
    unknown = ConfigError(
        f"{where} is not an option of the model's configuration ({train.path.name}, "
        f"{spec.lightning_cli_cls}){did_you_mean(key, keys)}", key=f"{spec.path}::param_space.{key}")
    if key not in keys:
        # argparse would take an unambiguous prefix (model.learning_rat) for the option: refuse it,
        # since the search's results would name a key the model does not have
        raise unknown
    for value in sample_values(expression):
        try:
            parser.parse_args([*train.arguments, f"--{key}={value}"])
        except ArgumentError as error:
            problem = read_parser_error(str(error), keys)
            if problem.unknown or problem.key != key:
                raise unknown from None
            raise ConfigError(
                f"{where} = {expression} gives values such as {value!r}, but {key} {problem.text}; "
                "choose a sampling function that gives such values (tune.randint or tune.choice for whole numbers)",
                key=f"{spec.path}::param_space.{key}",
            ) from None


def _model_class(parser: Any, parsed: Any) -> type | None:
    group = parser.groups.get("model")
    if group is not None and getattr(group, "group_class", None) is not None:
        return group.group_class
    class_path = parsed.get("model.class_path")
    if not class_path:
        return None
    module, _, name = str(class_path).rpartition(".")
    return getattr(importlib.import_module(module), name, None)


def logged_metric_names(model_class: type) -> set[str] | None:
    """The names a LightningModule logs with ``self.log``/``self.log_dict`` literally, or None
    when that cannot be known (a name computed at run time, source unavailable, nothing found)."""
    names: set[str] = set()
    for cls in model_class.__mro__:
        if cls.__module__.split(".")[0] in ("lightning", "pytorch_lightning", "torch", "builtins"):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            return None
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LOG_METHODS and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "self"):
                continue
            found = _literal_names(node)
            if found is None:
                return None
            names |= found
    return names or None


def _literal_names(call: ast.Call) -> set[str] | None:
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    if call.func.attr == "log":  # type: ignore[attr-defined]
        name = call.args[0] if call.args else keywords.get("name")
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return None
        on_step = keywords.get("on_step")
        if isinstance(on_step, ast.Constant) and on_step.value is True:
            # logged per step and per epoch, Lightning suffixes the two
            return {name.value, f"{name.value}_step", f"{name.value}_epoch"}
        return {name.value}
    mapping = call.args[0] if call.args else keywords.get("dictionary")
    if not (isinstance(mapping, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                                  for k in mapping.keys)):
        return None
    return {k.value for k in mapping.keys}  # type: ignore[union-attr]


def _check_metrics(parser: Any, parsed: Any, spec: TuneSpec) -> None:
    """The metric (and checkpoint metric) must be one the model logs, where that can be known."""
    if parsed.get("trainer.callbacks"):
        return  # callbacks may log metrics of their own
    model_class = _model_class(parser, parsed)
    logged = logged_metric_names(model_class) if model_class is not None else None
    if logged is None:
        logger.debug("Cannot tell which metrics %s logs; not checking tune_config.metric", model_class)
        return
    available = sorted(logged) + list(RAY_RESULT_KEYS)
    problems = Problems()
    for key, metric in _ranked_by(spec):
        if metric not in available:
            problems.add(ConfigError(
                f"{spec.path}: {key} = {metric!r} is not a metric {model_class.__name__} logs (it logs "
                f"{', '.join(sorted(logged))}){did_you_mean(metric, available)}", key=f"{spec.path}::{key}"))
    problems.raise_if_any()


def _ranked_by(spec: TuneSpec) -> Iterable[tuple[str, str]]:
    yield "tune_config.metric", spec.metric
    if spec.checkpoint_metric:
        yield "run_config.checkpoint_config.checkpoint_score_attribute", spec.checkpoint_metric
