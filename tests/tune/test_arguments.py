"""The lightray command line aframe-tune builds."""

from __future__ import annotations

from pathlib import Path

from aframe_tune.tune.arguments import LightrayArguments


def test_tune_yaml_then_its_overrides_then_train_yaml() -> None:
    argv = LightrayArguments(
        tune_config=Path("/e/tune.yaml"),
        train_config=Path("/e/train.yaml"),
        storage_path="/e/training",
        train_overrides=("--data.ifos=[H1,L1]",),
    ).to_argv()
    assert argv == [
        "--config", "/e/tune.yaml",
        "--run_config.storage_path=/e/training",
        "--", "--config", "/e/train.yaml", "--data.ifos=[H1,L1]",
    ]


def test_overrides_follow_the_config() -> None:
    argv = LightrayArguments(
        tune_config=Path("tune.yaml"),
        train_config=Path("train.yaml"),
        storage_path="s3://bucket/run",
        tune_overrides=("--tune_config.num_samples=2",),
    ).to_argv()
    separator = argv.index("--")
    assert "--run_config.storage_path=s3://bucket/run" in argv[:separator]
    # later arguments win in jsonargparse, so overrides must come after --config
    assert argv.index("--tune_config.num_samples=2") > argv.index("--config")
    assert argv[separator + 1:] == ["--config", "train.yaml"]


def test_a_local_search_keeps_aframe_tunes_stop_handlers() -> None:
    local = LightrayArguments(Path("tune.yaml"), Path("train.yaml"), "/e/training", keep_stop_handlers=True)
    remote = LightrayArguments(Path("tune.yaml"), Path("train.yaml"), "s3://bucket/run")
    assert "--run_config.callbacks+=aframe_tune.tune.stop.ReinstallStopHandlers" in local.to_argv()
    assert not any("stop" in argument for argument in remote.to_argv())
