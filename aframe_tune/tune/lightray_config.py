"""tune.yaml checked as lightray will parse it: unknown keys, wrong types, classes that do not
import, and search algorithms whose library is not installed."""

from __future__ import annotations

import importlib.util
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from aframe_tune.errors import ConfigError, Problems
from aframe_tune.tune.parser_errors import read_parser_error
from aframe_tune.tune.spec import read_yaml_mapping

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


@contextmanager
def readable_by_lightray(path: Path) -> Iterator[Path]:
    """``path``, or, if lightray 0.2.5 cannot read its CPUs or GPUs per trial (0.25, or even 1.0:
    it wants whole numbers), a private copy with those rounded up, for as long as the block runs."""
    text = path.read_text()
    if not has_float_resources(text):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="aframe-tune-") as scratch:
        copy = Path(scratch) / path.name
        copy.write_text(with_whole_number_resources(text))
        yield copy


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


@cache
def lightray_parser() -> Any:
    """lightray's own argument parser, captured without running a search."""
    from jsonargparse import capture_parser
    from lightray.cli import cli

    parser = capture_parser(cli)
    parser.exit_on_error = False
    return parser


def check_with_lightray(path: Path, replaced: dict[str, Any] | None = None) -> None:
    """Parse tune.yaml with lightray's parser, instantiating nothing.

    Args:
        path: tune.yaml.
        replaced: top-level keys to parse in place of the file's (``None`` drops a key): what
            aframe-tune passes lightray instead, or a key already reported as broken.
    """
    from jsonargparse import ArgumentError

    content = {**read_yaml_mapping(path), **(replaced or {})}
    for key in RESOURCE_KEYS:
        if key in content:
            content[key] = as_lightray_reads_resources(content[key])
    content = {key: value for key, value in content.items() if value is not None}
    content.setdefault("lightning_args", [])  # the LightningCLI's arguments, checked elsewhere
    parser = lightray_parser()
    try:
        parser.parse_object(content)
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
