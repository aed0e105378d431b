"""The parser that reads tune.yaml: lightray's own for a LightningCLI model's search, and for a
command's search one with the same arguments but the two that only a model has.

lightray's parser types ``tune_callback`` with Ray Tune's Lightning callback and
``lightning_cli_cls`` with ``LightningCLI``, so building it imports Lightning: about 5 s on the
benchmark machine and ~400 MB of the driver's memory, which a search over a training command
never uses. lightray 0.2.5 builds its parser inside its ``cli`` function, so the command's parser
is written out here; a test checks that it has every argument of lightray's but those two.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Optional

from aframe_tune.tune.command_spec import TrainableKind

# the arguments of lightray's parser that only a LightningCLI model's search has
MODEL_ONLY_ARGUMENTS = ("tune_callback", "lightning_cli_cls")


def search_parser(trainable: TrainableKind) -> Any:
    """The parser of a search's tune.yaml (a ``jsonargparse.ArgumentParser``), built once per process."""
    return command_search_parser() if trainable is TrainableKind.COMMAND else lightray_parser()


# jsonargparse, Ray and lightray are imported when a parser is first built, not with this module:
# the driver prepares Ray's environment before Ray is first imported
@cache
def lightray_parser() -> Any:
    """lightray's own argument parser, captured without running a search."""
    from jsonargparse import capture_parser
    from lightray.cli import cli

    parser = capture_parser(cli)
    parser.exit_on_error = False
    return parser


@cache
def command_search_parser() -> Any:
    """lightray's arguments, less :data:`MODEL_ONLY_ARGUMENTS` (and their links), typed alike."""
    import pyarrow.fs
    import ray
    from jsonargparse import REMAINDER, ActionConfigFile, ArgumentParser
    from ray import tune

    parser = ArgumentParser(parser_mode="omegaconf", exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_class_arguments(tune.TuneConfig, "tune_config")
    # lightray means to skip run_config.storage_filesystem but names it in a way jsonargparse does
    # not skip, so its parser has that argument: this one has it too
    parser.add_class_arguments(tune.RunConfig, "run_config")
    parser.add_class_arguments(tune.SyncConfig, "sync_config")
    parser.add_function_arguments(ray.init, "ray_init")
    parser.add_argument("--param_space", type=dict)
    parser.add_argument("--external_fs", type=Optional[pyarrow.fs.FileSystem])  # noqa: UP045 (lightray's type)
    parser.add_argument("--gpus_per_trial", type=int, default=0)
    parser.add_argument("--cpus_per_trial", type=int, default=1)
    # a command's search passes none, but the parsed search has the key, as a model's has
    parser.add_argument("lightning_args", nargs=REMAINDER)
    return parser
