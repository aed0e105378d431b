"""A release that runs its search in the cluster: what the chart renders for it (backend chart: a
search Job; kuberay: a RayJob whose submitter is the search's pod), and the plan by which the
search's pod removes it, which its Role must allow, object by object."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aframe_tune.cluster.release_removal import (KIND_NAMES, OWNED_BY_THE_SEARCH, adoption_plan, helm_record_name,
                                                 release_objects, removal_plan)
from aframe_tune.cluster.search_job import SEARCH_ENTRYPOINT
from aframe_tune.cluster.search_object import SearchObjectRef
from aframe_tune.config import ClusterBackendName
from aframe_tune.tune.cluster_settings import EXPERIMENT_ENV, SETTINGS_FILE, ClusterSearchSettings
from tests.cluster.chart import needs_helm, render
from tests.cluster.test_chart import GIT, VALID, merged
from tests.conftest import clean_environment
from tests.k8s.policy import PlatformPolicy
from tests.pod_simulator import pid_namespace

pytestmark = needs_helm

RELEASE = "tune-abc"
SEARCH = {"search": {"enabled": True, "experiment": {"tune.yaml": "tune_config: {}\n", "train.yaml": "model: {}\n",
                                                     "search.json": "{}"},
                     "lockName": "aframe-tune-lock-0123456789abcdef0123"}}
BACKENDS = [merged(VALID, SEARCH), merged(VALID, SEARCH, GIT), merged(VALID, SEARCH, {"backend": "kuberay"})]
IDS = ["chart", "chart-git-sync", "kuberay"]
GROUPS = {"RayCluster": "ray.io", "RayJob": "ray.io", "Job": "batch", "Role": "rbac.authorization.k8s.io",
          "RoleBinding": "rbac.authorization.k8s.io"}


def search_of(values: dict[str, Any]) -> SearchObjectRef:
    return SearchObjectRef(RELEASE, ClusterBackendName(values.get("backend", "chart")))


def search_pod(objects: dict[tuple[str, str], dict], search: SearchObjectRef) -> dict[str, Any]:
    """The search's pod spec: the search Job's template, or the RayJob's submitter template."""
    spec = objects[(search.kind, search.name)]["spec"]
    return (spec["submitterPodTemplate"] if search.kind == "RayJob" else spec["template"])["spec"]


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
    search = search_of(values)
    own = (search.kind, search.name)
    assert own in objects
    plan = removal_plan(release_objects(helm_record(objects)), search)
    assert {kind for kind, _ in plan} >= {"Secret", "ConfigMap"}
    assert own not in plan  # deleted last, taking the search's pod with it
    for kind, name in [*plan, ("Secret", helm_record_name(RELEASE)), own]:
        # kr8s reads an object by a list with its name before it deletes it
        for verb in ("get", "list", "delete"):
            assert allowed(role, kind, name, verb), f"{verb} {kind}/{name}"
    # the search object is made the owner of everything else, helm's record included
    adopted = adoption_plan(release_objects(helm_record(objects)), search)
    assert own not in adopted and {(kind, search.account) for kind in OWNED_BY_THE_SEARCH} <= set(adopted)
    assert ("Secret", helm_record_name(RELEASE)) in adopted
    for kind, name in adopted:
        assert allowed(role, kind, name, "patch"), f"patch {kind}/{name}"
    assert not allowed(role, search.kind, search.name, "patch") or search.kind == "RayJob"
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
    search = search_of(values)
    job = search_pod(objects, search)
    assert job["serviceAccountName"] == f"{RELEASE}-search" and job["restartPolicy"] == "Never"
    env = {entry["name"]: entry for entry in job["containers"][0]["env"]}
    # KubeRay's Service for a RayJob's head is named after the RayJob (its cluster's name is generated)
    head_service = f"{RELEASE}-head-svc" if values.get("backend") == "kuberay" else f"{RELEASE}-head"
    assert env["AFRAME_TUNE_DASHBOARD"]["value"] == f"http://{head_service}:8265"
    assert env["AFRAME_TUNE_BACKEND"]["value"] == search.backend
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-ray-auth"
    experiment = objects[("ConfigMap", f"{RELEASE}-experiment")]["data"]
    assert set(experiment) == {"tune.yaml", "train.yaml", "search.json"}


def test_a_failed_search_job_expires_with_its_release_unless_the_release_is_to_be_kept() -> None:
    spec = render(merged(VALID, SEARCH), RELEASE)[("Job", f"{RELEASE}-search")]["spec"]
    assert spec["ttlSecondsAfterFinished"] == 30
    kept = merged(VALID, SEARCH, {"search": {"keepRelease": True}})
    assert "ttlSecondsAfterFinished" not in render(kept, RELEASE)[("Job", f"{RELEASE}-search")]["spec"]


def test_the_removal_plan_takes_workloads_first_and_leaves_the_job_s_own_permission() -> None:
    objects = [("Secret", "r-credentials"), ("ServiceAccount", "r-search"), ("Service", "r-head"), ("Job", "r-search"),
               ("Job", "r-worker"), ("RayCluster", "r"), ("ConfigMap", "r-experiment"), ("Role", "r-search"),
               ("RoleBinding", "r-search")]
    assert removal_plan(objects, SearchObjectRef("r")) == [
        ("RayCluster", "r"), ("Job", "r-worker"), ("Service", "r-head"), ("ConfigMap", "r-experiment"),
        ("Secret", "r-credentials")]


def test_a_kuberay_search_is_a_rayjob_that_submits_the_search_and_shuts_its_cluster_down_at_the_end() -> None:
    objects = render(merged(VALID, SEARCH, {"backend": "kuberay"}), RELEASE)
    assert not [key for key in objects if key[0] in ("RayCluster", "Job")]  # KubeRay makes them
    spec = objects[("RayJob", RELEASE)]["spec"]
    assert spec["entrypoint"] == SEARCH_ENTRYPOINT and spec["jobId"] == RELEASE  # the search Job's submission id
    assert spec["shutdownAfterJobFinishes"] is True and 0 <= spec["ttlSecondsAfterFinished"] <= 60
    assert spec["submissionMode"] == "K8sJobMode"
    # search.readyTimeoutSeconds and a minute: a head that never comes up, once run.sh has said why
    assert spec["preRunningDeadlineSeconds"] == 1860
    # KubeRay runs a submitter container's own command as it is
    assert spec["submitterPodTemplate"]["spec"]["containers"][0]["command"] == [
        "python", "-m", "aframe_tune.cluster.search_job"]
    assert spec["rayClusterSpec"]["authOptions"] == {"mode": "token", "secretName": f"{RELEASE}-ray-auth"}
    # KubeRay probes a worker itself; ours would name the head's Service of a fixed name
    worker = spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert "readinessProbe" not in worker


def test_the_search_s_pod_ends_at_once_on_sigterm_as_its_container_s_first_process(tmp_path: Path) -> None:
    """As a namespace's init, Python ignores a SIGTERM it does not handle: the kubelet would wait
    out the grace period. Here the pod waits for a head that never answers when it is deleted."""
    namespace = pid_namespace()
    if not namespace:
        pytest.skip("no PID namespace on this machine: the search's pod would not be its container's init")
    (tmp_path / SETTINGS_FILE).write_text(ClusterSearchSettings(run_dir="s3://bucket/run", release=RELEASE).to_json())
    env = clean_environment(AFRAME_TUNE_RELEASE=RELEASE, AFRAME_TUNE_DASHBOARD="http://127.0.0.1:9",
                            AFRAME_TUNE_KEEP_RELEASE="true", **{EXPERIMENT_ENV: str(tmp_path)})
    pod = subprocess.Popen([*namespace, sys.executable, "-m", "aframe_tune.cluster.search_job"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        time.sleep(5)  # imports done, waiting for the head
        assert pod.poll() is None, pod.stdout.read() if pod.stdout else ""
        os.killpg(pod.pid, signal.SIGTERM)  # the kubelet's signal, to the container's processes
        assert pod.wait(5) == 143
    finally:
        if pod.poll() is None:
            os.killpg(pod.pid, signal.SIGKILL)
            pod.wait()
