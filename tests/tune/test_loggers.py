"""The experiment trackers of a search, and the W&B key kept in a private netrc while it runs."""

from __future__ import annotations

import os
import stat

import pytest

from aframe_tune.tune.credentials import wandb_key_in_a_private_netrc
from aframe_tune.tune.loggers import SearchLoggers, wandb_settings


def test_no_trackers_unless_asked_for() -> None:
    assert SearchLoggers().callbacks() == []


def test_wandb_and_mlflow_callbacks(tmp_path) -> None:
    callbacks = SearchLoggers(wandb_project="aframe", mlflow_tracking_uri=f"sqlite:///{tmp_path}/m.db",
                              group="my-search").callbacks()
    assert [type(callback).__name__ for callback in callbacks] == ["WandbLoggerCallback", "MLflowLoggerCallback"]
    assert callbacks[0].project == "aframe" and callbacks[0].group == "my-search"
    assert callbacks[0].api_key is None  # the key travels in a file, not through the callback


def test_pods_get_wandb_settings_but_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert wandb_settings() == ()
    monkeypatch.setenv("WANDB_API_KEY", "secret-key")
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")
    assert wandb_settings() == (("WANDB_MODE", "offline"), ("WANDB_BASE_URL", "https://wandb.example.org"))


def test_the_wandb_key_waits_in_a_private_netrc_while_the_search_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "k3y-for-the-netrc-test")
    monkeypatch.setenv("NETRC", "/home/someone/.netrc")
    with wandb_key_in_a_private_netrc() as path:
        assert "WANDB_API_KEY" not in os.environ and os.environ["NETRC"] == str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == "machine api.wandb.ai\n  login user\n  password k3y-for-the-netrc-test\n"
    assert not path.exists()
    assert os.environ["WANDB_API_KEY"] == "k3y-for-the-netrc-test" and os.environ["NETRC"] == "/home/someone/.netrc"
