"""What run.sh shows at the default log level: the plan, a live view, the result and the next
commands, and nothing of luigi's, Ray's, Tune's or Lightning's own output (issue: a quiet, live
terminal view). The run happens as on a fresh machine: a new home directory, no font cache."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import clean_environment, run_sh_command

pytestmark = pytest.mark.e2e

# Lines that must not reach the user at the default level, by where they come from.
NOISE = {
    "luigi's scheduler and execution summary": re.compile(
        r"Informed scheduler|Worker\(salt=|Luigi Execution Summary|This progress looks|Done scheduling|Running Worker"),
    "deprecation warnings": re.compile(r"DeprecationWarning|deprecated", re.IGNORECASE),
    "matplotlib's font cache": re.compile(r"fontManager|matplotlib"),
    "Ray's TensorBoard banner": re.compile(r"driver_artifacts|To visualize your results|View detailed results"),
    "Lightning's tips": re.compile(r"Tip:|\U0001F4A1|litlogger|litmodels"),
    "Tune's tables and configuration boxes": re.compile(r"[╭│╰├]|started with configuration|Trial status:|completed after"),
    "the trials' own output": re.compile(r"\(trainable pid=|GPU available:|Seed set to|Checkpoint successfully"),
    "Ray's log lines": re.compile(r"\s(INFO|WARNING) \S+\.py:\d+ --|Started a local Ray instance|authentication token"),
}
LIVE_LINE = re.compile(r"^(\d+[smhd])[\dsmh]* \| \d+/3 trials done, \d+ running, \d+ pending")


def noise_in(lines: list[str]) -> dict[str, list[str]]:
    return {what: found for what, pattern in NOISE.items() if (found := [l for l in lines if pattern.search(l)])}


def test_the_default_output_is_the_plan_a_live_view_and_the_result(experiment, tmp_path: Path) -> None:
    directory = experiment(tune={"tune_config.num_samples": 3})
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "run.log"
    # output to a file, as under nohup or CI: the live view must be plain lines there
    with log.open("w") as sink:
        result = subprocess.run(run_sh_command(directory), stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path,
                                env=clean_environment(HOME=str(home), MPLCONFIGDIR=str(tmp_path / "mpl")),
                                timeout=600)
    output = log.read_text()
    assert result.returncode == 0, output[-5000:]
    lines = [line for line in output.splitlines() if line.strip()]
    assert noise_in(lines) == {}, output[-5000:]
    assert "\r" not in output and "\x1b" not in output

    run_dir = directory / "training"
    best = json.loads((run_dir / "best.json").read_text())
    assert re.fullmatch(rf"Tuning on this machine \(\d+ CPUs?\): 3 trials of 1 CPU each; results in {run_dir}", lines[0])
    live = [line for line in lines if LIVE_LINE.match(line)]
    assert live and live[-1].split(" | ")[1] == "3/3 trials done, 0 running, 0 pending", output
    assert f"best valid_auroc {best['value']:.4g}" in live[-1]
    assert f"model.learning_rate={best['hyperparameters']['model.learning_rate']:.4g}" in live[-1]
    summary = lines[lines.index(live[-1]) + 1:]
    assert summary[0].startswith("Search finished in ") and summary[0].endswith(": 3 trials.")
    assert summary[1] == f"Best trial {best['trial_id']}: valid_auroc = {best['value']:.4g} (at report {best['iteration']})"
    assert summary[2] == f"  model.learning_rate = {best['hyperparameters']['model.learning_rate']:.4g}"
    assert summary[3:] == [f"Best model: {run_dir}/best.pt (its summary: {run_dir}/best.json)", "Next:",
                           f"  aframe-tune report {run_dir}", f"  tensorboard --logdir {run_dir}/tune"]
    # nothing else: the plan, the live lines (one every 10 s at most while the trials change), the summary
    assert len(lines) == 1 + len(live) + len(summary), output


def test_log_level_info_brings_every_library_s_lines_back(experiment, tmp_path: Path) -> None:
    directory = experiment()
    result = subprocess.run([*run_sh_command(directory), "--log-level", "INFO"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=clean_environment(), timeout=600)
    assert result.returncode == 0, result.stdout[-5000:]
    found = noise_in(result.stdout.splitlines())
    for source in ("luigi's scheduler and execution summary", "Tune's tables and configuration boxes",
                   "the trials' own output", "Ray's log lines"):
        assert source in found, result.stdout[-5000:]
    # aframe-tune's own lines are there too
    assert f"Best model: {directory / 'training'}/best.pt" in result.stdout
