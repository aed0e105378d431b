"""One check of everything a search reads (tune.yaml, train.yaml, the model's class) before
anything starts, reporting every problem found at once."""

from __future__ import annotations

from pathlib import Path

from aframe_tune.errors import ConfigError, Problems
from aframe_tune.tune.lightray_config import check_search_libraries, check_search_space, check_with_lightray
from aframe_tune.tune.spec import TuneSpec, load_tune_spec
from aframe_tune.tune.train_config import TrainConfig, check_train_config


def check_search_inputs(tune_path: Path, train: TrainConfig | None) -> TuneSpec:
    """Check tune.yaml and train.yaml as lightray and the trials' LightningCLI will read them
    (a command's search has no train.yaml: ``train`` is None and unused).

    Imports Ray, lightray and the model: call once the driver has configured Ray's environment.

    Raises:
        InvalidInputsError: listing every problem, each naming its file and key.
    """
    problems = Problems()
    spec = None
    cli_cls = None
    with problems.check():
        spec = load_tune_spec(tune_path)
    command = spec is not None and spec.runs_a_command
    if spec is not None and not command:
        with problems.check():
            cli_cls = spec.import_cli_class()
    replaced = {"param_space": spec.param_space} if spec and spec.param_space else {}
    if spec is not None and cli_cls is None and not command:
        # reported above, by name; lightray's parser would only add "No module named ..."
        replaced["lightning_cli_cls"] = None
    with problems.check():
        check_with_lightray(tune_path, replaced)
    searchable = False
    with problems.check():
        check_search_libraries(tune_path)
        searchable = spec is not None and not problems.found
    if spec is not None and cli_cls is not None and train is not None:
        with problems.check():
            check_train_config(cli_cls, train, spec)
    if searchable:  # tune.yaml parsed and its libraries import: build its search algorithm
        with problems.check():
            check_search_space(tune_path, spec)
    problems.raise_if_any()
    if spec is None:  # never: its problem was raised above
        raise ConfigError(f"{tune_path} could not be read")
    return spec
