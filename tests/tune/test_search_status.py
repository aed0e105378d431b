"""The status a search in the cluster records in S3, and the settings it is given."""

from __future__ import annotations

import pytest

from aframe_tune.errors import ConfigError
from aframe_tune.tune.cluster_settings import ClusterSearchSettings
from aframe_tune.tune.loggers import SearchLoggers
from aframe_tune.tune.progress import SearchProgress
from aframe_tune.tune.search_status import SearchState, SearchStatus


def test_a_status_survives_its_json_and_says_when_it_ended() -> None:
    progress = SearchProgress("valid_auroc", 8, 2, 3, 1, 0.91, (("model.learning_rate", 0.003),), 65.0)
    status = SearchStatus(SearchState.RUNNING, "aframe-tune-1a2b3c", 100.0, 160.0, progress)
    assert SearchStatus.from_json(status.to_json()) == status
    assert not status.state.ended
    ended = status.moved_on(SearchState.SUCCEEDED)
    assert ended.state.ended and ended.progress == progress and ended.updated_at > status.updated_at
    assert ended.elapsed_s == pytest.approx(ended.updated_at - 100.0)
    assert SearchStatus.from_json(SearchStatus(SearchState.STARTING, "r", 1.0, 1.0).to_json()).progress is None


@pytest.mark.parametrize("text", ["", "{}", '{"state": "dancing", "release": "r", "started_at": 1, "updated_at": 1}',
                                  "[1, 2]"])
def test_anything_else_is_not_a_status(text: str) -> None:
    with pytest.raises(ValueError, match="not a search status"):
        SearchStatus.from_json(text)


def test_the_settings_survive_their_json_and_a_bad_file_is_named() -> None:
    settings = ClusterSearchSettings("s3://b/run", "aframe-tune-1a2b3c", ("--tune_config.reuse_actors=false",),
                                     ("--data.ifos=[H1]",), SearchLoggers(wandb_project="aframe", group="g"),
                                     "s3://b/run/code/abc.zip")
    assert ClusterSearchSettings.from_json(settings.to_json(), "search.json") == settings
    with pytest.raises(ConfigError, match="/etc/x/search.json is not a search's settings"):
        ClusterSearchSettings.from_json('{"release": "r"}', "/etc/x/search.json")
