"""AWS keys kept off command lines: moved from the environment into a private credentials file."""

from __future__ import annotations

import configparser
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

# Ray Tune copies these variables of its driver into every trial's runtime environment, and Ray
# passes a runtime environment on the worker's command line, where `ps` shows it to every user of
# the machine (ray.tune.execution.class_cache.ENV_VARS_TO_PROPAGATE).
KEY_VARIABLES = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_SECURITY_TOKEN": "aws_security_token",
}


@contextmanager
def aws_keys_in_a_private_file() -> Iterator[Path | None]:
    """Move AWS key variables of this process into a 0600 credentials file while the block runs.

    boto3, s3fs and pyarrow read the same keys from ``AWS_SHARED_CREDENTIALS_FILE`` (under the
    ``AWS_PROFILE`` section, or ``default``), so processes started inside the block (Ray and its
    trials) keep their S3 access. The variables and the previous file setting are restored and
    the file is deleted afterwards. Yields the file, or None when there were no keys to move.
    """
    moved = {name: os.environ[name] for name in KEY_VARIABLES if os.environ.get(name)}
    if not moved:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="aframe-tune-aws-"))  # mode 0700
    path = directory / "credentials"
    profile = os.environ.get("AWS_PROFILE") or "default"
    credentials = configparser.ConfigParser(interpolation=None)
    credentials[profile] = {KEY_VARIABLES[name]: value for name, value in moved.items()}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        credentials.write(handle)
    previous_file = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    for name in moved:
        del os.environ[name]
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(path)
    logger.debug("AWS keys moved from the environment to %s for this run", path)
    try:
        yield path
    finally:
        os.environ.update(moved)
        if previous_file is None:
            os.environ.pop("AWS_SHARED_CREDENTIALS_FILE", None)
        else:
            os.environ["AWS_SHARED_CREDENTIALS_FILE"] = previous_file
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def wandb_key_in_a_private_netrc() -> Iterator[Path | None]:
    """Move ``WANDB_API_KEY`` of this process into a 0600 netrc file (``NETRC``) while the block
    runs, as the pods of a remote run get it.

    Ray's W&B callback copies the variable into its logging actor's runtime environment, which
    Ray passes on a command line; wandb reads the same key from the netrc file. Yields the file,
    or None when there was no key.
    """
    key = os.environ.get("WANDB_API_KEY")
    if not key:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="aframe-tune-wandb-"))  # mode 0700
    path = directory / "netrc"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"machine api.wandb.ai\n  login user\n  password {key}\n")
    previous = os.environ.get("NETRC")
    del os.environ["WANDB_API_KEY"]
    os.environ["NETRC"] = str(path)
    logger.debug("W&B key moved from the environment to %s for this run", path)
    try:
        yield path
    finally:
        os.environ["WANDB_API_KEY"] = key
        if previous is None:
            os.environ.pop("NETRC", None)
        else:
            os.environ["NETRC"] = previous
        shutil.rmtree(directory, ignore_errors=True)
