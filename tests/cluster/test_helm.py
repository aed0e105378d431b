"""helm is checked before anything is created: present, and helm 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from aframe_tune.cluster.helm import check_helm
from aframe_tune.errors import ConfigError
from tests.cluster.chart import needs_helm


def fake_helm(tmp_path: Path, version: str) -> Path:
    script = tmp_path / "helm"
    script.write_text(f"#!/bin/sh\necho {version}\n")
    script.chmod(0o755)
    return script


@needs_helm
def test_the_installed_helm_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELM_BIN", raising=False)
    check_helm()


def test_a_missing_helm_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HELM_BIN", str(tmp_path / "helm"))
    with pytest.raises(ConfigError, match=r"helm is not installed \(.*/helm is not on the PATH\): a remote run deploys "
                                          r"its Ray cluster with helm 3; install it \(https://helm.sh/docs/intro/install/\)"):
        check_helm()


def test_helm_2_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HELM_BIN", str(fake_helm(tmp_path, "v2.17.0")))
    with pytest.raises(ConfigError, match=r"is helm v2.17.0, and aframe-tune needs helm 3"):
        check_helm()
    monkeypatch.setenv("HELM_BIN", str(fake_helm(tmp_path, "v3.16.2")))
    check_helm()
