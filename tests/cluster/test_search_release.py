"""A release that runs its search in the cluster: what the chart renders for it, and the plan by
which its search Job removes it, which the Job's Role must allow, object by object."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from aframe_tune.cluster.release_removal import (KIND_NAMES, OWNED_BY_THE_JOB, helm_record_name, release_objects,
                                                 removal_plan, search_job_name)
from tests.cluster.chart import needs_helm, render
from tests.cluster.test_chart import GIT, VALID, merged
from tests.k8s.policy import PlatformPolicy

pytestmark = needs_helm

RELEASE = "tune-abc"
SEARCH = {"search": {"enabled": True, "experiment": {"tune.yaml": "tune_config: {}\n", "train.yaml": "model: {}\n",
                                                     "search.json": "{}"},
                     "lockName": "aframe-tune-lock-0123456789abcdef0123"},
          "clientService": {"enabled": False}}
BACKENDS = [merged(VALID, SEARCH), merged(VALID, SEARCH, GIT), merged(VALID, SEARCH, {"backend": "kuberay"})]
IDS = ["chart", "chart-git-sync", "kuberay"]
GROUPS = {"RayCluster": "ray.io", "Job": "batch", "Role": "rbac.authorization.k8s.io",
          "RoleBinding": "rbac.authorization.k8s.io"}


def helm_record(objects: dict[tuple[str, str], dict]) -> dict[str, Any]:
    """helm's Secret of the release as helm 3 writes it: JSON, gzipped, base64, in ``release``."""
    manifest = "\n---\n".join(json.dumps(obj) for obj in objects.values())
    packed = base64.b64encode(gzip.compress(json.dumps({"name": RELEASE, "manifest": manifest}).encode()))
    return {"data": {"release": base64.b64encode(packed).decode()}}


def allowed(role: dict, kind: str, name: str, verb: str) -> bool:
    group = GROUPS.get(kind, "")
    return any(group in rule["apiGroups"] and KIND_NAMES[kind] in rule["resources"] and verb in rule["verbs"]
               and name in rule.get("resourceNames", [name]) for rule in role["rules"])


@pytest.mark.parametrize("values", BACKENDS, ids=IDS)
def test_the_search_job_s_role_allows_exactly_the_removal_of_its_own_release(values: dict[str, Any]) -> None:
    objects = render(values, RELEASE)
    role = objects[("Role", f"{RELEASE}-search")]
    plan = removal_plan(release_objects(helm_record(objects)), RELEASE)
    assert {kind for kind, _ in plan} >= {"Secret", "ConfigMap"}
    assert ("Job", search_job_name(RELEASE)) not in plan  # deleted last, by itself
    for kind, name in [*plan, ("Secret", helm_record_name(RELEASE)), ("Job", search_job_name(RELEASE))]:
        # kr8s reads an object by a list with its name before it deletes it
        for verb in ("get", "list", "delete"):
            assert allowed(role, kind, name, verb), f"{verb} {kind}/{name}"
    for kind in OWNED_BY_THE_JOB:
        assert allowed(role, kind, f"{RELEASE}-search", "patch")
    # the run lock, if run.sh did not hand it over
    assert allowed(role, "ConfigMap", "aframe-tune-lock-0123456789abcdef0123", "delete")
    # nothing beyond its own release: every rule names its objects
    assert all(rule.get("resourceNames") for rule in role["rules"])
    assert not allowed(role, "Secret", "another-release-credentials", "delete")
    assert (objects[("RoleBinding", f"{RELEASE}-search")]["subjects"]
            == [{"kind": "ServiceAccount", "name": f"{RELEASE}-search", "namespace": "ligo"}])


@pytest.mark.parametrize("values", BACKENDS, ids=IDS)
def test_a_search_release_has_no_outside_service_and_follows_the_platform_s_rules(values: dict[str, Any]) -> None:
    objects = render(values, RELEASE)
    assert ("Service", f"{RELEASE}-client") not in objects
    assert not [obj for (kind, _), obj in objects.items()
                if kind == "Service" and obj["spec"].get("type") in ("LoadBalancer", "NodePort")]
    policy = PlatformPolicy()
    for (kind, name), obj in objects.items():
        assert policy.problems(kind, obj) == [], f"{kind}/{name}"
    job = objects[("Job", search_job_name(RELEASE))]["spec"]["template"]["spec"]
    assert job["serviceAccountName"] == f"{RELEASE}-search" and job["restartPolicy"] == "Never"
    env = {entry["name"]: entry for entry in job["containers"][0]["env"]}
    head_service = f"{RELEASE}-head-svc" if values.get("backend") == "kuberay" else f"{RELEASE}-head"
    assert env["AFRAME_TUNE_DASHBOARD"]["value"] == f"http://{head_service}:8265"
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-ray-auth"
    experiment = objects[("ConfigMap", f"{RELEASE}-experiment")]["data"]
    assert set(experiment) == {"tune.yaml", "train.yaml", "search.json"}


def test_the_removal_plan_takes_workloads_first_and_leaves_the_job_s_own_permission() -> None:
    objects = [("Secret", "r-credentials"), ("ServiceAccount", "r-search"), ("Service", "r-head"), ("Job", "r-search"),
               ("Job", "r-worker"), ("RayCluster", "r"), ("ConfigMap", "r-experiment"), ("Role", "r-search"),
               ("RoleBinding", "r-search")]
    assert removal_plan(objects, "r") == [("RayCluster", "r"), ("Job", "r-worker"), ("Service", "r-head"),
                                          ("ConfigMap", "r-experiment"), ("Secret", "r-credentials")]
