"""A training command (tune.yaml ``trainable: command``) tuned on the emulated cluster, into S3.

The search runs in the cluster as a model's does (tests/tasks/test_tune_remote.py covers both
backends' deploy and removal); what differs for a command is checked here: its script travels
with ``ship_code``, its trial folders and checkpoints go to S3, and its result is ``best.json``
and ``best/``.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_experiment
from tests.emulated_cluster import EmulatedCluster
from tests.s3_server import S3Server
from tests.tasks.test_tune_remote import remote_env, remote_experiment

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


def test_the_example_command_tunes_on_the_cluster_with_its_trials_and_checkpoints_in_s3(
    tmp_path, s3_server: S3Server, emulated_cluster: EmulatedCluster
) -> None:
    bucket = s3_server.create_bucket("remote-command")
    directory = remote_experiment(tmp_path, bucket, epochs=2, command=True)
    env = remote_env(emulated_cluster, s3_server)
    config_maps: list[dict] = []  # the experiment's files travel in one
    emulated_cluster.api.subscribe(lambda event: config_maps.append(event.object.get("data") or {}), "configmaps")
    result = run_experiment(directory, env=env, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    run_dir = f"s3://{bucket}/my-tune"
    assert f"Its checkpoint: {run_dir}/best/ (its summary: {run_dir}/best.json)" in result.stdout
    assert result.stderr.strip() == ""  # nothing went wrong, and no library spoke at the default level

    keys = s3_server.keys(bucket, "my-tune/")
    assert "my-tune/best.json" in keys and "my-tune/best/state.pt" in keys and "my-tune/best.pt" not in keys
    best = json.loads(s3_server.client().get_object(Bucket=bucket, Key="my-tune/best.json")["Body"].read())
    assert best["metric"] == "valid/accuracy" and set(best["hyperparameters"]) == {"lr", "hidden"}
    assert best["iteration"] in (1, 2) and best["checkpoint"]
    # each trial's folder, as on this machine: the command's output, its event files and its
    # checkpoints (what train.py saved in {checkpoint_dir}), in the run directory
    trials = {match.group(1) for key in keys if (match := re.match(r"my-tune/tune/([^/]+)/output\.log$", key))}
    assert len(trials) == 2, keys
    for trial in trials:
        assert any(re.match(rf"my-tune/tune/{re.escape(trial)}/events\.out\.tfevents\.", key) for key in keys), keys
        assert f"my-tune/tune/{trial}/checkpoint_000001/state.pt" in keys, keys
    # train.py ran from the copy ship_code sent, in the workers' runtime environment
    assert any(key.startswith("my-tune/code/") for key in keys)
    emulated_cluster.api.flush()
    experiments = [data for data in config_maps if "tune.yaml" in data]
    assert experiments and not [data for data in experiments if "train.yaml" in data]  # a command has none
    assert emulated_cluster.release_objects() == []
    assert emulated_cluster.policy.denied == []

    again = run_experiment(directory, env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Nothing to do: the search in {run_dir} finished earlier." in again.stdout
    assert f"Its checkpoint: {run_dir}/best/ (its summary: {run_dir}/best.json)" in again.stdout
