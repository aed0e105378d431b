"""The parser that reads tune.yaml: lightray's arguments, typed as lightray types them, for a
LightningCLI model's search; for a command's search, the same but the two that only a model has.

lightray 0.2.5 builds its parser inside its ``cli`` function, whose module imports what any of
its searches may need (s3fs, 0.2 s and ~19 MB, for S3 storage) and whose parser types
``tune_callback`` with Ray Tune's Lightning callback and ``lightning_cli_cls`` with
``LightningCLI``: building that parser imports Lightning, about 5 s on the benchmark machine and
~400 MB of the driver's memory, which a search over a training command never uses. So the
parser is written out here; a test checks that it has every argument of lightray's, typed alike,
and parses the templates as lightray's parser does.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Optional, Type

from aframe_tune.tune.command_spec import TrainableKind

# the arguments of lightray's parser that only a LightningCLI model's search has
MODEL_ONLY_ARGUMENTS = ("tune_callback", "lightning_cli_cls")


def search_parser(trainable: TrainableKind) -> Any:
    """The parser of a search's tune.yaml (a ``jsonargparse.ArgumentParser``), built once per process."""
    return _parser(model=trainable is TrainableKind.LIGHTNING)


# jsonargparse, Ray and Lightning are imported when a parser is first built, not with this
# module: the driver prepares Ray's environment before Ray is first imported
@cache
def _parser(model: bool) -> Any:
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
    # the LightningCLI's arguments, after "--"; a command's search passes none
    parser.add_argument("lightning_args", nargs=REMAINDER)
    if model:  # after run_config, whose checkpoint settings it links to
        _add_model_arguments(parser)
    return parser


def _add_model_arguments(parser: Any) -> None:
    """:data:`MODEL_ONLY_ARGUMENTS`, and the checkpoints' metric and mode given to the callback."""
    from lightning.pytorch.cli import LightningCLI
    from ray.tune.integration.pytorch_lightning import TuneCallback

    parser.add_subclass_arguments(TuneCallback, "tune_callback")
    parser.add_argument("--lightning_cli_cls", type=Type[LightningCLI], help="Lightning CLI class")  # noqa: UP006
    for checkpoints, callback in (("checkpoint_score_attribute", "metric"), ("checkpoint_score_order", "mode")):
        parser.link_arguments(f"run_config.checkpoint_config.init_args.{checkpoints}",
                              f"tune_callback.init_args.{callback}", apply_on="parse")
