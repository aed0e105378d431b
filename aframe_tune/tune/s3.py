"""Objects in S3: where a remote run's ``best.pt`` and ``best.json`` go.

Every boto3/botocore failure is turned into :class:`StorageError` here and nowhere else, with a
message that says which URL and what to check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aframe_tune.errors import AframeTuneError, ConfigError

logger = logging.getLogger(__name__)


class StorageError(AframeTuneError):
    """S3 could not be reached, refused our credentials, or has no such bucket."""


@dataclass(frozen=True)
class S3Location:
    """An object or prefix in S3.

    Args:
        bucket: the bucket name.
        key: the object key or prefix, without a leading slash.
    """

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """Split ``s3://bucket/key``; an error naming the URL if there is no bucket."""
        if not url.startswith("s3://"):
            raise ConfigError(f"{url!r} is not an s3:// URL; write it as s3://bucket/prefix")
        bucket, _, key = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(f"{url!r} names no bucket; write it as s3://bucket/prefix")
        return cls(bucket=bucket, key=key.strip("/"))

    def child(self, name: str) -> S3Location:
        return S3Location(self.bucket, f"{self.key}/{name}" if self.key else name)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def _translate(error: Exception, location: S3Location, doing: str) -> StorageError:
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(error, NoCredentialsError):
        reason = "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    elif isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        reason = {
            "NoSuchBucket": f"bucket {location.bucket!r} does not exist; create it or fix the URL",
            "AccessDenied": "access denied: check the keys' permissions on this bucket",
            "InvalidAccessKeyId": "the access key is not known to this endpoint; check AWS_ACCESS_KEY_ID",
            "SignatureDoesNotMatch": "the secret key does not match; check AWS_SECRET_ACCESS_KEY",
        }.get(code, f"S3 answered {code or 'an error'}")
    else:
        reason = f"cannot reach the endpoint ({type(error).__name__}); check AWS_ENDPOINT_URL"
    return StorageError(f"{location.url}: {doing} failed: {reason}")


class S3Storage:
    """A small boto3 wrapper with aframe-tune's errors.

    Args:
        endpoint_url: the S3 endpoint, or ``None`` for boto3's default (``AWS_ENDPOINT_URL``).
        max_attempts: tries per request before giving up.
    """

    def __init__(self, endpoint_url: str | None = None, max_attempts: int = 10) -> None:
        import boto3
        from botocore.config import Config

        # Retries with backoff ride out the transient 500/503s shared object stores give.
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            config=Config(
                retries={"max_attempts": max_attempts, "mode": "adaptive"},
                connect_timeout=10,
            ),
        )

    def exists(self, location: S3Location) -> bool:
        """Whether the object exists; errors other than "not found" are raised."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_object(Bucket=location.bucket, Key=location.key)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _translate(error, location, "checking") from None
        except BotoCoreError as error:
            raise _translate(error, location, "checking") from None

    def check_bucket(self, location: S3Location) -> None:
        """Fail early, with a clear reason, if the bucket cannot be used with these credentials."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=location.bucket)
        except (ClientError, BotoCoreError) as error:
            if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "404":
                error.response["Error"]["Code"] = "NoSuchBucket"
            raise _translate(error, S3Location(location.bucket), "opening the bucket") from None

    def read_text(self, location: S3Location) -> str:
        """The object's content, as UTF-8 text."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read().decode()
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, location, "reading") from None

    def write_text(self, text: str, location: S3Location) -> None:
        """Write ``text`` (UTF-8) as the object's content, replacing it."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=location.bucket, Key=location.key, Body=text.encode())
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, location, "writing") from None

    def upload(self, path: Path, location: S3Location) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.upload_file(str(path), location.bucket, location.key)
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, location, "uploading") from None
        logger.info("Uploaded %s to %s", path.name, location.url)

    def download_prefix(self, location: S3Location, destination: Path, skip: Callable[[str], bool]) -> int:
        """Copy every object under ``location`` whose key (relative to it) ``skip`` does not
        reject into ``destination``, keeping the layout; return how many were copied."""
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = f"{location.key}/" if location.key else ""
        copied = 0
        try:
            for page in self._pages_under(location):
                for item in page.get("Contents", []):
                    relative = item["Key"][len(prefix):]
                    if not relative or relative.endswith("/") or skip(relative):
                        continue
                    target = destination / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self._client.download_file(location.bucket, item["Key"], str(target))
                    copied += 1
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, location, "downloading") from None
        logger.info("Downloaded %d objects from %s", copied, location.url)
        return copied

    def _pages_under(self, location: S3Location) -> Iterable[dict[str, Any]]:
        """The listing of every object under ``location`` (a folder), a page at a time; the
        caller translates boto3's errors."""
        prefix = f"{location.key}/" if location.key else ""
        return self._client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix)

    def upload_folder(self, folder: Path, location: S3Location) -> int:
        """Upload every file under ``folder`` below ``location``, keeping the layout; how many."""
        files = sorted(path for path in folder.rglob("*") if path.is_file())
        for path in files:
            self.upload(path, location.child(path.relative_to(folder).as_posix()))
        return len(files)

    def delete_prefix(self, location: S3Location) -> int:
        """Delete every object under ``location`` (a folder); how many were deleted."""
        from botocore.exceptions import BotoCoreError, ClientError

        deleted = 0
        try:
            for page in self._pages_under(location):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self._client.delete_objects(Bucket=location.bucket, Delete={"Objects": keys, "Quiet": True})
                    deleted += len(keys)
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, location, "deleting") from None
        return deleted
