"""When an idle worker of a search gives itself back (backend chart): read from Ray's cluster
status as ``ray status`` shows it. The release itself, on the emulated cluster, is in
tests/tasks/test_idle_workers.py."""

from __future__ import annotations

from ray.autoscaler.v2.schema import (
    ClusterStatus,
    NodeInfo,
    NodeUsage,
    PlacementGroupResourceDemand,
    ResourceDemandSummary,
    ResourceUsage,
)

from aframe_tune.cluster.idle_worker import IdleWatch, look_interval, read_view


def node(pod: str, cpu_used: float, idle_ms: int, head: bool = False) -> NodeInfo:
    usage = [ResourceUsage("CPU", 2.0, cpu_used), ResourceUsage("memory", 1e9, 0.0),
             ResourceUsage("node:127.0.0.9", 1.0, 0.0)]
    if head:
        usage.append(ResourceUsage("node:__internal_head__", 1.0, 0.0))
    return NodeInfo(instance_type_name="", ray_node_type_name="", instance_id=pod, ip_address="127.0.0.9",
                    node_status="RUNNING" if cpu_used else "IDLE", node_id=f"id-{pod}",
                    resource_usage=NodeUsage(usage=usage, idle_time_ms=idle_ms))


def cluster(*nodes: NodeInfo, waiting: bool = False) -> ClusterStatus:
    demand = [PlacementGroupResourceDemand(bundles_by_count=[], details="a trial")] if waiting else []
    return ClusterStatus(active_nodes=[n for n in nodes if n.node_status == "RUNNING"],
                         idle_nodes=[n for n in nodes if n.node_status == "IDLE"],
                         resource_demands=ResourceDemandSummary(placement_group_demand=demand))


HEAD = node("head", 0.0, 90_000, head=True)


def test_a_worker_goes_once_a_trial_ran_somewhere_and_it_was_idle_long_enough_with_nothing_waiting() -> None:
    watch = IdleWatch(idle_timeout_s=30)
    # the cluster starting: every worker idle, no trial yet; it must not go
    assert not watch.may_go(read_view(cluster(HEAD, node("w1", 0, 60_000), node("w2", 0, 60_000)), "w1"))
    # a trial on w2: w1, idle long enough, may go
    view = read_view(cluster(HEAD, node("w1", 0, 31_000), node("w2", 1.0, 0)), "w1")
    assert view.node_id == "id-w1" and view.idle_s == 31 and view.work_seen and view.workers == 2
    assert watch.may_go(view)
    # ...and once the trial is gone, the watch still remembers that the search started
    assert watch.may_go(read_view(cluster(HEAD, node("w1", 0, 31_000), node("w2", 0, 1_000)), "w1"))


def test_a_worker_stays_while_busy_not_idle_long_enough_a_trial_waits_or_at_the_minimum() -> None:
    busy = cluster(HEAD, node("w1", 1.0, 0), node("w2", 1.0, 0))
    assert not IdleWatch(30).may_go(read_view(busy, "w1"))
    recent = cluster(HEAD, node("w1", 0, 29_000), node("w2", 1.0, 0))
    assert not IdleWatch(30).may_go(read_view(recent, "w1"))
    waiting = cluster(HEAD, node("w1", 0, 31_000), node("w2", 1.0, 0), waiting=True)
    assert not IdleWatch(30).may_go(read_view(waiting, "w1"))
    assert not IdleWatch(30, min_workers=2).may_go(read_view(cluster(HEAD, node("w1", 0, 31_000),
                                                                      node("w2", 1.0, 0)), "w1"))
    unknown = read_view(cluster(HEAD, node("w2", 1.0, 0)), "w1")  # not joined yet
    assert unknown.node_id is None and not IdleWatch(0).may_go(unknown)


def test_a_worker_looks_four_times_per_idle_timeout_but_at_most_once_a_second_and_at_least_every_5_s() -> None:
    assert look_interval(8) == 2
    assert look_interval(2) == 1
    assert look_interval(600) == 5
