"""What run.sh says while it follows a search in the cluster that has not reported trials yet."""

from __future__ import annotations

from aframe_tune.cluster.search_object import SearchObjectRef
from aframe_tune.cluster.target import KubeTarget
from aframe_tune.tasks.search_follower import FollowedSearch, status_line
from aframe_tune.tune.s3 import S3Location
from aframe_tune.tune.search_status import SearchState, SearchStatus

SEARCH = FollowedSearch(KubeTarget("default"), SearchObjectRef("tune-abc"), S3Location.parse("s3://bucket/run"), None)


def status(state: SearchState, message: str = "") -> SearchStatus:
    return SearchStatus(state, "tune-abc", 0.0, 0.0, None, message)


def test_each_step_before_the_first_result_has_its_own_line_and_none_comes_back() -> None:
    lines = [status_line(SEARCH, None),
             status_line(SEARCH, status(SearchState.STARTING, "checking the experiment")),
             status_line(SEARCH, status(SearchState.RUNNING))]
    assert lines == ["Ray cluster tune-abc: waiting for the search to start",
                     "Ray cluster tune-abc: checking the experiment",
                     "Ray cluster tune-abc: the search is running; waiting for its trials' first results"]
