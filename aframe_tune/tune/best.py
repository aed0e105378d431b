"""The best trial of a search, as ``best.json`` records it."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from aframe_tune.errors import TuningError


@dataclass(frozen=True)
class BestTrial:
    """The trial and checkpoint a search is summed up by, as written to ``best.json``.

    Args:
        trial_id: Ray Tune's id of the trial.
        hyperparameters: the sampled values, keyed by their dot paths in ``train.yaml``.
        metric: name of the metric trials were ranked by.
        mode: ``"min"`` or ``"max"``.
        value: the metric's value at the exported checkpoint.
        iteration: the training iteration (report) of that checkpoint.
        checkpoint: where the checkpoint lies in the experiment.
    """

    trial_id: str
    hyperparameters: dict[str, Any]
    metric: str
    mode: str
    value: float
    iteration: int
    checkpoint: str

    @classmethod
    def from_json(cls, text: str, where: str) -> BestTrial:
        """Read ``best.json``'s text; ``where`` names the file in errors."""
        try:
            content = json.loads(text)
            return cls(**{field.name: content[field.name] for field in fields(cls)})
        except (ValueError, KeyError, TypeError) as error:
            raise TuningError(f"{where} cannot be read ({error}); delete best.pt and best.json there and run "
                              "run.sh again to export them anew") from None
