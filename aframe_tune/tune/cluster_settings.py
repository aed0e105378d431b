"""What a search that runs in the cluster is given besides tune.yaml and train.yaml.

``run.sh`` writes it as ``search.json`` into the release's experiment ConfigMap; the search on
the head (``tune/cluster_search.py``) reads it. Nothing here imports Ray.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from aframe_tune.errors import ConfigError
from aframe_tune.tune.loggers import SearchLoggers

# where the head finds the experiment's files (the chart mounts the ConfigMap there)
EXPERIMENT_ENV = "AFRAME_TUNE_EXPERIMENT"
TUNE_FILE, TRAIN_FILE, SETTINGS_FILE = "tune.yaml", "train.yaml", "search.json"


@dataclass(frozen=True)
class ClusterSearchSettings:
    """What the search needs besides tune.yaml and train.yaml: ``search.json``. No secrets.

    Args:
        run_dir: the ``s3://`` run directory.
        release: the Ray cluster release the search runs on.
        tune_overrides: lightray arguments after tune.yaml (checked on the user's machine).
        train_overrides: LightningCLI arguments after train.yaml (``--data.ifos``, ...).
        loggers: the experiment trackers.
        working_dir: the ``s3://`` zip of ``ship_code``, the job's runtime working directory.
    """

    run_dir: str
    release: str
    tune_overrides: tuple[str, ...] = ()
    train_overrides: tuple[str, ...] = ()
    loggers: SearchLoggers = field(default_factory=SearchLoggers)
    working_dir: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> ClusterSearchSettings:
        try:
            data = json.loads(text)
            return cls(run_dir=data["run_dir"], release=data["release"],
                       tune_overrides=tuple(data.get("tune_overrides") or ()),
                       train_overrides=tuple(data.get("train_overrides") or ()),
                       loggers=SearchLoggers(**(data.get("loggers") or {})), working_dir=data.get("working_dir"))
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{where} is not a search's settings ({error}); it is written by run.sh") from None
