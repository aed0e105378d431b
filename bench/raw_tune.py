"""The raw Ray Tune contender: a ``ray.tune.Tuner`` with a function trainable, as its docs show.

Run as ``python -m bench.raw_tune STORAGE WORKLOAD_JSON``; resumes the experiment in STORAGE if
there is one, as lightray and aframe-tune do.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

from ray import tune

from bench.workload import METRIC, MODE, Workload, raw_trainable


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
            tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, num_samples=workload.trials, reuse_actors=True),
            run_config=tune.RunConfig(
                name="tune", storage_path=storage, verbose=0,
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=METRIC,
                                                        checkpoint_score_order=MODE),
            ),
        )
    results = tuner.fit()
    if results.errors:
        raise SystemExit(f"{len(results.errors)} trials failed")


if __name__ == "__main__":
    main(*sys.argv[1:3])
