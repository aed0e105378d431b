"""The raw Ray Tune contender: a ``ray.tune.Tuner`` with a function trainable, as its docs show.

Run as ``python -m bench.raw_tune STORAGE WORKLOAD_JSON``; resumes the experiment in STORAGE if
there is one, as lightray and aframe-tune do.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from ray import tune

from bench.workload import METRIC, MODE, RAW_NAMES, Workload, raw_trainable


def _instance(block: dict[str, Any], **renamed: Any) -> Any:
    module, _, name = block["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**{**block.get("init_args", {}), **renamed})


def raw_scheduler(workload: Workload) -> Any:
    """The preset's scheduler as a raw Ray Tune user builds it, its hyperparameters under
    raw Tune's names; None without a preset."""
    block = workload.scheduler
    if block is None:
        return None
    mutations = block.get("init_args", {}).get("hyperparam_mutations")
    if mutations is None:
        return _instance(block)
    return _instance(block, hyperparam_mutations={RAW_NAMES[key]: values for key, values in mutations.items()})


def raw_checkpoints(workload: Workload) -> Any:
    """``tune.CheckpointConfig`` with the settings the pipeline's search gets."""
    return tune.CheckpointConfig(**workload.checkpoints["init_args"])


def main(storage: str, workload_json: str) -> None:
    workload = Workload(**json.loads(workload_json))
    trainable = tune.with_resources(functools.partial(raw_trainable, workload=workload), {"cpu": 1})
    path = str(Path(storage) / "tune")
    if tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(path, trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"learning_rate": tune.loguniform(1e-4, 1e-1)},
            tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, num_samples=workload.trials, reuse_actors=True,
                                        scheduler=raw_scheduler(workload)),
            run_config=tune.RunConfig(name="tune", storage_path=storage, verbose=0,
                                      checkpoint_config=raw_checkpoints(workload)),
        )
    results = tuner.fit()
    if results.errors:
        raise SystemExit(f"{len(results.errors)} trials failed")


if __name__ == "__main__":
    main(*sys.argv[1:3])
