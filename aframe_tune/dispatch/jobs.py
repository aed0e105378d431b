"""``jobs.yaml``: the jobs ``aframe-tune dispatch`` runs, read once and checked before anything
starts.

```yaml
mode: parallel            # or sequential
ray_address: null         # default: $RAY_ADDRESS, else a new Ray instance on this machine;
                          # http://HOST:8265 submits the jobs through Ray's Jobs API
cluster: null             # or deploy a Ray cluster on Kubernetes for the jobs (see cluster/description.py)
clusters: null            # or spread the jobs over several running Ray clusters, each job on one that has
                          # a node able to run it (see placement.py), each reached through its Jobs API:
                          #   [{name: gpus, address: http://10.0.0.1:8265}, {name: cpus, address: 10.0.0.2:6379}]
                          # (--clusters-file FILE gives them in Isaac Lab's ~/.cluster_config format instead)
jobs:
  - name: baseline        # names the job's log (logs/baseline.log) and its folder
    train: train.yaml     # a LightningCLI training run of this config ...
    cli: aframe_tune.demo.cli.DemoCLI
    overrides: {model.learning_rate: 3.0e-3}
    cpus: 1
    gpus: 0.5             # fractions share a GPU; each job sees only its own GPUs
    memory: 4Gi
  - name: search
    tune: experiments/search   # ... or a whole tune experiment (a directory aframe-init made)
    cpus: 2
  - name: script
    command: [python, evaluate.py]   # ... or any command
```
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aframe_tune.cluster.description import ClusterDescription, parse_cluster_mapping
from aframe_tune.errors import AframeTuneError, ConfigError, Problems, did_you_mean
from aframe_tune.tune.spec import read_yaml_mapping

MODES = ("parallel", "sequential")
KINDS = ("train", "tune", "command")
JOB_KEYS = {"name", *KINDS, "cli", "overrides", "cpus", "gpus", "memory", "env"}
TOP_KEYS = {"mode", "ray_address", "cluster", "clusters", "jobs", "log_dir"}
CLUSTER_KEYS = {"name", "address"}
# a job's name is a file name: its log and its folder; a cluster's name shares the rule
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# what ray_address takes: Ray's Jobs API (http(s)://HOST[:PORT]), a Ray client server (ray://HOST:PORT),
# or a head's GCS (HOST:PORT)
_ADDRESS = re.compile(r"^(?:https?://[^\s/:]+(?::[0-9]{1,5})?/?|(?:ray://)?[^\s/:]+:[0-9]{1,5})$")
ADDRESS_FORMS = "http://HOST:8265 (Ray's Jobs API), ray://HOST:10001 or HOST:6379"
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|Ti|KiB|MiB|GiB|TiB|k|M|G|T|kB|MB|GB|TB)?$")
_UNITS = {None: 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
DEFAULT_CLI = "aframe_tune.demo.cli.DemoCLI"
# stands for the Python interpreter of the Ray worker that runs a job (the cluster's, not this machine's)
PYTHON = "{python}"


class DispatchError(AframeTuneError):
    """A job cannot run on the Ray cluster at hand."""


@dataclass(frozen=True)
class ClusterEntry:
    """One running Ray cluster of jobs.yaml's ``clusters:`` (or of ``--clusters-file``).

    Args:
        name: what the status table's CLUSTER column shows.
        address: its Jobs API (``http://HOST:8265``), or a Ray address (``ray://HOST:10001``,
            ``HOST:6379``) of a head that runs a dashboard.
    """

    name: str
    address: str


def cluster_entry(name: Any, address: Any, where: str) -> ClusterEntry:
    """A checked :class:`ClusterEntry`; ``where`` names it in the messages (every problem at once)."""
    problems = Problems()
    if not isinstance(name, str) or not _NAME.match(name):
        problems.add(ConfigError(f"{where}: name {name!r} must be 1-63 letters, digits, '.', '_' or '-'",
                                 key=f"{where}.name"))
    if not isinstance(address, str) or not _ADDRESS.match(address):
        problems.add(ConfigError(f"{where}: address {address!r} must be a Ray cluster's address, such as "
                                 f"{ADDRESS_FORMS}", key=f"{where}.address"))
    problems.raise_if_any()
    return ClusterEntry(name, address)


def repeated(names: list[str]) -> list[str]:
    """The names given more than once, sorted."""
    return sorted({name for name in names if names.count(name) > 1})


def check_unique_cluster_names(clusters: list[ClusterEntry], where: str) -> None:
    """Refuse a name given to two clusters: the status table would not tell them apart."""
    problems = Problems()
    for name in repeated([cluster.name for cluster in clusters]):
        problems.add(ConfigError(f"{where}: cluster name {name!r} is used more than once; names must be unique",
                                 key=f"{where}::cluster {name}"))
    problems.raise_if_any()


@dataclass(frozen=True)
class JobResources:
    """What one job asks the Ray cluster for; it runs on one node that has all of it.

    Args:
        cpus: CPUs (fractions allowed).
        gpus: GPUs (fractions allowed: 0.5 lets two jobs share one).
        memory_bytes: memory, 0 for no reservation.
    """

    cpus: float = 1
    gpus: float = 0
    memory_bytes: int = 0

    def describe(self) -> str:
        parts = [f"{self.cpus:g} CPU"]
        if self.gpus:
            parts.append(f"{self.gpus:g} GPU")
        if self.memory_bytes:
            parts.append(gibibytes(self.memory_bytes))
        return " ".join(parts)


@dataclass(frozen=True)
class Job:
    """One job of ``jobs.yaml``.

    Args:
        name: unique name; the log is ``LOG_DIR/NAME.log``, the working directory ``LOG_DIR/NAME/``.
        kind: ``train``, ``tune`` or ``command``.
        argv: what the job runs, built from its kind (see :meth:`for_kind`).
        resources: what it asks Ray for.
        env: extra environment variables.
    """

    name: str
    kind: str
    argv: tuple[str, ...]
    resources: JobResources = field(default_factory=JobResources)
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DispatchPlan:
    """Everything ``jobs.yaml`` says.

    Args:
        path: the file.
        mode: ``parallel`` (as resources allow) or ``sequential`` (in the file's order).
        ray_address: the Ray cluster to use; ``None``: ``$RAY_ADDRESS``, else a local instance.
        log_dir: where each job's log, folder and completion record go.
        jobs: the jobs, in the file's order.
        cluster: a Ray cluster to deploy on Kubernetes for the jobs, instead of ``ray_address``.
        clusters: running Ray clusters to spread the jobs over, instead of ``ray_address`` or ``cluster``.
    """

    path: Path
    mode: str
    ray_address: str | None
    log_dir: Path
    jobs: tuple[Job, ...]
    cluster: ClusterDescription | None = None
    clusters: tuple[ClusterEntry, ...] = ()

    @property
    def root(self) -> Path:
        """jobs.yaml's folder: relative paths start there, and it is what a deployed cluster gets."""
        return self.path.parent

    def overridden(self, mode: str | None = None, ray_address: str | None = None,
                   clusters: tuple[ClusterEntry, ...] = ()) -> DispatchPlan:
        """This plan with the command line's ``--mode``/``--ray-address``/``--clusters-file``, where given
        (the clusters of ``--clusters-file`` replace jobs.yaml's ``clusters:``)."""
        problems = Problems()
        if ray_address and self.cluster is not None:
            problems.add(ConfigError(f"{self.path} deploys a cluster for its jobs (cluster:), so a Ray address "
                                     "cannot be given too; remove cluster: from jobs.yaml or leave out --ray-address"))
        if ray_address and (clusters or self.clusters):
            problems.add(ConfigError(f"{self.path}: the jobs are spread over several clusters (clusters: or "
                                     "--clusters-file), so a Ray address cannot be given too; leave out "
                                     "--ray-address, or --clusters-file and jobs.yaml's clusters:"))
        for key, value in (("cluster", self.cluster), ("ray_address", self.ray_address)):
            if clusters and value is not None:
                problems.add(ConfigError(f"{self.path} sets {key}, so --clusters-file cannot be given too; remove "
                                         f"{key} from jobs.yaml or leave out --clusters-file", key=f"{self.path}::{key}"))
        problems.raise_if_any()
        return dataclasses.replace(self, mode=mode or self.mode, ray_address=ray_address or self.ray_address,
                                   clusters=clusters or self.clusters)


def gibibytes(amount: float) -> str:
    """``16.3 GiB``, ``100 GiB``, ``0.5 GiB``."""
    return f"{amount / 2**30:,.1f}".removesuffix(".0") + " GiB"


def parse_memory(value: Any, where: str) -> int:
    """Bytes from ``4Gi``, ``512MiB``, ``2G`` or a number of bytes."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} = {value!r} is not an amount of memory; write e.g. 4Gi or 512Mi")
    if isinstance(value, (int, float)) and value >= 0:
        return int(value)
    match = _MEMORY.match(str(value).strip())
    if not match:
        raise ConfigError(f"{where} = {value!r} is not an amount of memory; write e.g. 4Gi or 512Mi")
    number, unit = match.groups()
    unit = {"KiB": "Ki", "MiB": "Mi", "GiB": "Gi", "TiB": "Ti", "kB": "k", "MB": "M", "GB": "G", "TB": "T"}.get(unit, unit)
    return int(float(number) * _UNITS[unit])


def _resource(entry: dict[str, Any], key: str, default: float, where: str, minimum_exclusive: bool) -> float:
    value = entry.get(key, default)
    bad = isinstance(value, bool) or not isinstance(value, (int, float))
    if bad or value < 0 or (minimum_exclusive and value == 0):
        least = "more than 0" if minimum_exclusive else "0 or more"
        raise ConfigError(f"{where}.{key} = {value!r} must be a number, {least}", key=f"{where}.{key}")
    return float(value)


def _argv(entry: dict[str, Any], kind: str, base: Path, where: str) -> tuple[str, ...]:
    target = entry[kind]
    if kind == "command":
        if isinstance(target, str):
            target = target.split()
        if not isinstance(target, list) or not target or not all(isinstance(part, (str, int, float)) for part in target):
            raise ConfigError(f"{where}.command must be a list of arguments, e.g. [python, evaluate.py]",
                              key=f"{where}.command")
        return tuple(str(part) for part in target)
    path = (base / str(target)).expanduser().resolve()
    if kind == "tune":
        if not (path / "run.sh").is_file():
            raise ConfigError(f"{where}.tune = {target}: {path} holds no run.sh; give the directory of an "
                              "experiment made with aframe-init", key=f"{where}.tune")
        return ("bash", str(path / "run.sh"))
    if not path.is_file():
        raise ConfigError(f"{where}.train = {target}: {path} does not exist; give a LightningCLI config "
                          "(a train.yaml)", key=f"{where}.train")
    overrides = entry.get("overrides") or {}
    if isinstance(overrides, dict):
        overrides = [f"--{key}={value}" for key, value in overrides.items()]
    if not isinstance(overrides, list):
        raise ConfigError(f"{where}.overrides must map dot paths to values, e.g. {{model.learning_rate: 1e-3}}",
                          key=f"{where}.overrides")
    cli = str(entry.get("cli") or DEFAULT_CLI)
    return (PYTHON, "-m", "aframe_tune.dispatch.train", cli, "fit", "--config", str(path),
            *(str(item) for item in overrides))


def _job(entry: Any, index: int, base: Path, path: Path) -> Job:
    where = f"{path}: jobs[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping with a name and one of train, tune or command")
    name = entry.get("name")
    if name is not None:
        where = f"{path}: job {name!r}"
    unknown = sorted(set(entry) - JOB_KEYS)
    if unknown:
        raise ConfigError(f"{where} has unknown keys {', '.join(unknown)}{did_you_mean(unknown[0], JOB_KEYS)} "
                          f"(a job takes {', '.join(sorted(JOB_KEYS))})",
                          key=f"{where}.{unknown[0]}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be 1-63 letters, digits, '.', '_' or '-' (it names the "
                          "job's log file)", key=f"{where}.name")
    kinds = [kind for kind in KINDS if kind in entry]
    if len(kinds) != 1:
        raise ConfigError(f"{where} must have exactly one of train (a train.yaml), tune (an experiment "
                          f"directory) or command (a list of arguments); it has {', '.join(kinds) or 'none'}",
                          key=f"{where}.kind")
    env = entry.get("env") or {}
    if not isinstance(env, dict):
        raise ConfigError(f"{where}.env must map variable names to values", key=f"{where}.env")
    resources = JobResources(
        cpus=_resource(entry, "cpus", 1, where, minimum_exclusive=True),
        gpus=_resource(entry, "gpus", 0, where, minimum_exclusive=False),
        memory_bytes=parse_memory(entry.get("memory", 0), f"{where}.memory"),
    )
    return Job(name=name, kind=kinds[0], argv=_argv(entry, kinds[0], base, where), resources=resources,
               env=tuple((str(key), str(value)) for key, value in env.items()))


def load_jobs(path: Path) -> DispatchPlan:
    """Read and check ``jobs.yaml``; every problem is reported at once
    (:class:`~aframe_tune.errors.InvalidInputsError`), each naming the job and key."""
    path = path.expanduser().resolve()
    content = read_yaml_mapping(path)
    problems = Problems()
    unknown = sorted(set(content) - TOP_KEYS)
    if unknown:
        problems.add(ConfigError(f"{path}: unknown keys {', '.join(unknown)}; jobs.yaml takes "
                                 f"{', '.join(sorted(TOP_KEYS))}", key=f"{path}::{unknown[0]}"))
    mode = content.get("mode", "parallel")
    if mode not in MODES:
        problems.add(ConfigError(f"{path}: mode = {mode!r} must be parallel or sequential", key=f"{path}::mode"))
    address = content.get("ray_address")
    if address is not None and not isinstance(address, str):
        problems.add(ConfigError(f"{path}: ray_address = {address!r} must be an address such as ray://HOST:10001, "
                                 "HOST:6379 or http://HOST:8265 (Ray's Jobs API)", key=f"{path}::ray_address"))
    jobs = _jobs(content.get("jobs"), path, problems)
    cluster = None
    if content.get("cluster") is not None:
        with problems.check():
            cluster = parse_cluster_mapping(content["cluster"], f"{path}: cluster")
        if address is not None:
            problems.add(ConfigError(f"{path}: cluster and ray_address are both set; give cluster to deploy a Ray "
                                     "cluster for the jobs, or ray_address to use a running one",
                                     key=f"{path}::cluster"))
        for job in jobs:
            with problems.check():
                check_runs_on_a_deployed_cluster(job, path)
    clusters: tuple[ClusterEntry, ...] = ()
    if content.get("clusters") is not None:
        clusters = problems.result(lambda: _clusters(content["clusters"], path)) or ()
        for key in ("cluster", "ray_address"):
            if content.get(key) is not None:
                problems.add(ConfigError(f"{path}: clusters and {key} are both set; give clusters to spread the jobs "
                                         f"over several running Ray clusters, or {key} alone",
                                         key=f"{path}::clusters+{key}"))
    problems.raise_if_any()
    log_dir = (path.parent / str(content.get("log_dir") or f"{path.stem}-logs")).resolve()
    return DispatchPlan(path=path, mode=mode, ray_address=address, log_dir=log_dir, jobs=tuple(jobs),
                        cluster=cluster, clusters=clusters)


def _jobs(entries: Any, path: Path, problems: Problems) -> list[Job]:
    """jobs.yaml's ``jobs:``, with the problems of each job recorded in ``problems``."""
    if not isinstance(entries, list) or not entries:
        problems.add(ConfigError(f"{path}: jobs must be a list of one or more jobs (see aframe-tune dispatch --help)",
                                 key=f"{path}::jobs"))
        entries = []
    jobs: list[Job] = []
    for index, entry in enumerate(entries):
        with problems.check():
            jobs.append(_job(entry, index, path.parent, path))
    for name in repeated([job.name for job in jobs]):
        problems.add(ConfigError(f"{path}: job name {name!r} is used more than once; names must be unique",
                                 key=f"{path}::{name}"))
    return jobs


def _clusters(entries: Any, path: Path) -> tuple[ClusterEntry, ...]:
    """jobs.yaml's ``clusters:``: a list of ``{name, address}``; every problem is reported at once."""
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: clusters must be a list of one or more clusters, each {{name: NAME, address: "
                          "http://HOST:8265}", key=f"{path}::clusters")
    problems = Problems()
    clusters: list[ClusterEntry] = []
    for index, entry in enumerate(entries):
        where = f"{path}: clusters[{index}]"
        if not isinstance(entry, dict):
            problems.add(ConfigError(f"{where} must be a mapping {{name: NAME, address: http://HOST:8265}}",
                                     key=where))
            continue
        if "cluster" in entry:
            problems.add(ConfigError(f"{where}.cluster: a cluster to deploy cannot be one of several clusters; give "
                                     "the address of a running one, or deploy one for all the jobs with the "
                                     "top-level cluster: instead of clusters:", key=f"{where}.cluster"))
            continue
        unknown = sorted(set(entry) - CLUSTER_KEYS)
        if unknown:
            problems.add(ConfigError(f"{where} has unknown keys {', '.join(unknown)}"
                                     f"{did_you_mean(unknown[0], CLUSTER_KEYS)} (a cluster takes name and address)",
                                     key=f"{where}.{unknown[0]}"))
            continue
        with problems.check():
            clusters.append(cluster_entry(entry.get("name"), entry.get("address"), where))
    with problems.check():
        check_unique_cluster_names(clusters, str(path))
    problems.raise_if_any()
    return tuple(clusters)


def check_runs_on_a_deployed_cluster(job: Job, path: Path) -> None:
    """A job on a deployed cluster sees only jobs.yaml's folder: its files must be there, and
    a tune experiment is no job for it (its search would live and die inside one pod)."""
    where = f"{path}: job {job.name!r}"
    if job.kind == "tune":
        raise ConfigError(f"{where} is a tune experiment, which cannot run on the cluster jobs.yaml deploys (its "
                          "results would be lost with the cluster); run its run.sh with an s3:// run directory to "
                          "tune on Kubernetes, or dispatch it without cluster:", key=f"{where}.tune")
    root = path.parent
    for argument in job.argv:
        if argument.startswith("/") and Path(argument).exists() and not Path(argument).is_relative_to(root):
            raise ConfigError(f"{where} uses {argument}, outside {root}, the folder sent to the cluster's pods; "
                              "move it into that folder", key=f"{where}.{job.kind}")
