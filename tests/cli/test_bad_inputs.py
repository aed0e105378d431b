"""The bad-input corpus: every file under tests/bad_inputs/ is one mistake a researcher makes,
run through the real entry points (aframe-init, run.sh), with the error it must produce.

Each case must fail with its exit status and message, in a few lines, without a traceback and
before anything is created: no Ray started, no chart installed, nothing written to the run
directory or S3. The format of a case file is described in tests/bad_inputs/README.md.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import BIN, TINY_TRAIN, TINY_TUNE, aframe_init, clean_environment, edit_yaml
from tests.emulated_cluster import EmulatedCluster
from tests.s3_server import S3Server

pytestmark = pytest.mark.e2e
CORPUS = Path(__file__).resolve().parents[1] / "bad_inputs"
CASES = sorted(path for path in CORPUS.glob("*.yaml"))
FAKE_WANDB_KEY = "fake-wandb-key-Corpus5LeakCheck"


def load_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text())
    assert isinstance(case.get("error"), list) and case["error"], f"{path.name}: list the expected error lines"
    assert case.get("entry", "run.sh") in ("run.sh", "aframe-init"), path.name
    return case


def fill(text: Any, values: dict[str, str]) -> Any:
    if isinstance(text, str):
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text
    if isinstance(text, list):
        return [fill(item, values) for item in text]
    if isinstance(text, dict):
        return {key: fill(value, values) for key, value in text.items()}
    return text


def scaffold(directory: Path, case: dict[str, Any], bucket: str | None) -> None:
    args = ["offline", "--mode", "tune", "--directory", str(directory)]
    if bucket:
        args += ["--s3-bucket", f"s3://{bucket}/my-tune"]
    if case.get("trainable") == "command":
        args += ["--trainable", "command"]
    created = aframe_init(*args)
    assert created.returncode == 0, created.stderr
    if case.get("trainable") == "command":
        edit_yaml(directory / "tune.yaml", {"tune_config.num_samples": 2})
        return
    edit_yaml(directory / "tune.yaml", TINY_TUNE)
    edit_yaml(directory / "train.yaml", TINY_TRAIN)


def apply_edits(directory: Path, case: dict[str, Any], values: dict[str, str]) -> None:
    for name, changes in fill(case.get("yaml") or {}, values).items():
        edit_yaml(directory / name, changes)
    for name, replacements in fill(case.get("text") or {}, values).items():
        path = directory / name
        content = path.read_text()
        for old, new in replacements:
            assert old in content, f"{old!r} is not in {name}"
            content = content.replace(old, new, 1)
        path.write_text(content)
    for name in case.get("delete") or []:
        (directory / name).unlink()


ENTRY_POINT_PREFIXES = ("aframe-tune: ", "aframe-init: ")


def refusal_at_the_end(output: str) -> list[str]:
    """The refusal's lines, which must end the output: its first line names the entry point, and
    each problem of a list of several follows as a line of its own."""
    lines = [line for line in output.splitlines() if line.strip()]
    starts = [index for index, line in enumerate(lines) if any(prefix in line for prefix in ENTRY_POINT_PREFIXES)]
    assert starts, f"no refusal in:\n{output[-4000:]}"
    tail = lines[starts[-1]:]
    assert all(line.startswith("  - ") for line in tail[1:]), f"output goes on after the refusal:\n{output[-4000:]}"
    return tail


def case_environment(case: dict[str, Any], base: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    for name, value in fill(case.get("env") or {}, values).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


@pytest.mark.parametrize("case_path", CASES, ids=[path.stem for path in CASES])
def test_bad_input_is_refused_clearly_before_anything_starts(case_path: Path, tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    case = load_case(case_path)
    directory = tmp_path / "experiment"
    values = {"dir": str(directory)}
    env = clean_environment(WANDB_API_KEY=FAKE_WANDB_KEY)
    bucket: str | None = None
    s3: S3Server | None = None
    cluster: EmulatedCluster | None = None
    if case.get("remote"):
        s3, cluster = request.getfixturevalue("s3_server"), request.getfixturevalue("emulated_cluster")
        bucket = s3.create_bucket(case_path.stem.replace("_", "-")[:40])
        env.update(**s3.environment(), **cluster.environment())
        cluster.api.clear_request_log()
    values["bucket"] = bucket or "no-bucket"
    values["run_dir"] = f"s3://{bucket}/my-tune" if bucket else str(directory / "training")

    if case.get("entry") == "aframe-init":
        if case.get("existing"):
            scaffold(directory, case, bucket)
        command = [str(BIN / "aframe-init"), *fill(case["args"], values)]
    else:
        scaffold(directory, case, bucket)
        apply_edits(directory, case, values)
        command = ["bash", str(directory / "run.sh"), *fill(case.get("args") or [], values)]
    # one stream, as a terminal shows it, so that what comes last can be told
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            env=case_environment(case, env, values), timeout=240)
    output = result.stdout

    expected_exit = case.get("exit", 30 if case.get("entry", "run.sh") == "run.sh" else 1)
    assert result.returncode == expected_exit, output[-4000:]
    refusal = "\n".join(refusal_at_the_end(output))
    for line in fill(case["error"], values):
        assert line in refusal, f"expected {line!r} in the refusal at the end of:\n{output[-4000:]}"
    assert "Traceback" not in output
    # no secret in any message
    secrets = [FAKE_WANDB_KEY, *([s3.access_key_id, s3.secret_access_key] if s3 else [])]
    assert not [secret for secret in secrets if secret in output]
    # refused before anything was created: run.sh says what it does once everything is checked
    assert "Tuning on " not in output and "Deploying Ray cluster" not in output
    assert not (directory / "training").exists()
    if s3 is not None and cluster is not None and bucket is not None:
        assert s3.keys(bucket) == []
        assert [r for r in cluster.api.request_log if r.method not in ("GET",)] == []
