"""Configuration read from an experiment's ``tune.cfg`` and the ``AFRAME_*`` environment.

law copies every ``[luigi_NAME]`` section of ``tune.cfg`` into luigi's section ``NAME``, so
``[luigi_ray_worker]`` configures :class:`ray_worker` below and ``[luigi_TuneTask]`` the tune
task's parameters. The class names are lower case because luigi names a config section after
its class.

Secrets (S3 keys, the W&B key) are deliberately not parameters here: luigi prints parameter
values in task names and logs. They are read from the environment where they are used.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
from collections.abc import Collection, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import luigi

from aframe_tune.errors import ConfigError, InvalidInputsError, did_you_mean

# Kubernetes resource quantities: a decimal number with an optional binary or decimal suffix.
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
# A DNS-1123 label, as Kubernetes requires of namespace and helm release names.
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# An extended resource name: a DNS subdomain, a slash, a name (nvidia.com/gpu, nvidia.com/a100).
_RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
# A pod of a Job has at most this many GPUs on shared clusters (NRP's rule, and a node's size).
MAX_GPUS_PER_POD = 8
# law copies [luigi_NAME] sections of its config file to luigi's section NAME.
LUIGI_PREFIX = "luigi_"


class EnvironmentParameter(luigi.Parameter):
    """A string parameter whose default is an environment variable, read when the value is needed.

    luigi's own idiom, ``default=os.getenv(...)``, freezes the variable when the module is
    imported; reading it at resolution time lets one process run tasks for several
    environments (as the test suite and the dispatcher do).

    Args:
        variable: the environment variable that supplies the default.
    """

    def __init__(self, variable: str, **kwargs: Any) -> None:
        self.variable = variable
        kwargs.setdefault("default", "")
        super().__init__(**kwargs)

    def _value_iterator(self, task_name: str, param_name: str) -> Iterator[tuple[Any, Any]]:
        # luigi yields command line, then config, then default; only the default is replaced.
        *explicit, _default = list(super()._value_iterator(task_name, param_name))
        yield from explicit
        yield (os.environ.get(self.variable, self._default), None)


def check_config_file_syntax(path: Path) -> None:
    """Read ``path`` as law and luigi will, and turn what they would fail on into a ConfigError.

    law reads LAW_CONFIG_FILE while it starts, before any aframe-tune code runs, and a repeated
    option or a line outside any section ends in a configparser traceback there.
    """
    parser = configparser.ConfigParser(allow_no_value=True, interpolation=None)
    try:
        with path.open() as handle:
            parser.read_file(handle, source=str(path))
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror}); check LAW_CONFIG_FILE") from None
    except configparser.DuplicateOptionError as error:
        raise ConfigError(
            f"{path} line {error.lineno}: option {error.option!r} appears twice in section "
            f"[{error.section}]; keep one of them"
        ) from None
    except configparser.DuplicateSectionError as error:
        raise ConfigError(
            f"{path} line {error.lineno}: section [{error.section}] appears twice; merge the two "
            "into one"
        ) from None
    except configparser.MissingSectionHeaderError as error:
        raise ConfigError(
            f"{path} line {error.lineno}: {error.line.strip()!r} is outside any section; put it "
            "under its [section] header"
        ) from None
    except configparser.ParsingError as error:
        # configparser keeps each bad line as its repr()
        lines = ", ".join(f"line {lineno}: {ast.literal_eval(line).strip()!r}" for lineno, line in error.errors)
        raise ConfigError(
            f"{path}: cannot be parsed ({lines}); write options as `name = value` under a "
            "[section] header"
        ) from None


class OutOfRangeError(ValueError):
    """A value of the right type that a checked parameter refuses; its message says why, in words
    that follow ``option = value``."""


def _bound_words(minimum: float) -> str:
    return "greater than zero" if minimum > 0 else "zero or more"


class CountParameter(luigi.IntParameter):
    """A whole number of at least ``minimum`` (and at most ``maximum``, whose reason ``why`` gives):
    CPUs, GPUs, pods.

    The range is checked wherever luigi reads the value, and by :func:`check_config_options` in
    every run, whether or not the run uses the section.
    """

    def __init__(self, minimum: int = 1, maximum: int | None = None, why: str = "", **kwargs: Any) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.why = why
        super().__init__(**kwargs)

    def parse(self, x: str) -> int:
        value = super().parse(x)
        if value < self.minimum:
            raise OutOfRangeError(f"must be {_bound_words(self.minimum)}")
        if self.maximum is not None and value > self.maximum:
            raise OutOfRangeError(f"must be at most {self.maximum}{self.why}")
        return value


class OptionalCountParameter(luigi.OptionalIntParameter):
    """A whole number of at least one, or empty for "not set"."""

    def parse(self, x: str) -> int | None:
        value = super().parse(x)
        if value is not None and value < 1:
            raise OutOfRangeError(f"must be {_bound_words(1)}")
        return value


class PositiveFloatParameter(luigi.FloatParameter):
    """A number greater than zero: GiB of memory, seconds."""

    def parse(self, x: str) -> float:
        value = super().parse(x)
        if not value > 0:
            raise OutOfRangeError(f"must be {_bound_words(1)}")
        return value


class QuantityParameter(luigi.Parameter):
    """A Kubernetes resource quantity, such as ``32G`` or ``32Gi``."""

    def parse(self, x: str) -> str:
        if not _QUANTITY.match(x.strip()):
            raise OutOfRangeError("is not a Kubernetes quantity: write a number with an optional suffix, "
                                  "such as 32G or 32Gi")
        return x.strip()


class KubernetesNameParameter(luigi.Parameter):
    """A name Kubernetes accepts for a namespace (a DNS-1123 label), or empty for the kube context's own."""

    def parse(self, x: str) -> str:
        if x and not _DNS_1123_LABEL.match(x):
            raise OutOfRangeError("is not a valid Kubernetes name: use at most 63 lowercase letters, digits and "
                                  "hyphens, starting and ending with a letter or digit")
        return x


class ResourceNameParameter(luigi.Parameter):
    """An extended resource's name, such as ``nvidia.com/gpu``."""

    def parse(self, x: str) -> str:
        if not _RESOURCE_NAME.match(x.strip()):
            raise OutOfRangeError("is not a resource name: write a domain, a slash and a name, such as nvidia.com/gpu "
                                  "or nvidia.com/a100")
        return x.strip()


class ImageParameter(luigi.Parameter):
    """A container image reference, such as ``rayproject/ray:2.60.0-py311``."""

    def parse(self, x: str) -> str:
        if not x.strip() or any(char.isspace() for char in x.strip()):
            raise OutOfRangeError("is not an image: write one such as rayproject/ray:2.60.0-py311")
        return x.strip()


def value_problem(parameter: luigi.Parameter, value: str) -> str | None:
    """Why luigi could not read ``value`` for ``parameter``, in words, or None if it can."""
    try:
        parameter.parse(os.path.expandvars(value))
        return None
    except OutOfRangeError as error:
        return str(error)
    except (ValueError, KeyError, TypeError):
        pass
    if isinstance(parameter, luigi.BoolParameter):
        return "must be true or false"
    if isinstance(parameter, (luigi.IntParameter, luigi.OptionalIntParameter)):
        return "is not a whole number; write digits only, such as 2"
    if isinstance(parameter, (luigi.FloatParameter, luigi.OptionalFloatParameter)):
        return "is not a number; write one such as 16 or 0.5"
    if isinstance(parameter, (luigi.ListParameter, luigi.OptionalListParameter)):
        return 'is not a list; write it in brackets with quoted strings, such as ["H1", "L1"]'
    if isinstance(parameter, luigi.ChoiceParameter):
        return f"must be one of {', '.join(sorted(map(str, parameter._choices)))}"
    return "cannot be read"


def check_config_options(
    path: Path, families: Mapping[str, type[luigi.Task]], strict: Collection[str], law_sections: Collection[str]
) -> None:
    """Check every section and option of a (syntactically valid) ``tune.cfg`` before law reads it.

    luigi ignores options it does not know and fails with a traceback on values it cannot
    parse, long after the run has started; a typo should instead stop the run at once.

    Args:
        path: the file.
        families: the luigi task and config classes a ``[luigi_NAME]`` section may configure.
        strict: the families whose sections may hold only their parameters (luigi itself reads
            a few undeclared options of its own sections, such as ``[core] rpc-retry-attempts``).
        law_sections: law's own sections, which are not checked further.
    """
    parser = configparser.ConfigParser(allow_no_value=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    problems = []
    known_sections = [f"[{LUIGI_PREFIX}{name}]" for name in families] + [f"[{name}]" for name in law_sections]
    for section in parser.sections():
        if section in law_sections:
            continue
        family = section.removeprefix(LUIGI_PREFIX) if section.startswith(LUIGI_PREFIX) else None
        if family not in families:
            problems.append(ConfigError(
                f"{path}: section [{section}] is not one aframe-tune, law or luigi reads"
                f"{did_you_mean(f'[{section}]', known_sections, 2) or did_you_mean(f'[{LUIGI_PREFIX}{section}]', known_sections, 2)}"
            ))
            continue
        parameters = dict(families[family].get_params())
        for option, value in parser.items(section, raw=True):
            name = option.replace("-", "_")
            if name not in parameters:
                if family in strict:
                    problems.append(ConfigError(
                        f"{path}: [{section}] has no option {option!r}"
                        f"{did_you_mean(name, parameters) or '; its options are ' + ', '.join(parameters)}"
                    ))
                continue
            problem = value_problem(parameters[name], value or "")
            if problem:
                problems.append(ConfigError(f"{path}: [{section}] {option} = {value} {problem}"))
    if problems:
        raise InvalidInputsError(problems)


def _setting(section: str, option: str, where: str | None) -> str:
    return where or f"tune.cfg [luigi_{section}] {option}"


def check_dns_label(value: str, section: str, option: str, where: str | None = None) -> str:
    """Reject names Kubernetes would refuse for a namespace or release (DNS-1123 labels).

    ``where`` names the setting in messages when it is not ``tune.cfg``'s (jobs.yaml's, say).
    """
    if not isinstance(value, str) or not _DNS_1123_LABEL.match(value):
        raise ConfigError(
            f"{_setting(section, option, where)} = {value!r} is not a valid Kubernetes name: use at "
            "most 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit"
        )
    return value


def check_quantity(value: str, section: str, option: str, where: str | None = None) -> str:
    """Reject memory strings Kubernetes would not accept, such as ``32GB`` or ``lots``."""
    if isinstance(value, bool) or not _QUANTITY.match(str(value)):
        raise ConfigError(
            f"{_setting(section, option, where)} = {value!r} is not a Kubernetes quantity: "
            "write a number with an optional suffix, such as 32G or 32Gi"
        )
    return str(value)


def check_positive(value: float, section: str, option: str, allow_zero: bool = False,
                   where: str | None = None) -> float:
    """Reject resource counts below one (or below zero where zero means "none")."""
    bound = "zero or more" if allow_zero else "greater than zero"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{_setting(section, option, where)} = {value!r} must be a number, {bound}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{_setting(section, option, where)} = {value} must be {bound}")
    return value


class paths(luigi.Config):  # noqa: N801 (luigi names the section after the class)
    """Locations shared by every aframe task, read from ``AFRAME_*`` environment variables."""

    train_run_dir = EnvironmentParameter(
        "AFRAME_TRAIN_RUN_DIR",
        description="where the experiment's results, checkpoints and best.pt go: a local path "
        "tunes locally, an s3:// URL tunes on Kubernetes; default: $AFRAME_TRAIN_RUN_DIR",
    )


class data(luigi.Config):  # noqa: N801
    """Data options shared with the other aframe tasks, passed to the model as ``--data.*``."""

    ifos = luigi.OptionalListParameter(
        default=None,
        description="interferometers, passed as --data.ifos; default: not passed",
    )
    sample_rate = luigi.OptionalFloatParameter(
        default=None,
        description="sample rate in Hz, passed as --data.sample_rate; default: not passed",
    )

    def lightning_args(self) -> list[str]:
        """The ``--data.*`` arguments for the LightningCLI, for options that are set."""
        args = []
        if self.ifos is not None:
            args.append(f"--data.ifos=[{','.join(self.ifos)}]")
        if self.sample_rate is not None:
            args.append(f"--data.sample_rate={self.sample_rate}")
        return args


def parameters_of(cls: type) -> dict[str, luigi.Parameter]:
    """The luigi parameters a class declares, by name, in declaration order."""
    found = {name: value for name, value in vars(cls).items() if isinstance(value, luigi.Parameter)}
    return dict(sorted(found.items(), key=lambda item: item[1]._counter))


def yaml_scalar_text(value: Any) -> str | None:
    """A YAML scalar as the text luigi parses (``true``, ``8``, ``32G``); ``None`` for a list or mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return None
    return "" if value is None else str(value)


def read_mapping(parameters: Mapping[str, luigi.Parameter], entry: Mapping[str, Any], where: str,
                 names: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[ConfigError]]:
    """Read a YAML mapping with the parameters of a tune.cfg section, so that both files share one
    schema: its keys, types, range checks and defaults.

    Args:
        parameters: the section's parameters by name.
        entry: the mapping (its keys already checked to be known).
        where: names the mapping in messages, such as ``jobs.yaml: cluster.head``.
        names: the YAML key of a parameter whose name differs there.

    Returns:
        Every parameter's value (its default where the mapping leaves it out), and the problems.
    """
    names = names or {}
    values: dict[str, Any] = {}
    problems: list[ConfigError] = []
    for name, parameter in parameters.items():
        key = names.get(name, name)
        if key not in entry:
            values[name] = parameter._default  # luigi keeps a parameter's default there
            continue
        text = yaml_scalar_text(entry[key])
        problem = "must be a single value, not a list or mapping" if text is None else value_problem(parameter, text)
        if problem:
            problems.append(ConfigError(f"{where}.{key} = {entry[key]!r} {problem}", key=f"{where}.{key}"))
        else:
            values[name] = parameter.parse(os.path.expandvars(text or ""))
    return values, problems


class ClusterBackendName(StrEnum):
    """How a Ray cluster is deployed on Kubernetes (``[luigi_TuneRemote] backend``)."""

    AUTO = "auto"
    KUBERAY = "kuberay"
    CHART = "chart"


class RayClusterParameters:
    """Where a Ray cluster is deployed and how it is run: ``[luigi_TuneRemote]`` in tune.cfg, and
    jobs.yaml's ``cluster:`` (where ``keep_cluster`` is ``keep``). With ``[luigi_ray_head]`` and
    ``[luigi_ray_worker]`` it is the one schema of a deployed cluster (``cluster/description.py``)."""

    namespace = KubernetesNameParameter(
        default="", significant=False,
        description="Kubernetes namespace (on shared clusters, your own); default: the kube context's namespace",
    )
    kube_context = luigi.OptionalParameter(
        default=None, significant=False, description="kube context to use; default: the current one"
    )
    image = ImageParameter(
        default="rayproject/ray:2.60.0-py311",
        significant=False,
        description="image of the Ray pods, with Ray matching this machine's; default: "
        "rayproject/ray:2.60.0-py311",
    )
    image_pull_policy = luigi.ChoiceParameter(
        choices=["Always", "IfNotPresent", "Never"],
        default="IfNotPresent",
        significant=False,
        description="Always, IfNotPresent or Never; default: IfNotPresent",
    )
    backend = luigi.ChoiceParameter(
        choices=[b.value for b in ClusterBackendName],
        default=ClusterBackendName.AUTO.value,
        significant=False,
        description="how the Ray cluster is deployed: kuberay (a RayCluster for the KubeRay operator, whose "
        "autoscaler releases idle workers), chart (aframe-tune's own Jobs, for clusters without the operator) "
        "or auto (kuberay where the cluster serves ray.io/v1 RayCluster); default: auto",
    )
    ready_timeout = PositiveFloatParameter(
        default=900.0,
        significant=False,
        description="seconds to wait for the head and a worker to be ready; default: 900",
    )
    # Explicit parsing, as law sets for the parameters made after it is imported: this module may
    # be imported before law, and with luigi's implicit parsing the command line's absent flag
    # would read as false and override tune.cfg's true.
    keep_cluster = luigi.BoolParameter(
        default=False, significant=False, parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="leave the cluster running: a search's once it ended or failed to start, a dispatch's once its "
        "jobs ended (remove it with aframe-tune cleanup); default: false",
    )


class ray_head(luigi.Config):  # noqa: N801
    """Resources of the Ray head pod of a remote search."""

    cpus = CountParameter(default=8, description="CPUs of the head pod; default: 8")
    memory = QuantityParameter(
        default="32G", description="memory of the head pod, as a Kubernetes quantity; default: 32G"
    )

    def validate(self) -> None:
        check_positive(self.cpus, "ray_head", "cpus")
        check_quantity(self.memory, "ray_head", "memory")


class ray_worker(luigi.Config):  # noqa: N801
    """Resources of the Ray worker pods of a remote search."""

    replicas = CountParameter(default=1, description="number of worker pods; default: 1")
    gpus_per_replica = CountParameter(
        minimum=0, maximum=MAX_GPUS_PER_POD, why=": shared GPU clusters allow at most 8 GPUs in a pod; "
        "raise replicas instead", default=1, description="GPUs of each worker pod, at most 8; default: 1"
    )
    gpu_resource = ResourceNameParameter(
        default="nvidia.com/gpu",
        description="the resource name the worker pods ask for GPUs by, such as nvidia.com/a100 for A100s on "
        "NRP; default: nvidia.com/gpu",
    )
    cpus_per_gpu = CountParameter(
        default=8, description="CPUs of a worker pod per GPU it has; default: 8"
    )
    memory_per_gpu = PositiveFloatParameter(
        default=16.0, description="memory of a worker pod per GPU it has, in GiB; default: 16"
    )
    min_gpu_memory = CountParameter(
        minimum=0,
        default=15000,
        description="only schedule workers on nodes whose GPUs have at least this much memory, "
        "in MB; default: 15000",
    )

    min_replicas = CountParameter(
        minimum=0, default=0,
        description="the fewest worker pods kept while idle (by Ray's autoscaler with backend kuberay, by the "
        "workers themselves with chart); default: 0",
    )
    idle_timeout = CountParameter(
        default=60,
        description="seconds a worker pod runs no trial, while none waits, before it is removed with its GPUs "
        "(by Ray's autoscaler with backend kuberay, by itself with chart, once the search started); default: 60",
    )

    def validate(self) -> None:
        check_positive(self.replicas, "ray_worker", "replicas")
        if self.min_replicas > self.replicas:
            raise ConfigError(f"[luigi_ray_worker] min_replicas = {self.min_replicas} is more than replicas = "
                              f"{self.replicas}: lower min_replicas", key="ray_worker.min_replicas")
        check_positive(self.gpus_per_replica, "ray_worker", "gpus_per_replica", allow_zero=True)
        check_positive(self.cpus_per_gpu, "ray_worker", "cpus_per_gpu")
        check_positive(self.memory_per_gpu, "ray_worker", "memory_per_gpu")
        check_positive(self.min_gpu_memory, "ray_worker", "min_gpu_memory", allow_zero=True)


class ssh(luigi.Config):  # noqa: N801
    """The SSH key the git-sync init container clones remote code with."""

    ssh_file = luigi.Parameter(
        default="~/.ssh/id_rsa",
        description="private key with read access to git_url; default: ~/.ssh/id_rsa",
    )
    known_hosts = luigi.Parameter(
        default="~/.ssh/known_hosts",
        description="the OpenSSH known_hosts file whose entries for git_url's server git-sync checks its host "
        "key against; default: ~/.ssh/known_hosts",
    )


class s3(luigi.Config):  # noqa: N801
    """S3 storage of remote runs; credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."""

    endpoint_url = EnvironmentParameter(
        "AWS_ENDPOINT_URL",
        description="S3 endpoint, e.g. https://s3-west.nrp-nautilus.io; default: $AWS_ENDPOINT_URL",
    )
    pod_endpoint_url = luigi.Parameter(
        default="",
        description="the S3 endpoint the pods use, where the cluster reaches S3 at an in-cluster address "
        "that differs from this machine's (e.g. http://rook-ceph-rgw-nautiluss3.rook); default: endpoint_url",
    )

    def for_pods(self) -> str:
        """The endpoint the pods reach S3 at."""
        return self.pod_endpoint_url or self.endpoint_url


class wandb(luigi.Config):  # noqa: N801
    """Weights & Biases logging; the key comes from WANDB_API_KEY and is never a parameter."""

    project = luigi.Parameter(default="aframe", description="W&B project; default: aframe")
    entity = luigi.OptionalParameter(
        default=None, description="W&B entity (user or team); default: your default entity"
    )


class mlflow(luigi.Config):  # noqa: N801
    """MLflow logging of every trial, on when ``tracking_uri`` is set."""

    tracking_uri = luigi.OptionalParameter(
        default=None,
        description="MLflow tracking server (http://HOST:5000) or local database (sqlite:////path/mlflow.db) "
        "that every trial is logged to as a run; default: none (no MLflow logging)",
    )
    experiment = luigi.Parameter(default="aframe-tune", description="MLflow experiment; default: aframe-tune")

    def validate(self) -> None:
        import importlib.util

        if not self.tracking_uri:
            return
        where = f"tune.cfg [luigi_mlflow] tracking_uri = {self.tracking_uri}"
        if importlib.util.find_spec("mlflow") is None:
            raise ConfigError(f"{where}, but MLflow is not installed; install it with: pip install "
                              "'aframe-tune[mlflow]' (or remove tracking_uri)", key="tune.cfg::mlflow.tracking_uri")
        from mlflow.tracking import MlflowClient

        try:  # the store must answer before the search starts, not when its first trial reports
            MlflowClient(tracking_uri=self.tracking_uri).get_experiment_by_name(self.experiment)
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ConfigError(f"{where}: MLflow cannot use it ({reason}); give a tracking server's URL or a "
                              "sqlite:////absolute/path/mlflow.db", key="tune.cfg::mlflow.tracking_uri") from None
