"""The one exception hierarchy of aframe-tune.

Every error a user can cause is raised as a subclass of :class:`AframeTuneError` with a message
that names the file and key at fault and says how to fix it. Entry points print the message
alone (no traceback) and exit non-zero.
"""


class AframeTuneError(Exception):
    """Base class of every error aframe-tune raises on purpose."""


class ConfigError(AframeTuneError):
    """A configuration file, option or environment variable is missing or invalid."""


class ScaffoldError(AframeTuneError):
    """``aframe-init`` cannot write the experiment directory."""


class TuningError(AframeTuneError):
    """The Ray Tune search itself failed or produced no usable result."""


class NotYetSupportedError(AframeTuneError):
    """A requested capability exists in the design but is not built yet."""
