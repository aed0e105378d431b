"""How big each measurement is, for a full run and for ``--quick``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.workload import RemoteSearch, Workload


@dataclass(frozen=True)
class Plan:
    """One benchmark run's sizes.

    Args:
        repetitions: runs of the 8-trial search per contender.
        overhead: the 8-trial fixed-work search.
        resume: the search that is interrupted once a trial finished, then resumed.
        resume_repetitions: interrupted-and-resumed searches per contender.
        resume_contenders: the contenders whose search is interrupted and resumed; empty: all.
        scaling: short-trial searches of growing size.
        scaling_repetitions: runs of each per contender.
        readiness_repetitions: cluster start-ups per waiter and size.
        readiness_workers: worker replicas of the emulated cluster.
        timeout_s: a search that takes longer has failed.
        remote: the ASHA search run on the emulated cluster (bench/remote.py).
        remote_backends: the backends it runs on, once each; empty: no remote search.
        scale: sizes of the tiny-trial searches of bench/scale.py; empty: none.
        gpu: whether to run bench/gpu.py's searches (skipped, and said so, without a GPU).
        schedulers: search presets whose scheduler runs the overhead's search again (one
            per scheduler: asha's is also optuna's and hyperopt's; random's and bayesopt's is
            none, the overhead's own search); empty: none.
        scheduler_repetitions: runs of each per contender.
        scheduler_contenders: who runs them.
    """

    repetitions: int
    overhead: Workload
    resume: Workload
    resume_repetitions: int
    scaling: tuple[Workload, ...]
    scaling_repetitions: int
    readiness_repetitions: int
    readiness_workers: tuple[int, ...] = (1, 32)
    timeout_s: float = 900.0
    resume_contenders: tuple[str, ...] = ()
    remote: RemoteSearch = RemoteSearch(workers=4, trials=12, max_t=24)
    remote_backends: tuple[str, ...] = ("chart", "kuberay")
    scale: tuple[int, ...] = ()
    gpu: bool = True
    schedulers: tuple[str, ...] = ("asha", "pbt")
    scheduler_repetitions: int = 1
    scheduler_contenders: tuple[str, ...] = ("pipeline", "raw_tune")

    def as_json(self) -> dict:
        return asdict(self)


def short_trials(trials: int) -> Workload:
    """Searches of many short trials: one epoch of a few steps each."""
    return Workload(trials=trials, epochs=1, num_train=256, num_valid=128)


# about 5 s of compute per trial, of which a tenth is generating its data
SMALL = Workload(trials=8, epochs=2, num_train=4096, num_valid=512)
FULL = Plan(
    repetitions=3,
    # about 40 s of compute per trial (a short trial by a researcher's standards): 160 s of
    # ideal wall time on 2 CPUs
    overhead=Workload(trials=8, epochs=8, num_train=8192, num_valid=1024),
    resume=SMALL,
    resume_repetitions=3,
    scaling=(short_trials(8), short_trials(32), short_trials(128)),
    scaling_repetitions=1,
    scale=(100, 1000),
    readiness_repetitions=5,
    scheduler_repetitions=2,
)
QUICK = Plan(
    repetitions=2,
    overhead=SMALL,
    resume=SMALL,
    resume_repetitions=1,
    scaling=(short_trials(8), short_trials(32)),
    scaling_repetitions=1,
    scale=(16, 64),
    readiness_repetitions=3,
)
# the smallest run of every measurement: checks that the benchmark itself works (tests/test_bench.py);
# no scaling searches, which are the overhead's measurement (measure_searches) at other sizes, and
# the pipeline's resume only: the other contenders' launches are checked by the overhead's search,
# and an interrupted and resumed search costs two starts of Ray (a minute, of the suite's time);
# no remote search either (minutes per backend): tests/tasks/test_idle_workers.py runs a small one
SMOKE = Plan(
    repetitions=1,
    overhead=Workload(trials=3, epochs=1, num_train=256, num_valid=128),  # a third: a later trial's set-up
    resume=Workload(trials=4, epochs=2, num_train=256, num_valid=128),
    resume_repetitions=1,
    scaling=(),
    scaling_repetitions=1,
    readiness_repetitions=1,
    readiness_workers=(1, 4),
    timeout_s=300.0,
    resume_contenders=("pipeline",),
    remote_backends=(),
    gpu=False,
    schedulers=(),  # the scheduler searches are the overhead's with another tune.yaml block
)
