"""Logging of the tune tasks: one handler for everything, expected failures as one clear line."""

from __future__ import annotations

import logging
import os

from aframe_tune.console import quiet_http_requests
from aframe_tune.errors import AframeTuneError

# luigi's worker logs a failed task's exception, with its traceback, on this logger.
LUIGI_LOGGER = "luigi-interface"
# Variables whose values never appear in a log line, whatever the level.
SECRET_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "WANDB_API_KEY",
                    "RAY_AUTH_TOKEN")
# Ray Tune logs a failed trial, with its whole traceback, on this logger.
TRIAL_FAILURE_LOGGER = "ray.tune.execution.tune_controller"
TRIAL_FAILURE_PREFIX = "Trial task failed for trial"
_MAX_REASON_LENGTH = 300
# HTTP clients that log request headers (S3 request signatures name the access key) at DEBUG.
HEADER_LOGGERS = ("botocore", "boto3", "s3transfer", "aiobotocore", "s3fs", "urllib3")
REDACTED = "***"
_MIN_SECRET_LENGTH = 8
_registered_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Have ``value`` (an SSH key, say) masked in every log line from now on, line by line."""
    _registered_secrets.update(line.strip() for line in value.splitlines() if len(line.strip()) >= _MIN_SECRET_LENGTH)


class SecretRedactor(logging.Filter):
    """Mask secrets in log records, tracebacks included: the last line of defence should a
    library log a credential (botocore logs request signatures at DEBUG, for one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = {os.environ.get(name, "") for name in SECRET_VARIABLES} | _registered_secrets
        secrets = {secret for secret in secrets if len(secret) >= _MIN_SECRET_LENGTH}
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in secrets:
            message = message.replace(secret, REDACTED)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, REDACTED)
        record.msg, record.args = message, ()
        return True


class AframeTuneErrorFilter(logging.Filter):
    """Show an :class:`AframeTuneError` as its message alone, unless DEBUG logging is on.

    Our errors already say which file and key to fix; a traceback through luigi's worker only
    buries that. Any other exception keeps its traceback, because it is a bug.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, AframeTuneError) and not logging.getLogger(LUIGI_LOGGER).isEnabledFor(
            logging.DEBUG
        ):
            record.msg, record.args = f"aframe-tune: {error}", ()
            record.exc_info = record.exc_text = None
        return True


class OneLineTrialFailures(logging.Filter):
    """At the default level, a failed trial is one line: the error's last line and where its
    traceback is. Tune retries the trial (``failure_config``), and the live view counts the failed
    ones; a screen of traceback per failure buries both."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and record.getMessage().startswith(TRIAL_FAILURE_PREFIX):
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason = (lines[-1] if lines else type(error).__name__)[:_MAX_REASON_LENGTH]
            record.msg = (f"{record.getMessage()}: {reason} (the traceback is in its folder's error.txt; it is "
                          "retried as run_config.failure_config allows)")
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


def install_error_filter() -> None:
    """Attach the filter to luigi's logger once."""
    luigi_logger = logging.getLogger(LUIGI_LOGGER)
    if not any(isinstance(f, AframeTuneErrorFilter) for f in luigi_logger.filters):
        luigi_logger.addFilter(AframeTuneErrorFilter())


def library_lines_shown() -> bool:
    """Whether the run shows every library's lines (``--log-level INFO`` or ``DEBUG``), rather
    than only aframe-tune's console lines and warnings (the default, ``WARNING``)."""
    return logging.getLogger(LUIGI_LOGGER).isEnabledFor(logging.INFO)


def route_logs_through_root() -> None:
    """Give the root logger a handler, at the level luigi was given, and stop luigi's duplicates.

    lightray calls ``logging.basicConfig``, which adds a root handler unless one exists, and
    luigi's records propagate to the root as well as going to luigi's own handler: every line
    would be printed twice. With a root handler in place basicConfig does nothing, and luigi's
    logger keeps its own handler without propagating.
    """
    root = logging.getLogger()
    luigi_logger = logging.getLogger(LUIGI_LOGGER)
    if not root.handlers:
        handler = logging.StreamHandler()
        # at the default level only warnings and errors come here: their level and text suffice
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"
                                               if library_lines_shown() else "%(levelname)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(luigi_logger.getEffectiveLevel())
    trial_failures = logging.getLogger(TRIAL_FAILURE_LOGGER)
    if not library_lines_shown() and not any(isinstance(f, OneLineTrialFailures) for f in trial_failures.filters):
        trial_failures.addFilter(OneLineTrialFailures())
    if luigi_logger.handlers:
        luigi_logger.propagate = False
    for handler in [*root.handlers, *luigi_logger.handlers]:
        if not any(isinstance(f, SecretRedactor) for f in handler.filters):
            handler.addFilter(SecretRedactor())
    # their DEBUG lines are request dumps: noise to a researcher, and they carry signatures
    for name in HEADER_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    quiet_http_requests(root.level)
