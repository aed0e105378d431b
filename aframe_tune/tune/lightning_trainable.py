"""The trainable of a LightningCLI search: lightray's, with each trial process's parser built once.

lightray's trainable (``lightray.utils.get_trainable``) runs ``cli_cls()`` for every trial with
``fit --config=<the trial config> --KEY=VALUE... --trainer.logger.save_dir=<trial folder>
[--ckpt_path=<its checkpoint>]``. Building the LightningCLI's parser (four subcommand parsers,
each from the signatures of the trainer, the model and the data) is most of a trial's set-up:
0.13 s of about 0.2 s on the benchmark machine, where a raw Ray Tune trainable needs 0.01-0.04 s.

Trial processes are reused (``reuse_actors``), so here the CLI class is subclassed once per
process, and the subclass keeps what ``setup_parser`` built (the parser, and whatever else it set
on the CLI) for the next trial. Each trial's arguments are parsed whole, exactly as lightray
passes them: what a trial sees does not depend on the trials before it in the same process.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

from ray import tune



@dataclass(frozen=True)
class _BuiltParser:
    """What one CLI class's ``setup_parser`` set on its first instance, for the next ones.

    Args:
        key: the arguments it was built with; other arguments build another parser.
        attributes: the instance attributes it added or replaced (``parser``,
            ``_subcommand_parsers``, ``_subcommand_method_arguments``, and any of a subclass).
    """

    key: str
    attributes: dict[str, Any] = field(default_factory=dict)


@functools.cache
def reusing_parser(cli_cls: type) -> type:
    """A subclass of ``cli_cls`` whose instances share the parser the first one built."""

    class ReusingParser(cli_cls):  # type: ignore[misc, valid-type]
        built: _BuiltParser | None = None

        def setup_parser(self, add_subcommands: bool, main_kwargs: dict[str, Any],
                         subparser_kwargs: dict[str, Any]) -> None:
            key = repr((add_subcommands, main_kwargs, subparser_kwargs))
            built = type(self).built
            if built is not None and built.key == key:
                vars(self).update(built.attributes)
                return
            before = dict(vars(self))
            super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
            added = {name: value for name, value in vars(self).items()
                     if name not in before or before[name] is not value}
            type(self).built = _BuiltParser(key, added)

    ReusingParser.__name__ = cli_cls.__name__
    ReusingParser.__qualname__ = cli_cls.__qualname__
    ReusingParser.__module__ = cli_cls.__module__
    return ReusingParser


def trial_arguments(config: str, hyperparameters: dict[str, Any], trial_dir: str,
                    checkpoint_path: str | None) -> list[str]:
    """The ``fit`` arguments of one trial, as lightray 0.2.5 builds them.

    Args:
        config: the LightningCLI configuration every trial starts from (YAML text).
        hyperparameters: the trial's sampled values, by dot path.
        trial_dir: the trial's folder, where its Lightning logger writes.
        checkpoint_path: the Ray checkpoint folder to resume from, if any.
    """
    arguments = [f"--config={config}"] if config else []
    arguments += [f"--{key}={value}" for key, value in hyperparameters.items()]
    arguments.append(f"--trainer.logger.save_dir={trial_dir}")
    if checkpoint_path is not None:
        arguments.append(f"--ckpt_path={checkpoint_path}")
    return ["fit", *arguments]


def lightning_trainable(storage_path: str, cli_cls: type, config: str) -> Callable[[dict[str, Any]], None]:
    """A Ray Tune function trainable that fits ``cli_cls`` with each trial's hyperparameters.

    Args:
        storage_path: the search's storage (``s3://`` checkpoints are read from S3).
        cli_cls: the LightningCLI class.
        config: the configuration every trial starts from (``handoff.trial_config``).
    """
    # lightray's checkpoint path: a local folder, or the S3 key Ray gives without its scheme
    prefix = "s3://" if storage_path.startswith("s3://") else ""

    def trainable(hyperparameters: dict[str, Any]) -> None:
        checkpoint = tune.get_checkpoint()
        checkpoint_path = os.path.join(prefix, checkpoint.path, "checkpoint") if checkpoint else None
        arguments = trial_arguments(config, hyperparameters, tune.get_context().get_trial_dir(), checkpoint_path)
        with patch.object(sys, "argv", ["", *arguments]):
            reusing_parser(cli_cls)()

    return trainable
