"""CustomResourceDefinitions in the emulated API server: the KubeRay CRDs, served and enforced."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.k8s.crds import CRD_FILES, KUBERAY_CRDS, install_crds, install_kuberay_crds
from tests.k8s.emulator import ApiError, KubernetesEmulator
from tests.k8s.schema import StructuralSchema

pytestmark = pytest.mark.cluster

BIN = Path(sys.executable).parent
KUBECTL = shutil.which("kubectl")
HELM = shutil.which("helm", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
needs_helm = pytest.mark.skipif(HELM is None, reason="helm not installed: run tests/support/install-helm.sh")
RAYCLUSTERS = "/apis/ray.io/v1/namespaces/default/rayclusters"


def container(name: str, cpu: str | int, memory: str, gpus: int = 0) -> dict[str, Any]:
    resources: dict[str, Any] = {"cpu": cpu, "memory": memory}
    if gpus:
        resources["nvidia.com/gpu"] = gpus
    return {"name": name, "image": "rayproject/ray:2.46.0-py310-gpu",
            "resources": {"requests": dict(resources), "limits": dict(resources)}}


def raycluster(name: str = "trials") -> dict[str, Any]:
    """A RayCluster as KubeRay's samples shape one: a head group and one GPU worker group."""
    head = container("ray-head", "2", "8Gi")
    head["ports"] = [{"containerPort": 6379, "name": "gcs-server"}, {"containerPort": 8265, "name": "dashboard"},
                     {"containerPort": 10001, "name": "client"}]
    worker = container("ray-worker", 4, "16Gi", gpus=1)
    worker["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}}
    return {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "aframe-tune"}},
        "spec": {
            "rayVersion": "2.46.0",
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {"idleTimeoutSeconds": 60, "upscalingMode": "Default"},
            "headGroupSpec": {
                "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
                "template": {"metadata": {"labels": {"role": "head"}}, "spec": {"containers": [head]}},
            },
            "workerGroupSpecs": [{
                "groupName": "gpu", "replicas": 2, "minReplicas": 0, "maxReplicas": 4,
                "rayStartParams": {"num-gpus": "1"},
                "template": {"spec": {"containers": [worker],
                                      "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}]}},
            }],
        },
    }


def rayjob(name: str = "search") -> dict[str, Any]:
    cluster = raycluster()["spec"]
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name},
            "spec": {"entrypoint": "python -m aframe_tune.search", "entrypointNumCpus": 0.5,
                     "shutdownAfterJobFinishes": True, "rayClusterSpec": cluster}}


@pytest.fixture
def emulator() -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator() as server:
        yield server


@pytest.fixture
def kuberay(emulator: KubernetesEmulator) -> KubernetesEmulator:
    install_kuberay_crds(emulator)
    return emulator


def client(emulator: KubernetesEmulator) -> httpx.Client:
    import ssl
    context = ssl.create_default_context(cadata=emulator.ca_pem.decode() if emulator.ca_pem else None)
    return httpx.Client(base_url=emulator.url, verify=context, timeout=10,
                        headers={"Authorization": f"Bearer {emulator.token}"})


@pytest.fixture
def kubectl(emulator: KubernetesEmulator, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)}

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        return subprocess.run([KUBECTL, *args], input=input, check=False, capture_output=True, text=True, env=env,
                              timeout=60)

    return run


# --------------------------------------------------------------------------- CRDs and discovery


def test_discovery_lists_kuberay_kinds_once_the_crds_are_installed(emulator: KubernetesEmulator) -> None:
    with client(emulator) as http:
        assert "ray.io" not in {g["name"] for g in http.get("/apis").json()["groups"]}
        assert http.get("/apis/ray.io/v1").status_code == 404
        install_kuberay_crds(emulator)
        groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
        assert groups["ray.io"]["preferredVersion"]["groupVersion"] == "ray.io/v1"
        assert {v["version"] for v in groups["ray.io"]["versions"]} == {"v1", "v1alpha1"}
        resources = {r["name"]: r for r in http.get("/apis/ray.io/v1").json()["resources"]}
        assert resources["rayclusters"]["kind"] == "RayCluster" and resources["rayclusters"]["namespaced"]
        assert resources["rayclusters"]["categories"] == ["all"]
        assert {"rayclusters/status", "rayjobs", "rayjobs/status"} <= set(resources)
        crd = http.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/rayclusters.ray.io").json()
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["acceptedNames"]["kind"] == "RayCluster" and crd["status"]["storedVersions"] == ["v1"]
    rt = emulator.resource_type("rayclusters")
    assert rt.version == "v1" and rt.status_subresource
    assert [c.name for c in rt.printer_columns][:2] == ["desired workers", "available workers"]


def test_the_copied_crds_are_the_reference_ones() -> None:
    reference = Path(__file__).resolve().parents[3] / "shared" / "reference" / "kuberay"
    if not reference.is_dir():
        pytest.skip("../shared/reference/kuberay is not next to this checkout")
    for path in KUBERAY_CRDS:
        assert path.read_bytes() == (reference / path.name).read_bytes()
    assert (CRD_FILES / "README.md").is_file()


def test_deleting_the_crd_removes_its_kind_and_objects(kuberay: KubernetesEmulator) -> None:
    kuberay.create("rayclusters", "default", raycluster())
    with client(kuberay) as http:
        gone = http.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/rayclusters.ray.io")
        assert gone.status_code == 200
        assert http.get(RAYCLUSTERS).status_code == 404
        assert "rayclusters" not in {r["name"] for r in http.get("/apis/ray.io/v1").json()["resources"]}
    assert not any(key == "rayclusters.ray.io" for key, _, _ in kuberay.store._objects)
    with pytest.raises(KeyError):
        kuberay.resource_type("rayclusters")
    assert kuberay.resource_type("rayjobs").kind == "RayJob"  # the other CRD stays


def test_a_crd_without_names_is_refused(emulator: KubernetesEmulator) -> None:
    with client(emulator) as http:
        answer = http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json={
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "things"}, "versions": []}})
    assert answer.status_code == 422
    fields = {c["field"] for c in answer.json()["details"]["causes"]}
    assert fields == {"spec.names.kind", "spec.versions"}


# --------------------------------------------------------------------------- objects


def test_a_valid_raycluster_round_trips_pruned_and_defaulted(kuberay: KubernetesEmulator) -> None:
    sent = raycluster()
    sent["spec"]["headGroupSpec"]["template"]["metadata"]["uid"] = "not-kept"  # not an embedded-metadata field
    sent["spec"]["notAField"] = {"x": 1}
    sent["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["colour"] = "blue"
    sent["status"] = {"state": "ready"}
    with client(kuberay) as http:
        created = http.post(RAYCLUSTERS, json=sent)
        assert created.status_code == 201, created.text
        stored = http.get(f"{RAYCLUSTERS}/trials").json()
    assert stored == created.json()
    spec = stored["spec"]
    assert "notAField" not in spec and "status" not in stored
    assert spec["headGroupSpec"]["template"]["metadata"] == {"labels": {"role": "head"}}
    worker_group = spec["workerGroupSpecs"][0]
    assert "colour" not in worker_group["template"]["spec"]["containers"][0]
    assert (worker_group["numOfHosts"], worker_group["replicas"], worker_group["maxReplicas"]) == (1, 2, 4)
    assert spec["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    expected = copy.deepcopy(raycluster()["spec"])
    expected["workerGroupSpecs"][0].update(numOfHosts=1, priority=0)
    for port in expected["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]:
        port["protocol"] = "TCP"
    assert spec == expected
    assert stored["metadata"]["generation"] == 1


def test_a_rayjob_round_trips_and_is_validated(kuberay: KubernetesEmulator) -> None:
    sent = rayjob()
    sent["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["extra"] = True
    created = kuberay.create("rayjobs", "default", sent)
    spec = created["spec"]
    assert "extra" not in spec["rayClusterSpec"]["workerGroupSpecs"][0]
    assert (spec["submissionMode"], spec["backoffLimit"], spec["ttlSecondsAfterFinished"]) == ("K8sJobMode", 0, 0)
    assert spec["entrypointNumCpus"] == 0.5 and spec["rayClusterSpec"]["workerGroupSpecs"][0]["numOfHosts"] == 1
    bad = rayjob("bad")
    bad["spec"].update(entrypointNumCpus="half", deletionStrategy={"deletionRules": []})
    bad["spec"]["rayClusterSpec"]["autoscalerOptions"]["upscalingMode"] = "Sometimes"
    with pytest.raises(ApiError) as refused:
        kuberay.create("rayjobs", "default", bad)
    causes = {c["field"]: c for c in refused.value.details["causes"]}
    assert causes["spec.entrypointNumCpus"]["message"] == (
        'Invalid value: "string": spec.entrypointNumCpus in body must be of type number: "string"')
    upscaling = causes["spec.rayClusterSpec.autoscalerOptions.upscalingMode"]
    assert upscaling["reason"] == "FieldValueNotSupported"
    assert upscaling["message"] == (
        'Unsupported value: "Sometimes": supported values: "Default", "Aggressive", "Conservative"')
    assert causes["spec.deletionStrategy.deletionRules"]["message"] == (
        "Invalid value: 0: spec.deletionStrategy.deletionRules in body should have at least 1 items")


def test_every_invalid_field_is_reported_with_its_path(kuberay: KubernetesEmulator) -> None:
    bad = raycluster("bad")
    spec = bad["spec"]
    spec["workerGroupSpecs"][0]["replicas"] = "two"
    spec["workerGroupSpecs"].append({"replicas": 1, "rayStartParams": {"num-gpus": 1},
                                     "template": {"spec": {"containers": []}}})
    spec["authOptions"] = {"mode": "password"}
    del spec["headGroupSpec"]
    with client(kuberay) as http:
        answer = http.post(RAYCLUSTERS, json=bad)
    assert answer.status_code == 422
    body = answer.json()
    assert (body["reason"], body["details"]["kind"], body["details"]["group"]) == ("Invalid", "RayCluster", "ray.io")
    causes = {c["field"]: (c["reason"], c["message"]) for c in body["details"]["causes"]}
    assert causes == {
        "spec.headGroupSpec": ("FieldValueRequired", "Required value"),
        "spec.workerGroupSpecs[0].replicas": ("FieldValueInvalid", (
            'Invalid value: "string": spec.workerGroupSpecs[0].replicas in body must be of type integer: "string"')),
        "spec.workerGroupSpecs[1].groupName": ("FieldValueRequired", "Required value"),
        "spec.workerGroupSpecs[1].rayStartParams.num-gpus": (
            "FieldValueInvalid", ('Invalid value: "integer": spec.workerGroupSpecs[1].rayStartParams.num-gpus in '
                                  'body must be of type string: "integer"')),
        "spec.authOptions.mode": ("FieldValueNotSupported",
                                  'Unsupported value: "password": supported values: "disabled", "token"'),
    }
    assert body["message"].startswith('RayCluster.ray.io "bad" is invalid: [')
    assert kuberay.get("rayclusters", "default", "bad") is None


def test_status_subresource_semantics(kuberay: KubernetesEmulator) -> None:
    with client(kuberay) as http:
        created = http.post(RAYCLUSTERS, json=raycluster()).json()
        # /status writes change only the status, and keep the generation
        changed_spec = copy.deepcopy(created)
        changed_spec["spec"]["rayVersion"] = "9.9.9"
        changed_spec["status"] = {"state": "ready", "desiredWorkerReplicas": 2, "readyWorkerReplicas": 2}
        status = http.put(f"{RAYCLUSTERS}/trials/status", json=changed_spec).json()
        assert status["spec"] == created["spec"] and status["status"]["state"] == "ready"
        assert status["metadata"]["generation"] == 1
        # writes to the object ignore the status, and a spec change bumps the generation
        update = copy.deepcopy(status)
        update["spec"]["workerGroupSpecs"][0]["replicas"] = 3
        update["status"] = {"state": "suspended"}
        updated = http.put(f"{RAYCLUSTERS}/trials", json=update).json()
        assert updated["status"]["state"] == "ready" and updated["metadata"]["generation"] == 2
        patched = http.patch(f"{RAYCLUSTERS}/trials/status", json={"status": {"desiredWorkerReplicas": "lots"}},
                             headers={"Content-Type": "application/merge-patch+json"})
        assert patched.status_code == 422
        assert patched.json()["details"]["causes"][0]["field"] == "status.desiredWorkerReplicas"
        condition = {"type": "HeadPodReady", "status": "Maybe", "reason": "", "lastTransitionTime": "yesterday",
                     "message": "x"}
        patched = http.patch(f"{RAYCLUSTERS}/trials/status", json={"status": {"conditions": [condition]}},
                             headers={"Content-Type": "application/merge-patch+json"})
        fields = {c["field"]: c["message"] for c in patched.json()["details"]["causes"]}
        assert set(fields) == {"status.conditions[0].status", "status.conditions[0].reason",
                               "status.conditions[0].lastTransitionTime"}
    # the emulated operator's Python API writes are held to the schema too
    with pytest.raises(ApiError):
        kuberay.update_status("rayclusters", "default", "trials", {"readyWorkerReplicas": "two"})
    assert kuberay.update_status("rayclusters", "default", "trials", {"state": "ready", "junk": 1})["status"] == {
        "state": "ready", "desiredWorkerReplicas": 2, "readyWorkerReplicas": 2}


def test_validation_is_fast(kuberay: KubernetesEmulator) -> None:
    rt = kuberay.resource_type("rayclusters")
    obj = raycluster()
    started = time.perf_counter()
    for _ in range(50):
        assert rt.schema.process(copy.deepcopy(obj)) == []
    per_object = (time.perf_counter() - started) / 50
    assert per_object < 0.02, f"{per_object * 1000:.1f} ms per RayCluster"


# --------------------------------------------------------------------------- real clients


@needs_kubectl
def test_kubectl_gets_rayclusters_and_prints_the_servers_422(
        emulator: KubernetesEmulator, kubectl: Callable[..., Any], tmp_path: Path) -> None:
    for path in KUBERAY_CRDS:
        created = kubectl("create", "-f", str(path))
        assert created.returncode == 0, created.stderr
    listed = kubectl("get", "rayclusters")
    assert listed.returncode == 0 and "No resources found in default namespace." in listed.stderr
    bad = raycluster("bad")
    bad["spec"]["workerGroupSpecs"][0]["replicas"] = "two"
    del bad["spec"]["workerGroupSpecs"][0]["groupName"]
    applied = kubectl("apply", "-f", "-", input=yaml.safe_dump(bad))
    assert applied.returncode == 1
    assert 'The RayCluster "bad" is invalid:' in applied.stderr
    assert ('* spec.workerGroupSpecs[0].replicas: Invalid value: "string": spec.workerGroupSpecs[0].replicas in '
            'body must be of type integer: "string"') in applied.stderr
    assert "* spec.workerGroupSpecs[0].groupName: Required value" in applied.stderr
    # kubectl asks for fieldValidation=Strict: unknown fields are refused, not pruned
    unknown = raycluster("unknown")
    unknown["spec"]["notAField"] = 1
    unknown["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["colour"] = "blue"
    refused = kubectl("apply", "-f", "-", input=yaml.safe_dump(unknown))
    assert refused.returncode == 1
    assert ('RayCluster in version "v1" cannot be handled as a RayCluster: strict decoding error: unknown field '
            '"spec.notAField", unknown field "spec.workerGroupSpecs[0].template.spec.containers[0].colour"'
            ) in refused.stderr, refused.stderr
    good = kubectl("apply", "-f", "-", input=yaml.safe_dump(raycluster()))
    assert good.returncode == 0 and "raycluster.ray.io/trials created" in good.stdout, good.stderr
    listed = kubectl("get", "rayclusters", "-o", "name")
    assert listed.stdout.split() == ["raycluster.ray.io/trials"]
    fetched = yaml.safe_load(kubectl("get", "raycluster", "trials", "-o", "yaml").stdout)
    assert fetched["spec"]["workerGroupSpecs"][0]["numOfHosts"] == 1
    deleted = kubectl("delete", "crd", "rayclusters.ray.io")
    assert deleted.returncode == 0, deleted.stderr
    # kubectl's discovery cache still knows the kind; the server no longer does
    gone = kubectl("get", "rayclusters")
    assert gone.returncode == 1 and "the server could not find the requested resource" in gone.stderr


def test_kr8s_creates_lists_and_patches_rayclusters(kuberay: KubernetesEmulator, tmp_path: Path) -> None:
    import asyncio

    import kr8s.asyncio
    from kr8s.asyncio.objects import new_class

    kubeconfig = kuberay.write_kubeconfig(tmp_path / "kubeconfig")
    RayCluster = new_class(kind="RayCluster", version="ray.io/v1", namespaced=True)

    async def scenario() -> tuple[list[str], dict[str, Any], str]:
        api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
        cluster = await RayCluster(raycluster(), api=api)
        await cluster.create()
        await cluster.patch({"spec": {"workerGroupSpecs": [{**raycluster()["spec"]["workerGroupSpecs"][0],
                                                            "replicas": 3, "unknown": 1}]}})
        names = [c.name async for c in api.get("rayclusters", namespace="default")]
        bad = await RayCluster({**raycluster("bad"), "spec": {"headGroupSpec": "none"}}, api=api)
        try:
            await bad.create()
        except kr8s.ServerError as exc:
            return names, cluster.raw, str(exc)
        return names, cluster.raw, ""

    names, patched, error = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert names == ["trials"]
    assert patched["spec"]["workerGroupSpecs"][0]["replicas"] == 3 and patched["metadata"]["generation"] == 2
    assert "unknown" not in patched["spec"]["workerGroupSpecs"][0]
    assert 'RayCluster.ray.io "bad" is invalid: spec.headGroupSpec: Invalid value: "string"' in error
    with client(kuberay) as http:
        strategic = http.patch(f"{RAYCLUSTERS}/trials", json={"spec": {}},
                               headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert strategic.status_code == 415  # as the real server: no strategic merge patch for custom resources


@needs_helm
def test_helm_installs_a_chart_carrying_the_crds(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    chart = tmp_path / "kuberay"
    (chart / "crds").mkdir(parents=True)
    (chart / "templates").mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: kuberay\nversion: 0.1.0\n")
    shutil.copy(KUBERAY_CRDS[0], chart / "crds")
    (chart / "templates" / "cluster.yaml").write_text(yaml.safe_dump(raycluster()))
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    home = tmp_path / "home"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(kubeconfig),
           "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data")}
    assert HELM is not None
    result = subprocess.run([HELM, "install", "ray", str(chart)], check=False, capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    stored = emulator.get("rayclusters", "default", "trials")
    assert stored is not None and stored["spec"]["workerGroupSpecs"][0]["numOfHosts"] == 1


# --------------------------------------------------------------------------- keywords KubeRay does not use


def test_preserve_unknown_embedded_nullable_int_or_string_and_sets() -> None:
    schema = StructuralSchema(yaml.safe_load("""
type: object
properties:
  spec:
    type: object
    properties:
      free: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {n: {type: integer}}}
      object:
        type: object
        x-kubernetes-embedded-resource: true
        x-kubernetes-preserve-unknown-fields: true
      maybe: {type: string, nullable: true}
      never: {type: string, default: fallback}
      port: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
      tags: {type: array, x-kubernetes-list-type: set, maxItems: 2, items: {type: string}}
      size: {type: integer, minimum: 1, maximum: 10}
      name: {type: string, pattern: '^[a-z]+$', maxLength: 5}
"""))
    good = {"spec": {"free": {"anything": {"goes": [1]}, "n": 3},
                     "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u"}, "x": 1},
                     "maybe": None, "never": None, "port": "http"}}
    assert schema.process(good) == []
    assert good["spec"]["free"] == {"anything": {"goes": [1]}, "n": 3}
    assert good["spec"]["object"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "x": 1}
    assert good["spec"]["maybe"] is None and good["spec"]["never"] == "fallback"
    bad = {"spec": {"free": {"n": "3"}, "port": True, "tags": ["a", "b", "a"], "size": 11, "name": "abcdef"}}
    causes = {c["field"]: c["message"] for c in schema.process(bad)}
    assert causes == {
        "spec.free.n": 'Invalid value: "string": spec.free.n in body must be of type integer: "string"',
        "spec.port": 'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
        "spec.tags": "Too many: 3: must have at most 2 items",
        "spec.tags[2]": 'Duplicate value: "a"',
        "spec.size": "Invalid value: 11: spec.size in body should be less than or equal to 10",
        "spec.name": "Too long: may not be more than 5 bytes",
    }
    assert schema.process({"spec": {"name": "a1"}})[0]["message"] == (
        "Invalid value: \"a1\": spec.name in body should match '^[a-z]+$'")


def test_install_crds_accepts_any_crd_file(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Cluster", "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {
                            "size": {"type": "integer", "default": 3}}}}}}}]}}
    path = tmp_path / "widgets.yaml"
    path.write_text(yaml.safe_dump(crd))
    [stored] = install_crds(emulator, [path])
    assert stored["spec"]["names"]["listKind"] == "WidgetList"
    widget = emulator.create("widgets", None, {"metadata": {"name": "w"}, "spec": {"colour": "red"}})
    assert widget["spec"] == {"size": 3} and "namespace" not in widget["metadata"]
    assert emulator.resource_type("widget").namespaced is False
