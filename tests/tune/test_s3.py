"""S3 storage against a real S3 protocol server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from aframe_tune.errors import ConfigError
from aframe_tune.tune.s3 import S3Location, S3Storage, StorageError
from tests.s3_server import S3Server


@pytest.fixture
def storage(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Storage:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return S3Storage(s3_server.endpoint_url)


def test_parse_and_child() -> None:
    location = S3Location.parse("s3://bucket/runs/first/")
    assert location == S3Location("bucket", "runs/first")
    assert location.child("best.pt").url == "s3://bucket/runs/first/best.pt"
    assert S3Location.parse("s3://bucket").child("x").key == "x"
    with pytest.raises(ConfigError, match="names no bucket"):
        S3Location.parse("s3:///prefix")


def test_upload_then_exists(storage: S3Storage, s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket("upload-then-exists")
    target = S3Location(bucket, "run/best.json")
    assert not storage.exists(target)
    (tmp_path / "best.json").write_text("{}")
    storage.upload(tmp_path / "best.json", target)
    assert storage.exists(target)
    assert s3_server.keys(bucket) == ["run/best.json"]


def test_missing_bucket_is_a_clear_error(storage: S3Storage) -> None:
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' does not exist"):
        storage.check_bucket(S3Location("no-such-bucket", "run"))


def test_unreachable_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.s3_server import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    storage = S3Storage(f"http://127.0.0.1:{free_port()}", max_attempts=1)
    with pytest.raises(StorageError, match="cannot reach the endpoint .*check AWS_ENDPOINT_URL"):
        storage.exists(S3Location("bucket", "key"))


def test_a_folder_is_uploaded_with_its_layout_and_a_prefix_deleted_whole(
    storage: S3Storage, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.create_bucket("folders")
    folder = tmp_path / "best"
    (folder / "nested").mkdir(parents=True)
    (folder / "state.pt").write_bytes(b"state")
    (folder / "nested" / "more.txt").write_text("more")
    run_dir = S3Location(bucket, "run")
    storage.write_text("keep", run_dir.child("best.json"))
    storage.write_text("keep", run_dir.child("best-other/x"))  # shares the prefix "best", not the folder

    assert storage.upload_folder(folder, run_dir.child("best")) == 2
    assert s3_server.keys(bucket, "run/") == ["run/best-other/x", "run/best.json", "run/best/nested/more.txt",
                                               "run/best/state.pt"]
    assert storage.read_text(run_dir.child("best/nested/more.txt")) == "more"

    assert storage.delete_prefix(run_dir.child("best")) == 2
    assert s3_server.keys(bucket, "run/") == ["run/best-other/x", "run/best.json"]
    assert storage.delete_prefix(run_dir.child("best")) == 0
