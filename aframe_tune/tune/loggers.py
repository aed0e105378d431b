"""Where a search logs its trials besides its run directory: Weights & Biases when
``WANDB_API_KEY`` is set, MLflow when ``[luigi_mlflow] tracking_uri`` is. (TensorBoard event files
of every trial come from Ray Tune's default loggers, in each trial's folder.)"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any

from aframe_tune.console import say

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchLoggers:
    """The experiment trackers a search reports every trial's results to.

    Args:
        wandb_project: W&B project, or ``None`` for no W&B logging.
        wandb_entity: W&B user or team; ``None`` for the key's default.
        mlflow_tracking_uri: MLflow tracking server or ``file://`` store, or ``None`` for no MLflow.
        mlflow_experiment: the MLflow experiment the trials are runs of.
        group: groups the trials of one search (the experiment's name).
    """

    wandb_project: str | None = None
    wandb_entity: str | None = None
    mlflow_tracking_uri: str | None = None
    mlflow_experiment: str = "aframe-tune"
    group: str = "tune"

    def announcements(self) -> list[str]:
        """What the user is told of where the trials are logged besides the run directory."""
        lines = [f"Logging the trials to W&B project {self.wandb_project}"] if self.wandb_project else []
        if self.mlflow_tracking_uri:
            lines.append(f"Logging the trials to MLflow at {self.mlflow_tracking_uri}, experiment {self.mlflow_experiment}")
        return lines

    def callbacks(self) -> list[Any]:
        """Ray Tune logger callbacks for the trackers that are set up and installed here."""
        callbacks = []
        if self.wandb_project:
            if importlib.util.find_spec("wandb") is None:
                logger.warning("WANDB_API_KEY is set but wandb is not installed, so the trials are not logged to "
                               "W&B; install it with: pip install 'aframe-tune[wandb]'")
            else:
                from ray.air.integrations.wandb import WandbLoggerCallback

                # no api_key argument: the callback would put it in its actor's runtime environment,
                # which Ray passes on a command line; wandb reads it from the netrc file instead
                callbacks.append(WandbLoggerCallback(project=self.wandb_project, entity=self.wandb_entity,
                                                     group=self.group))
                say("Logging the trials to W&B project %s", self.wandb_project)
        if self.mlflow_tracking_uri:
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            callbacks.append(MLflowLoggerCallback(tracking_uri=self.mlflow_tracking_uri,
                                                  experiment_name=self.mlflow_experiment,
                                                  tags={"aframe-tune.search": self.group}))
            say("Logging the trials to MLflow at %s, experiment %s", self.mlflow_tracking_uri, self.mlflow_experiment)
        return callbacks


def wandb_enabled() -> bool:
    """W&B logging is on when the user's environment holds a W&B key (as for remote runs)."""
    return bool(os.environ.get("WANDB_API_KEY"))


# W&B settings (not secrets) a remote search's pods get from the driver's environment
WANDB_SETTINGS = ("WANDB_MODE", "WANDB_BASE_URL")


def wandb_settings() -> tuple[tuple[str, str], ...]:
    """``WANDB_MODE``/``WANDB_BASE_URL`` of this environment (offline mode, a self-hosted server),
    for the pods of a remote search that logs to W&B."""
    if not wandb_enabled():
        return ()
    return tuple((name, os.environ[name]) for name in WANDB_SETTINGS if os.environ.get(name))


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def usable_on_cluster(loggers: SearchLoggers) -> SearchLoggers:
    """``loggers`` without the trackers whose library the connected Ray cluster's image lacks (a
    search would fail when its first trial reports), with a warning that says so."""
    import dataclasses

    import ray

    needed = {"wandb": loggers.wandb_project, "mlflow": loggers.mlflow_tracking_uri}
    check = ray.remote(num_cpus=0)(_has_module)
    missing = [name for name, wanted in needed.items() if wanted and not ray.get(check.remote(name))]
    for name in missing:
        logger.warning("The Ray cluster's image has no %s, so the trials are not logged to it; use an image "
                       "with %s installed", name, name)
    changes = {"wandb_project": None} if "wandb" in missing else {}
    if "mlflow" in missing:
        changes["mlflow_tracking_uri"] = None
    return dataclasses.replace(loggers, **changes) if changes else loggers
