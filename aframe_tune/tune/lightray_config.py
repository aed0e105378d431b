"""tune.yaml checked as lightray will parse it: unknown keys, wrong types, classes that do not
import, and search algorithms whose library is not installed."""

from __future__ import annotations

import importlib.util
import math
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from aframe_tune.errors import ConfigError, Problems
from aframe_tune.tune.command_spec import COMMAND_KEYS, TrainableKind, trainable_kind
from aframe_tune.tune.param_space import tune_domains
from aframe_tune.tune.parser_errors import read_parser_error
from aframe_tune.tune.search_parser import search_parser
from aframe_tune.tune.spec import TuneSpec, read_yaml_mapping

# Ray Tune's integrations import without their library and fail only when the search starts.
# Package of the Ray Tune class -> (module it needs, pip requirement (as Ray's docs give it),
# aframe-tune's extra that installs it, if any).
NEEDED_LIBRARIES: dict[str, tuple[str, str, str | None]] = {
    "ray.tune.search.optuna": ("optuna", "optuna>=3", "optuna"),
    "ray.tune.search.hyperopt": ("hyperopt", "hyperopt", "hyperopt"),
    "ray.tune.search.bayesopt": ("bayes_opt", "bayesian-optimization==1.4.3", "bayesopt"),
    "ray.tune.search.ax": ("ax", "ax-platform", None),
    "ray.tune.search.nevergrad": ("nevergrad", "nevergrad", None),
    "ray.tune.search.zoopt": ("zoopt", "zoopt", None),
    "ray.tune.search.hebo": ("hebo", "HEBO", None),
    "ray.tune.search.bohb": ("hpbandster", "hpbandster ConfigSpace", None),
    "ray.tune.schedulers.pb2": ("GPy", "GPy scikit-learn", None),
}
CLASS_KEYS = ("tune_config.search_alg", "tune_config.scheduler")
# lightray 0.2.5 reads these as whole numbers; aframe-tune gives Ray fractions itself
# (aframe_tune.tune.handoff.trial_resources)
RESOURCE_KEYS = ("cpus_per_trial", "gpus_per_trial")
# lightray 0.2.5's parser types run_config's checkpoint_config with the signature of
# ray.tune.RunConfig, which still names ray.air's class, and refuses Ray Tune's own (a subclass)
# as a class_path. tune.yaml names Ray Tune's class; lightray's parser is shown ray.air's, and
# instantiate_search() hands Ray Tune's classes to the Tuner (ray.air's are deprecated there).
LIGHTRAY_CLASS_PATHS = {"ray.tune.CheckpointConfig": "ray.air.config.CheckpointConfig"}


def as_lightray_reads_resources(value: Any) -> Any:
    """A resource count as lightray's parser accepts it: fractions rounded up to whole numbers."""
    if isinstance(value, float) and not isinstance(value, bool):
        return math.ceil(value)
    return value


def has_float_resources(text: str) -> bool:
    """Whether tune.yaml gives a per-trial resource as a number with a decimal point (0.25,
    or 1.0), which lightray's parser refuses."""
    content = yaml.safe_load(text)
    return isinstance(content, dict) and any(isinstance(content.get(key), float) for key in RESOURCE_KEYS)


def with_lightray_class_paths(text: str) -> str:
    """tune.yaml's text with the Ray Tune class paths lightray 0.2.5's parser refuses replaced by
    the ones it accepts (:data:`LIGHTRAY_CLASS_PATHS`)."""
    for ours, lightrays in LIGHTRAY_CLASS_PATHS.items():
        text = re.sub(rf"(class_path:\s*[\"']?){re.escape(ours)}\b", rf"\g<1>{lightrays}", text)
    return text


@contextmanager
def readable_by_lightray(path: Path) -> Iterator[Path]:
    """``path``, or, if lightray 0.2.5 cannot read it as it is, a private copy it can read, for as
    long as the block runs: CPUs or GPUs per trial rounded up (0.25, or even 1.0: it wants whole
    numbers), Ray Tune's CheckpointConfig named by ray.air's path, and without the command
    trainable's keys (aframe-tune's own)."""
    text = path.read_text()
    readable = with_lightray_class_paths(with_whole_number_resources(text) if has_float_resources(text) else text)
    readable = without_command_keys(readable)
    if readable == text:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="aframe-tune-") as scratch:
        copy = Path(scratch) / path.name
        copy.write_text(readable)
        yield copy


def without_command_keys(text: str) -> str:
    """tune.yaml's text without the command trainable's top-level keys, which lightray does not
    know; unchanged (comments and all) when it has none."""
    content = yaml.safe_load(text)
    if not isinstance(content, dict) or not set(COMMAND_KEYS) & set(content):
        return text
    return yaml.safe_dump({key: value for key, value in content.items() if key not in COMMAND_KEYS},
                          sort_keys=False)


def instantiate_search(parsed: Any, trainable: TrainableKind) -> Any:
    """Instantiate a search that :func:`~aframe_tune.tune.search_parser.search_parser` parsed, with
    Ray Tune's ``CheckpointConfig`` and ``FailureConfig`` in its ``run_config`` where lightray's
    parser would build ray.air's.

    ray.tune.RunConfig warns of a deprecation when it is built with ray.air's classes, so it is
    built without them and given Ray Tune's, with the same settings, afterwards.
    """
    from ray import tune

    parsed = parsed.clone()
    checkpoint, failure = parsed.run_config.checkpoint_config, parsed.run_config.failure_config
    parsed.run_config.checkpoint_config = parsed.run_config.failure_config = None
    search = search_parser(trainable).instantiate(parsed)
    if checkpoint is not None:
        # its fields, given as a class_path's init_args or directly
        search.run_config.checkpoint_config = tune.CheckpointConfig(**checkpoint.get("init_args", checkpoint).as_dict())
    if failure is not None:
        search.run_config.failure_config = tune.FailureConfig(**failure.as_dict())
    return search


def with_whole_number_resources(text: str) -> str:
    """tune.yaml's text with its per-trial resources rounded up to whole numbers, so lightray can
    read it; everything else (comments, layout, quoting) is left exactly as it was."""
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return text
    spans = []
    for key, value in root.value:
        if key.value in RESOURCE_KEYS and isinstance(value, yaml.ScalarNode):
            number = yaml.safe_load(value.value) if value.tag.endswith(":float") else None
            if isinstance(number, float):
                spans.append((value.start_mark.index, value.end_mark.index, str(math.ceil(number))))
    for start, end, replacement in sorted(spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def trainable_of(content: dict[str, Any]) -> TrainableKind:
    """tune.yaml's ``trainable``; a model's search for a value that is neither (reported by
    :func:`~aframe_tune.tune.spec.load_tune_spec`)."""
    try:
        return trainable_kind(content, Path())
    except ConfigError:
        return TrainableKind.LIGHTNING


def as_lightray_reads(path: Path, replaced: dict[str, Any] | None) -> dict[str, Any]:
    """tune.yaml's content as the search's parser reads it: ``replaced``'s keys in place of the
    file's (``None`` drops one), whole-number resources, lightray's class paths and no command keys."""
    content = {**read_yaml_mapping(path), **(replaced or {})}
    run_config = content.get("run_config")
    checkpoints = run_config.get("checkpoint_config") if isinstance(run_config, dict) else None
    if isinstance(checkpoints, dict) and checkpoints.get("class_path") in LIGHTRAY_CLASS_PATHS:
        checkpoints = {**checkpoints, "class_path": LIGHTRAY_CLASS_PATHS[checkpoints["class_path"]]}
        content["run_config"] = {**run_config, "checkpoint_config": checkpoints}
    for key in RESOURCE_KEYS:
        if key in content:
            content[key] = as_lightray_reads_resources(content[key])
    content = {key: value for key, value in content.items() if value is not None and key not in COMMAND_KEYS}
    content.setdefault("lightning_args", [])  # the LightningCLI's arguments, checked elsewhere
    return content


def check_with_lightray(path: Path, replaced: dict[str, Any] | None = None) -> None:
    """Parse tune.yaml with the parser its search will read it with (lightray's for a model's
    search), instantiating nothing.

    Args:
        path: tune.yaml.
        replaced: top-level keys to parse in place of the file's (``None`` drops a key): what
            aframe-tune passes lightray instead, or a key already reported as broken.
    """
    from jsonargparse import ArgumentError

    parser = search_parser(trainable_of(read_yaml_mapping(path)))
    try:
        parser.parse_object(as_lightray_reads(path, replaced))
    except ArgumentError as error:
        keys = sorted(action.dest for action in parser._actions if not action.dest.endswith(".help"))
        problem = read_parser_error(str(error), keys)
        raise ConfigError(f"{path}: {problem.key or 'the file'} {problem.text}",
                          key=problem.key and f"{path}::{problem.key}") from None
    except ImportError as error:  # jsonargparse imports class paths while it reads them
        raise ConfigError(f"{path}: {error}; check the class paths in it") from None


def _class_path(content: dict[str, Any], dotted: str) -> str | None:
    value: Any = content
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict):
        value = value.get("class_path")
    return value if isinstance(value, str) else None


def check_search_libraries(path: Path) -> None:
    """A search algorithm or scheduler whose library is missing: name what to install."""
    content = read_yaml_mapping(path)
    problems = Problems()
    for dotted in CLASS_KEYS:
        class_path = _class_path(content, dotted)
        for package, (module, requirement, extra) in NEEDED_LIBRARIES.items():
            if class_path and class_path.startswith(package + ".") and importlib.util.find_spec(module) is None:
                how = f"pip install 'aframe-tune[{extra}]'" if extra else f"pip install '{requirement}'"
                problems.add(ConfigError(
                    f"{path}: {dotted} {class_path} needs the {module} library, which is not installed; "
                    f"install it with: {how}", key=f"{path}::{dotted}"))
    problems.raise_if_any()


def check_search_space(path: Path, spec: TuneSpec) -> None:
    """The search algorithm and scheduler of tune.yaml, built as the search will build them, must
    accept ``param_space`` (BayesOpt takes only continuous ranges, HyperOpt no grid_search, …);
    Population Based Training may mutate only keys the search samples, and needs the newest
    checkpoints kept."""
    parser = search_parser(spec.trainable)
    # the checks before this one passed, so it parses; param_space is given to the searcher below
    search = instantiate_search(parser.parse_object(as_lightray_reads(path, {"param_space": None})), spec.trainable)
    domains = tune_domains(spec.param_space)
    problems = Problems()
    searcher = search.tune_config.search_alg
    if searcher is not None:
        with problems.check():
            try:
                searcher.set_search_properties(spec.metric, spec.mode, domains)
            except (ValueError, TypeError) as error:
                raise ConfigError(
                    f"{path}: tune_config.search_alg {type(searcher).__name__} cannot search "
                    f"param_space: {str(error).rstrip('.')}; change param_space or pick another search algorithm",
                    key=f"{path}::param_space") from None
    mutations = getattr(search.tune_config.scheduler, "_hyperparam_mutations", None) or {}
    unknown = sorted(set(mutations) - set(spec.param_space))
    if unknown:
        problems.add(ConfigError(
            f"{path}: tune_config.scheduler's hyperparam_mutations {', '.join(unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} not in param_space; add "
            f"{'it' if len(unknown) == 1 else 'them'} there too, so each trial starts from a sampled value",
            key=f"{path}::tune_config.scheduler"))
    with problems.check():
        check_checkpoints_for_pbt(path, search)
    problems.raise_if_any()


def check_checkpoints_for_pbt(path: Path, search: Any) -> None:
    """Population Based Training restores a trial from a checkpoint another trial reported at its
    last perturbation, which a limit on kept checkpoints may have deleted since (the trial then
    fails with "Could not recover from checkpoint")."""
    scheduler = search.tune_config.scheduler
    checkpoints = search.run_config.checkpoint_config
    if hasattr(scheduler, "_hyperparam_mutations") and checkpoints is not None and checkpoints.num_to_keep is not None:
        raise ConfigError(
            f"{path}: run_config.checkpoint_config keeps {checkpoints.num_to_keep} checkpoints per trial, but "
            f"{type(scheduler).__name__} restores trials from other trials' earlier checkpoints, which "
            "may be deleted by then; set num_to_keep: null", key=f"{path}::run_config.checkpoint_config")
