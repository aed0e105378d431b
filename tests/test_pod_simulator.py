"""The pod simulator's Job controller, on its own: parallelism, lost pods replaced and counted,
backoffLimit, and scaling down."""

from __future__ import annotations

import pytest

from tests.k8s.emulator import KubernetesEmulator
from tests.pod_simulator import PodSimulator

pytestmark = pytest.mark.cluster


def job(parallelism: int, backoff_limit: int) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "workers"},
            "spec": {"parallelism": parallelism, "backoffLimit": backoff_limit, "template": {
                "metadata": {"labels": {"app.kubernetes.io/component": "worker"}},
                "spec": {"restartPolicy": "OnFailure",
                         "containers": [{"name": "w", "image": "busybox", "command": ["sleep", "300"]}]}}}}


def pods_of(api: KubernetesEmulator) -> list[str]:
    return sorted(p["metadata"]["name"] for p in api.list("pods", "default")
                  if not p["metadata"].get("deletionTimestamp"))


def test_a_job_keeps_its_parallelism_replaces_lost_pods_and_fails_past_its_backoff_limit() -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        api.create("jobs", "default", job(parallelism=2, backoff_limit=1))
        first = api.wait_for(lambda: len(pods_of(api)) == 2 and pods_of(api))
        api.delete("pods", "default", first[0])  # a node lost
        api.wait_for(lambda: len(pods_of(api)) == 2 and first[0] not in pods_of(api))
        assert api.wait_for(lambda: (api.get("jobs", "default", "workers").get("status") or {}).get("failed") == 1)

        api.patch("jobs", "default", "workers", {"spec": {"parallelism": 1}}, "application/merge-patch+json")
        api.wait_for(lambda: len(pods_of(api)) == 1)  # scaled down: not a failure
        api.flush()
        assert api.get("jobs", "default", "workers")["status"]["failed"] == 1

        api.delete("pods", "default", pods_of(api)[0])  # the second loss is one too many
        failed = api.wait_for(lambda: [c for c in (api.get("jobs", "default", "workers").get("status") or {})
                                       .get("conditions") or [] if c["type"] == "Failed"])
        assert failed[0]["reason"] == "BackoffLimitExceeded"
        api.wait_for(lambda: pods_of(api) == [])
