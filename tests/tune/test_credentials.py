"""AWS keys moved from the environment into a private credentials file, read back by boto3."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import boto3
import pytest

from aframe_tune.tune.credentials import aws_keys_in_a_private_file

KEYS = {"AWS_ACCESS_KEY_ID": "AKIAUNITTEST", "AWS_SECRET_ACCESS_KEY": "unit-secret", "AWS_SESSION_TOKEN": "tok"}
READ_KEYS = "import boto3; c = boto3.Session().get_credentials(); print(c.access_key, c.secret_key, c.token)"


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def test_keys_leave_the_environment_and_child_processes_still_find_them(aws_environment: None) -> None:
    with aws_keys_in_a_private_file() as path:
        assert path is not None
        assert not set(KEYS) & set(os.environ)
        assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        # a process started now (Ray's raylet, then its trial workers) resolves the same keys
        child = subprocess.run([sys.executable, "-c", READ_KEYS], capture_output=True, text=True, check=True)
        assert child.stdout.split() == ["AKIAUNITTEST", "unit-secret", "tok"]
    assert {name: os.environ[name] for name in KEYS} == KEYS
    assert "AWS_SHARED_CREDENTIALS_FILE" not in os.environ
    assert not path.exists() and not path.parent.exists()


def test_the_active_profile_gets_the_keys(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "ligo")
    with aws_keys_in_a_private_file():
        credentials = boto3.Session().get_credentials()
        assert (credentials.access_key, credentials.secret_key) == ("AKIAUNITTEST", "unit-secret")
    assert os.environ["AWS_PROFILE"] == "ligo"


def test_without_keys_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*KEYS, "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/home/someone/.aws/credentials")
    before = dict(os.environ)
    with aws_keys_in_a_private_file() as path:
        assert path is None
        assert dict(os.environ) == before


def test_an_error_in_the_block_still_restores_and_deletes(aws_environment: None,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/home/someone/.aws/credentials")
    with pytest.raises(RuntimeError), aws_keys_in_a_private_file() as path:
        raise RuntimeError("trial failed")
    assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == "/home/someone/.aws/credentials"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAUNITTEST"
    assert not path.exists()
