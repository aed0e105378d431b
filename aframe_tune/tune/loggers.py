"""Where a search logs its trials besides its run directory: Weights & Biases when
``WANDB_API_KEY`` is set, MLflow when ``[luigi_mlflow] tracking_uri`` is. (TensorBoard event files
of every trial come from Ray Tune's default loggers, in each trial's folder.)"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any

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
                logger.info("Logging the trials to W&B project %s", self.wandb_project)
        if self.mlflow_tracking_uri:
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            callbacks.append(MLflowLoggerCallback(tracking_uri=self.mlflow_tracking_uri,
                                                  experiment_name=self.mlflow_experiment,
                                                  tags={"aframe-tune.search": self.group}))
            logger.info("Logging the trials to MLflow at %s, experiment %s", self.mlflow_tracking_uri,
                        self.mlflow_experiment)
        return callbacks


def wandb_enabled() -> bool:
    """W&B logging is on when the user's environment holds a W&B key (as for remote runs)."""
    return bool(os.environ.get("WANDB_API_KEY"))
