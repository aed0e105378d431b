"""Rendering charts/ray-cluster with the real helm binary, values on stdin as pyhelm3 sends them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "ray-cluster"
HELM = shutil.which("helm")
needs_helm = pytest.mark.skipif(HELM is None, reason="helm not installed: run tests/support/install-helm.sh")


def helm(*args: str, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELM, *args, "--values", "-"], input=json.dumps(values), capture_output=True, text=True, timeout=60
    )


def render(values: dict[str, Any], release: str = "tune-abc") -> dict[tuple[str, str], dict]:
    result = helm("template", release, str(CHART), "--namespace", "ligo", values=values)
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}
