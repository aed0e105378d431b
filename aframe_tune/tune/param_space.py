"""``param_space`` of tune.yaml: Ray Tune sampling functions with literal arguments, checked
without evaluating anything a user wrote."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aframe_tune.errors import ConfigError, Problems

# ray.tune's sampling functions that take plain values (sample_from takes a function: excluded),
# with how many positional arguments each takes and of what kind. A table rather than a trial
# call, because importing Ray here, before the driver has configured it, would fix its settings.
SAMPLERS: dict[str, tuple[int, int, str]] = {
    "uniform": (2, 2, "numbers"), "quniform": (3, 3, "numbers"),
    "loguniform": (2, 3, "numbers"), "qloguniform": (3, 4, "numbers"),
    # randn needs one argument here although Ray needs none: lightray only evaluates `tune.f(...)`
    # with something between the parentheses
    "randn": (1, 2, "numbers"), "qrandn": (3, 3, "numbers"),
    "randint": (2, 2, "numbers"), "qrandint": (2, 3, "numbers"),
    "lograndint": (2, 3, "numbers"), "qlograndint": (3, 4, "numbers"),
    "choice": (1, 1, "list"), "grid_search": (1, 1, "list"),
}
EXAMPLE = "tune.loguniform(1e-4, 1e-1) or tune.choice([64, 128])"


def normalize_sampler(expression: str, key: str, path: Path) -> str:
    """Check one ``param_space`` value and return it in the form lightray evaluates.

    Accepted: ``tune.<sampler>(<literal>, ...)``, optionally followed by a comma (as copied
    from Python code). Rejected, without evaluating it: anything else, including names, attribute
    access on the result, other calls, lambdas and keyword arguments (lightray passes only
    positional arguments).
    """
    where = f"{path}: param_space {key!r}"
    if not isinstance(expression, str):
        raise ConfigError(f"{where} is {expression!r}; write a Ray Tune sampling function, such as {EXAMPLE}")
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        raise ConfigError(f"{where} = {expression!r} is not a Python expression; write one such as {EXAMPLE}") from None
    if isinstance(tree, ast.Tuple) and len(tree.elts) == 1:  # a trailing comma
        tree = tree.elts[0]
    function = tree.func if isinstance(tree, ast.Call) else None
    if not (isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name)
            and function.value.id == "tune" and function.attr in SAMPLERS):
        raise ConfigError(
            f"{where} = {expression!r} is not a call of a Ray Tune sampling function (tune.uniform, "
            f"loguniform, randint, choice, grid_search, ...); write one such as {EXAMPLE}"
        )
    if tree.keywords:
        names = ", ".join(f"{keyword.arg}=" for keyword in tree.keywords)
        raise ConfigError(f"{where} = {expression!r} has keyword arguments ({names}); lightray passes "
                          "arguments by position, so give them in order without names")
    try:
        arguments = [ast.literal_eval(argument) for argument in tree.args]
    except ValueError:
        raise ConfigError(f"{where} = {expression!r}: arguments must be plain numbers, strings, lists or "
                          "booleans, not names or expressions") from None
    _check_call(function.attr, arguments, where, expression)
    return f"tune.{function.attr}({', '.join(repr(argument) for argument in arguments)})"


def _check_call(sampler: str, arguments: list[Any], where: str, expression: str) -> None:
    """Catch the wrong number or kind of arguments before lightray calls the sampler."""
    least, most, kind = SAMPLERS[sampler]
    if not least <= len(arguments) <= most:
        count = str(least) if least == most else f"{least} to {most}"
        raise ConfigError(f"{where} = {expression!r}: tune.{sampler} takes {count} arguments, "
                          f"not {len(arguments)}")
    if kind == "list" and not (isinstance(arguments[0], list) and arguments[0]):
        raise ConfigError(f"{where} = {expression!r}: tune.{sampler} takes one non-empty list of values, "
                          f"such as tune.{sampler}([64, 128])")
    if kind == "numbers" and not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in arguments):
        raise ConfigError(f"{where} = {expression!r}: tune.{sampler} takes numbers")


def normalize_param_space(param_space: Any, path: Path) -> dict[str, str]:
    """Check every entry of ``param_space`` (all problems at once); keys are dot paths into
    the training config."""
    if param_space is None:
        return {}
    if not isinstance(param_space, Mapping):
        raise ConfigError(f"{path}: param_space must map dot paths (model.learning_rate) to sampling "
                          f"functions, such as {EXAMPLE}", key=f"{path}::param_space")
    normalized = {}
    problems = Problems()
    for key, expression in param_space.items():
        with problems.check():
            try:
                if not isinstance(key, str) or not key.strip():
                    raise ConfigError(f"{path}: param_space key {key!r} must be a dot path such as "
                                      "model.learning_rate")
                normalized[key] = normalize_sampler(expression, key, path)
            except ConfigError as error:
                raise ConfigError(str(error), key=f"{path}::param_space.{key}") from None
    problems.raise_if_any()
    return normalized


def sampler_call(expression: str) -> tuple[str, list[Any]]:
    """The sampling function's name and arguments of an expression :func:`normalize_sampler` returned."""
    call = ast.parse(expression, mode="eval").body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):  # never, once normalized
        raise ConfigError(f"param_space value {expression!r} is not a Ray Tune sampling function; write one such "
                          f"as {EXAMPLE}")
    return call.func.attr, [ast.literal_eval(argument) for argument in call.args]


def tune_domains(param_space: Mapping[str, str]) -> dict[str, Any]:
    """Ray Tune's search space of a checked ``param_space``: each ``tune.f(a, b)`` called as
    ``ray.tune.f(a, b)``, as lightray evaluates it, without lightray (whose module imports Lightning).

    Imports Ray: call only once the driver has configured it.
    """
    from ray import tune

    domains = {}
    for key, expression in param_space.items():
        sampler, arguments = sampler_call(expression)
        domains[key] = getattr(tune, sampler)(*arguments)
    return domains


def sample_values(expression: str, count: int = 3, seed: int = 0) -> list[Any]:
    """Values trials could get from a checked sampling function: every value of a ``choice`` or
    ``grid_search`` (up to ``count`` * 4), else ``count`` samples drawn as Ray Tune draws them.

    Imports Ray: call only once the driver has configured it.
    """
    import numpy as np
    from ray import tune

    sampler, arguments = sampler_call(expression)
    if sampler in ("choice", "grid_search"):
        return list(arguments[0])[: count * 4]
    domain = getattr(tune, sampler)(*arguments)
    samples = domain.sample(size=count, random_state=np.random.default_rng(seed))
    # numpy scalars print as Python numbers, as lightray's str() of them does
    return [sample.item() if hasattr(sample, "item") else sample for sample in samples]


def param_space_argument(param_space: Mapping[str, str]) -> str:
    """The lightray argument that replaces tune.yaml's param_space with the checked one."""
    return f"--param_space={json.dumps(dict(param_space))}"
