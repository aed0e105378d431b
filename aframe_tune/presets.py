"""Search presets: the search algorithm and scheduler blocks ``aframe-init --search`` writes into
``tune.yaml``.

Each preset is a commented block of ``tune_config`` (``configs/tune/searches/NAME.yaml``) and,
where the template's do not suit it, a ``param_space`` or ``run_config.checkpoint_config`` of its
own (``NAME.param_space.yaml``, ``NAME.checkpoints.yaml``). The template ``tune.yaml`` marks
where they go with ``# @search`` / ``# @end search`` comment lines (and ``param_space``,
``checkpoints``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aframe_tune.errors import ScaffoldError


@dataclass(frozen=True)
class SearchPreset:
    """A way of searching that ``aframe-init --search NAME`` sets up.

    Args:
        name: what ``--search`` takes.
        summary: one line for ``aframe-init --help``.
        extra: the aframe-tune pip extra that installs its library, if it needs one.
        module: that library's import name.
    """

    name: str
    summary: str
    extra: str | None = None
    module: str | None = None


PRESETS: dict[str, SearchPreset] = {
    preset.name: preset
    for preset in (
        SearchPreset("random", "random search, every trial trains to the end"),
        SearchPreset("asha", "random search with ASHA early stopping (the default)"),
        SearchPreset("optuna", "Optuna's TPE sampler with ASHA early stopping", extra="optuna", module="optuna"),
        SearchPreset("hyperopt", "HyperOpt's TPE with ASHA early stopping", extra="hyperopt", module="hyperopt"),
        SearchPreset("bayesopt", "Bayesian optimisation of continuous hyperparameters", extra="bayesopt", module="bayes_opt"),
        SearchPreset("pbt", "Population Based Training: trials copy the best and perturb"),
    )
}
DEFAULT_PRESET = "asha"
# template blocks a preset may replace with its own
OPTIONAL_BLOCKS = ("param_space", "checkpoints")


def _replace_marked(text: str, marker: str, replacement: str) -> str:
    """``text`` with the lines from ``# @MARKER`` to ``# @end MARKER`` (both included, at any
    indentation) replaced by ``replacement``."""
    pattern = re.compile(rf"^[ \t]*# @{marker}\n.*?^[ \t]*# @end {marker}\n", re.MULTILINE | re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise ScaffoldError(f"the tune.yaml template must mark one '# @{marker}' block")
    return pattern.sub(lambda _: replacement, text)


def render_tune_yaml(template: str, preset: SearchPreset, templates: Path) -> str:
    """The template ``tune.yaml`` with ``preset``'s search block and search space filled in."""
    searches = templates / "searches"
    own_search = searches / f"{preset.name}.yaml"
    # a template set without its own preset block shares the model template's
    search = own_search if own_search.is_file() else templates.parent / "tune" / "searches" / own_search.name
    text = _replace_marked(template, "search", search.read_text())
    for marker in OPTIONAL_BLOCKS:
        own = searches / f"{preset.name}.{marker}.yaml"
        if own.is_file():
            text = _replace_marked(text, marker, own.read_text())
        else:  # the template's own block, without its markers
            text = re.sub(rf"^[ \t]*# @(end )?{marker}\n", "", text, flags=re.MULTILINE)
    return text
