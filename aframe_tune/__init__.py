"""aframe-tune: hyperparameter tuning of LightningCLI models with Ray Tune, run as law workflows."""

from aframe_tune.errors import AframeTuneError

__all__ = ["AframeTuneError"]
__version__ = "0.1.0"
