"""run.sh's entry point: a tune.cfg law cannot read is one line and an exit code, not a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from aframe_tune.cli.run import law_arguments
from tests.conftest import aframe_init, clean_environment, run_experiment, run_sh_command


def test_run_sh_with_a_repeated_option_says_where_and_starts_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    assert aframe_init("offline", "--mode", "tune", "--directory", str(directory)).returncode == 0
    cfg = directory / "tune.cfg"
    cfg.write_text(cfg.read_text().replace("[luigi_ray_worker]\n", "[luigi_ray_worker]\nreplicas = 1\nreplicas = 2\n"))
    line = cfg.read_text().splitlines().index("replicas = 2") + 1

    result = subprocess.run(run_sh_command(directory), capture_output=True, text=True, cwd=tmp_path,
                            env=clean_environment(), timeout=120)
    assert result.returncode == 30
    assert result.stderr.strip() == (f"aframe-tune: {cfg} line {line}: option 'replicas' appears twice "
                                     "in section [luigi_ray_worker]; keep one of them")
    assert result.stdout == ""
    assert not (directory / "training").exists()


def test_debug_adds_the_traceback_to_an_error(experiment) -> None:
    directory = experiment(tune={"tune_config.mode": "maximum"})
    plain = run_experiment(directory, timeout=120)
    debug = run_experiment(directory, "--debug", timeout=120)
    message = "tune_config.mode is 'maximum'; it must be min or max"
    for result in (plain, debug):
        assert result.returncode == 30
        assert message in result.stdout + result.stderr
    assert "Traceback" not in plain.stdout + plain.stderr
    assert "Traceback" in debug.stdout + debug.stderr


def test_debug_is_law_s_debug_log_level() -> None:
    assert law_arguments(["--debug", "--workers", "1"]) == ["--workers", "1", "--log-level", "DEBUG"]
    assert law_arguments(["--log-level", "INFO"]) == ["--log-level", "INFO"]


def test_without_a_level_here_or_in_tune_cfg_the_level_is_warning(tmp_path: Path) -> None:
    assert law_arguments(["--workers", "1"]) == ["--workers", "1", "--log-level", "WARNING"]
    assert law_arguments(["--log-level=DEBUG"]) == ["--log-level=DEBUG"]
    cfg = tmp_path / "tune.cfg"
    cfg.write_text("[luigi_core]\nlog_level = INFO\n")
    assert law_arguments([], cfg) == []  # tune.cfg's level stands
    cfg.write_text("[luigi_core]\nlocal_scheduler = true\n")
    assert law_arguments([], cfg) == ["--log-level", "WARNING"]
