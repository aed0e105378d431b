"""Several running Ray clusters for one dispatch: jobs.yaml's clusters: and --clusters-file (Isaac
Lab's ~/.cluster_config), checked before anything starts. No Ray here: the end-to-end test is in
test_dispatch.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aframe_tune.dispatch.clusters_file import parse_clusters_text, read_clusters_file
from aframe_tune.dispatch.jobs import ClusterEntry, load_jobs
from aframe_tune.errors import ConfigError, InvalidInputsError


def write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": [{"name": "a", "command": ["true"]}], **content}))
    return path


def problems_of(raised: pytest.ExceptionInfo) -> list[str]:
    return [str(problem) for problem in raised.value.problems]


def test_the_clusters_key_lists_running_clusters_by_name_and_address(tmp_path: Path) -> None:
    plan = load_jobs(write(tmp_path, {"clusters": [{"name": "gpus", "address": "http://10.0.0.1:8265"},
                                                   {"name": "cpus", "address": "10.0.0.2:6379"},
                                                   {"name": "far", "address": "ray://head.example:10001"}]}))
    assert plan.clusters == (ClusterEntry("gpus", "http://10.0.0.1:8265"), ClusterEntry("cpus", "10.0.0.2:6379"),
                             ClusterEntry("far", "ray://head.example:10001"))
    assert plan.ray_address is None and plan.cluster is None
    assert load_jobs(write(tmp_path, {})).clusters == ()


def test_every_mistake_in_clusters_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, {"ray_address": "http://10.0.0.9:8265", "clusters": [
        "http://10.0.0.1:8265",
        {"name": "deployed", "cluster": {}},
        {"name": "typo", "adress": "http://10.0.0.1:8265"},
        {"name": "two words", "address": "htp://10.0.0.1:8265"},
        {"name": "twice", "address": "http://10.0.0.1:8265"},
        {"name": "twice", "address": "http://10.0.0.2:8265"},
    ]})
    with pytest.raises(InvalidInputsError) as raised:
        load_jobs(path)
    assert problems_of(raised) == [
        f"{path}: clusters[0] must be a mapping {{name: NAME, address: http://HOST:8265}}",
        f"{path}: clusters[1].cluster: a cluster to deploy cannot be one of several clusters; give the address of a "
        "running one, or deploy one for all the jobs with the top-level cluster: instead of clusters:",
        f"{path}: clusters[2] has unknown keys adress; did you mean address? (a cluster takes name and address)",
        f"{path}: clusters[3]: name 'two words' must be 1-63 letters, digits, '.', '_' or '-'",
        f"{path}: clusters[3]: address 'htp://10.0.0.1:8265' must be a Ray cluster's address, such as "
        "http://HOST:8265 (Ray's Jobs API), ray://HOST:10001 or HOST:6379",
        f"{path}: cluster name 'twice' is used more than once; names must be unique",
        f"{path}: clusters and ray_address are both set; give clusters to spread the jobs over several running Ray "
        "clusters, or ray_address alone",
    ]


def test_clusters_and_a_deployed_cluster_exclude_each_other(tmp_path: Path) -> None:
    path = write(tmp_path, {"cluster": {}, "clusters": [{"name": "a", "address": "http://10.0.0.1:8265"}]})
    with pytest.raises(InvalidInputsError) as raised:
        load_jobs(path)
    assert problems_of(raised) == [f"{path}: clusters and cluster are both set; give clusters to spread the jobs over "
                                   "several running Ray clusters, or cluster alone"]


def test_an_empty_clusters_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"clusters must be a list of one or more clusters"):
        load_jobs(write(tmp_path, {"clusters": []}))


def test_a_clusters_file_in_isaac_lab_s_format(tmp_path: Path) -> None:
    path = tmp_path / "cluster_config"
    path.write_text("# made by grok_cluster_with_kubectl.py\n\nname: isaac-a address: http://10.0.0.1:8265\n"
                    "  name:isaac-b   address: 10.0.0.2:6379  \n")
    assert read_clusters_file(path) == (ClusterEntry("isaac-a", "http://10.0.0.1:8265"),
                                        ClusterEntry("isaac-b", "10.0.0.2:6379"))


def test_every_malformed_line_of_a_clusters_file_is_reported_with_its_number() -> None:
    path = Path("/home/albert/.cluster_config")
    text = ("name: a address: http://10.0.0.1:8265\n"
            "a http://10.0.0.2:8265\n"
            "# a comment\n"
            "name: b address: http://10.0.0.2:8265 num_gpu: 1\n"
            "name: c address: 10.0.0.3\n"
            "name: a address: http://10.0.0.4:8265\n")
    with pytest.raises(InvalidInputsError) as raised:
        parse_clusters_text(text, path)
    expected_form = "write one cluster a line as 'name: NAME address: http://HOST:PORT'"
    assert problems_of(raised) == [
        f"{path}, line 2: 'a http://10.0.0.2:8265' is not a cluster; {expected_form}",
        f"{path}, line 4: 'name: b address: http://10.0.0.2:8265 num_gpu: 1' is not a cluster; {expected_form}",
        f"{path}, line 5: address '10.0.0.3' must be a Ray cluster's address, such as http://HOST:8265 (Ray's Jobs "
        "API), ray://HOST:10001 or HOST:6379",
        f"{path}: cluster name 'a' is used more than once; names must be unique",
    ]


def test_a_clusters_file_that_lists_none_or_is_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(ConfigError, match=r"empty lists no cluster; write one cluster a line as 'name: NAME address"):
        read_clusters_file(empty)
    with pytest.raises(ConfigError, match=r"--clusters-file .*missing: cannot be read \(FileNotFoundError"):
        read_clusters_file(tmp_path / "missing")


def test_the_command_line_s_clusters_replace_jobs_yaml_s_and_exclude_a_ray_address(tmp_path: Path) -> None:
    from_file = (ClusterEntry("x", "http://10.0.0.5:8265"),)
    listed = load_jobs(write(tmp_path, {"clusters": [{"name": "a", "address": "http://10.0.0.1:8265"}]}))
    assert listed.overridden(clusters=from_file).clusters == from_file
    with pytest.raises(ConfigError, match=r"spread over several clusters .* so a Ray address cannot be given too"):
        listed.overridden(ray_address="ray://10.0.0.9:10001")
    with pytest.raises(ConfigError, match=r"so a Ray address cannot be given too; leave out --ray-address"):
        load_jobs(write(tmp_path, {})).overridden(ray_address="10.0.0.9:6379", clusters=from_file)
    addressed = load_jobs(write(tmp_path, {"ray_address": "10.0.0.9:6379"}))
    with pytest.raises(ConfigError, match=r"sets ray_address, so --clusters-file cannot be given too"):
        addressed.overridden(clusters=from_file)
    deployed = load_jobs(write(tmp_path, {"cluster": {}}))
    with pytest.raises(ConfigError, match=r"sets cluster, so --clusters-file cannot be given too"):
        deployed.overridden(clusters=from_file)
