"""The Kubernetes emulator driven by the real helm binary, kr8s and plain HTTP."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gc
import gzip
import json
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import httpx_ws
import kr8s.asyncio
import pytest
from kr8s.asyncio.objects import Pod
from kr8s.asyncio.portforward import PortForward

from tests.k8s import protobuf
from tests.k8s.emulator import Event, KubernetesEmulator
from tests.k8s.events import EventRecorder
from tests.k8s.patch import strategic_merge_patch
from tests.k8s.resources import PrinterColumn, ResourceType, ScaleSpec
from tests.pod_simulator import PodSimulator

pytestmark = pytest.mark.cluster

BIN = Path(sys.executable).parent
HELM = shutil.which("helm", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
needs_helm = pytest.mark.skipif(HELM is None, reason="helm not installed: run tests/support/install-helm.sh")

# A release Secret exactly as helm 3.17.1 POSTed it (protobuf, client-go 0.32), captured once
# from `helm install r CHART` where CHART holds one ConfigMap.
CAPTURED_RELEASE_SECRET = base64.b64decode(
    "azhzAAoMCgJ2MRIGU2VjcmV0EtEFCoMBChdzaC5oZWxtLnJlbGVhc2UudjEuci52MRIAGgAiACoAMgA4AEIAWhcKCWNyZWF0ZWRBdBIK"
    "MTc5NTQ0NjIzMVoJCgRuYW1lEgFyWg0KBW93bmVyEgRoZWxtWhkKBnN0YXR1cxIPcGVuZGluZy1pbnN0YWxsWgwKB3ZlcnNpb24SATES"
    "tAQKB3JlbGVhc2USqARINHNJQUFBQUFBQUMvNVNRMFcvYVBoREgveFhyZnE4T2pWT0JoS1crL0ZoQnJLcW1iWXdXbG1rNllpZTQyT2Nv"
    "ZHFnUXl2OCtKUzFzMHA3MjV2djZmUGZ4NXd5RVRvT0VCamdZS2ozSU01U21DZkduMHJYMUo2MUFRcFptazBTSUpMdGRpYkZNYitWWWpN"
    "UWtIYWNpUzZkYjRHRHhIeDhvYlhVY1dvY2lGSTJwby9FRUVwWmtva0hMRElXSTFyS1dsRzVlOFFRY1FzVFlCcEJRYTFLR3F1UzlCem9P"
    "eFI2YjJOTTdIVkZoeFA3OC9qa0hISTY2Q1c4TDBwRVlwY0FCYTdPK2hzZXNIMko5Y1FCSnJiVWNvbmExeGFnRHlPL1hTZGZ3cG5DakV6"
    "cmI0dy9MWVBQOGY3MTI2MU9SMmVQdXhWZnE1ZjRCTTl0dVAvanFjelp0dDg3UzZtbitPblBDcXNYOHNIbitzdjlVK1dxNUdPOTNUOTht"
    "eThYanczWXhUemNyWCtuc2ZySmNmSnpPcXJzNzZINXdPS0p0ZTVJM3RGRHN0Y05MVlJwN3VlbzRPQ1JUNmhCQlFwSWtPZjNIdnZxMkti"
    "Ums3dVl2K3B4K1M1RHNLSEk2R0ZLU3pUeVZwbnJFT3FlTFRwa1RZNzBGeVlxY2hvU2RVYkpkbDlPZmVnVWZYSVVhaTE2WTBpVzJOa0wz"
    "S3dBQS8vOGFOVmkwYWdJQUFBPT0aEmhlbG0uc2gvcmVsZWFzZS52MRoAIgA="
)
# DeleteOptions as helm sends them when it deletes a release Secret.
CAPTURED_DELETE_OPTIONS = b'k8s\x00\n\x13\n\x02v1\x12\rDeleteOptions\x12\x00\x1a\x00"\x00'

CHART_YAML = "apiVersion: v2\nname: tiny\nversion: 0.1.0\n"
VALUES_YAML = "replicas: 1\ngreeting: hello\n"
TEMPLATES = """\
{{- define "tiny.labels" -}}
app.kubernetes.io/name: tiny
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels: {{- include "tiny.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app.kubernetes.io/instance: {{ .Release.Name }}}
  template:
    metadata:
      labels: {{- include "tiny.labels" . | nindent 8 }}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          env: [{name: GREETING, value: {{ .Values.greeting | quote }}}]
          ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
  labels: {{- include "tiny.labels" . | nindent 4 }}
spec:
  selector: {app.kubernetes.io/instance: {{ .Release.Name }}}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-token
  labels: {{- include "tiny.labels" . | nindent 4 }}
stringData:
  token: {{ .Values.greeting | quote }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels: {{- include "tiny.labels" . | nindent 4 }}
data:
  greeting: {{ .Values.greeting | quote }}
"""


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def emulator() -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator() as server:
        yield server


@pytest.fixture
def kubeconfig(emulator: KubernetesEmulator, tmp_path: Path) -> Path:
    return emulator.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    directory = tmp_path / "tiny"
    (directory / "templates").mkdir(parents=True)
    (directory / "Chart.yaml").write_text(CHART_YAML)
    (directory / "values.yaml").write_text(VALUES_YAML)
    (directory / "templates" / "all.yaml").write_text(TEMPLATES)
    return directory


@pytest.fixture
def helm(kubeconfig: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real helm against the emulator, with its caches kept inside tmp_path."""
    home = tmp_path / "home"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        assert HELM is not None
        return subprocess.run([HELM, *args], input=input, capture_output=True, text=True, env=env, timeout=60)

    return run


def http_client(emulator: KubernetesEmulator, token: bool = True) -> httpx.Client:
    context = ssl.create_default_context(cadata=emulator.ca_pem.decode() if emulator.ca_pem else None)
    headers = {"Authorization": f"Bearer {emulator.token}"} if token else {}
    return httpx.Client(base_url=emulator.url, verify=context, headers=headers, timeout=10)


def decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    """Helm's release record: base64 (the API's) of base64 (helm's) of gzipped JSON."""
    return json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))


def labelled(emulator: KubernetesEmulator, selector: str) -> list[tuple[str, str]]:
    """(kind, name) of every object, of any type, matching a label selector."""
    found = []
    for rt in emulator.registry.types:
        found += [(rt.kind, o["metadata"]["name"]) for o in emulator.list(rt, label_selector=selector)]
    return sorted(found)


def run_async(coroutine: Any, timeout: float = 20) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def make_pod(name: str, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}, **meta},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}


# --------------------------------------------------------------------------- helm


@needs_helm
def test_helm_install_upgrade_uninstall(emulator: KubernetesEmulator, helm: Callable[..., Any], chart: Path) -> None:
    # Plain install: OpenAPI validation stays on.
    result = helm("install", "demo", str(chart), "--namespace", "default", "--wait=false")
    assert result.returncode == 0, result.stderr

    listed = json.loads(helm("list", "-o", "json").stdout)
    assert [(r["name"], r["status"], r["revision"]) for r in listed] == [("demo", "deployed", "1")]

    assert labelled(emulator, "app.kubernetes.io/instance=demo") == [
        ("ConfigMap", "demo-config"), ("Deployment", "demo-web"), ("Secret", "demo-token"), ("Service", "demo-web")]
    deployment = emulator.get("deployments", "default", "demo-web")
    assert deployment is not None
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert deployment["metadata"]["annotations"]["meta.helm.sh/release-name"] == "demo"
    assert deployment["metadata"]["generation"] == 1
    token = emulator.get("secrets", "default", "demo-token")
    assert token is not None and base64.b64decode(token["data"]["token"]) == b"hello"  # stringData folded in

    # The release record arrived as protobuf and was decoded.
    assert protobuf.PROTOBUF_CONTENT_TYPE in {r.content_type for r in emulator.requests("POST", r"/secrets$")}
    [record] = emulator.list("secrets", "default", label_selector="owner=helm")
    assert record["metadata"]["name"] == "sh.helm.release.v1.demo.v1"
    assert record["type"] == "helm.sh/release.v1"
    assert {k: record["metadata"]["labels"][k] for k in ("owner", "name", "status")} == {
        "owner": "helm", "name": "demo", "status": "deployed"}
    assert decode_release(record)["name"] == "demo"

    result = helm("upgrade", "demo", str(chart), "--set", "greeting=bye", "--set", "replicas=2")
    assert result.returncode == 0, result.stderr
    assert json.loads(helm("list", "-o", "json").stdout)[0]["revision"] == "2"
    deployment = emulator.get("deployments", "default", "demo-web")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2 and deployment["metadata"]["generation"] == 2
    assert deployment["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "GREETING", "value": "bye"}]
    statuses = {s["metadata"]["name"]: s["metadata"]["labels"]["status"]
                for s in emulator.list("secrets", "default", label_selector="owner=helm")}
    assert statuses == {"sh.helm.release.v1.demo.v1": "superseded", "sh.helm.release.v1.demo.v2": "deployed"}

    result = helm("uninstall", "demo")
    assert result.returncode == 0, result.stderr
    assert labelled(emulator, "app.kubernetes.io/instance=demo") == []
    assert emulator.list("secrets", label_selector="owner=helm") == []
    assert json.loads(helm("list", "-o", "json").stdout) == []
    assert not [r for r in emulator.request_log if r.status == 415]


@needs_helm
def test_helm_values_on_stdin(emulator: KubernetesEmulator, helm: Callable[..., Any], chart: Path) -> None:
    values = json.dumps({"greeting": "from stdin", "replicas": 3})
    result = helm("install", "stdin", str(chart), "--namespace", "default", "--values", "-", input=values)
    assert result.returncode == 0, result.stderr
    config = emulator.get("configmaps", "default", "stdin-config")
    assert config is not None and config["data"] == {"greeting": "from stdin"}
    assert json.loads(helm("get", "values", "stdin", "-o", "json").stdout) == {"greeting": "from stdin", "replicas": 3}


@needs_helm
def test_helm_wait_with_a_simulated_controller_and_cascading_gc(
    emulator: KubernetesEmulator, helm: Callable[..., Any], chart: Path
) -> None:
    """A tiny deployment controller on the hook API is enough for ``helm install --wait``.

    helm 3.17 polls the Deployment and the ReplicaSets its selector matches: it wants a
    ReplicaSet controlled by the Deployment with an equal pod template, both with
    ``status.observedGeneration`` current and enough ready replicas. Uninstalling deletes the
    Deployment; the garbage collector takes the ReplicaSet and, through it, the Pods.
    """

    def controller(event: Event) -> None:
        if event.type != "ADDED":
            return
        deployment, namespace = event.object, event.namespace
        replicas, template = deployment["spec"]["replicas"], deployment["spec"]["template"]

        def owned_by(obj: dict[str, Any]) -> list[dict[str, Any]]:
            return [{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
                     "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]

        replica_set = emulator.create("replicasets", namespace, {
            "metadata": {"name": f"{event.name}-7d9f", "labels": template["metadata"]["labels"],
                         "ownerReferences": owned_by(deployment)},
            "spec": {"replicas": replicas, "selector": deployment["spec"]["selector"], "template": template},
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                       "observedGeneration": 1},
        })
        for index in range(replicas):
            pod = make_pod(f"{event.name}-7d9f-{index}", template["metadata"]["labels"],
                           ownerReferences=owned_by(replica_set))
            emulator.create("pods", namespace, {**pod, "status": {"phase": "Running"}})
        emulator.update_status("deployments", namespace, event.name, {
            "observedGeneration": deployment["metadata"]["generation"], "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas})

    emulator.subscribe(controller, "deployments")
    result = helm("install", "sim", str(chart), "--set", "replicas=2", "--wait", "--timeout", "20s")
    assert result.returncode == 0, result.stderr
    assert [p["metadata"]["name"] for p in emulator.list("pods", "default", field_selector="status.phase=Running")] \
        == ["sim-web-7d9f-0", "sim-web-7d9f-1"]

    assert helm("uninstall", "sim").returncode == 0
    assert emulator.flush()
    assert emulator.list("replicasets") == [] and emulator.list("pods") == []


@needs_helm
def test_helm_reports_injected_server_errors(emulator: KubernetesEmulator, helm: Callable[..., Any]) -> None:
    emulator.inject_fault(500, method="GET", path=r"/secrets$", count=10, message="etcd is on fire")
    result = helm("list")
    assert result.returncode != 0
    assert "etcd is on fire" in result.stderr or "500" in result.stderr


@needs_helm
def test_plain_http_mode_without_auth(tmp_path: Path) -> None:
    """client-go sends no token over http, so tls=False turns auth off and still serves helm."""
    with KubernetesEmulator(tls=False) as plain:
        assert plain.url.startswith("http://") and not plain.require_auth
        kubeconfig = plain.write_kubeconfig(tmp_path / "kubeconfig")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)}
        assert HELM is not None
        result = subprocess.run([HELM, "list", "-o", "json"], capture_output=True, text=True, env=env, timeout=60)
        assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr
        assert {r.status for r in plain.request_log} == {200}


# --------------------------------------------------------------------------- kr8s


def test_kr8s_lists_by_label_and_field_selectors(emulator: KubernetesEmulator, kubeconfig: Path) -> None:
    for index, role in enumerate(["head", "worker", "worker"]):
        labels = {"app": "ray", "role": role, **({"gpu": "yes"} if index == 2 else {})}
        emulator.create("pods", "default", make_pod(f"ray-{index}", labels))
    emulator.create("pods", "kube-system", make_pod("dns", {"app": "dns"}))
    emulator.update_status("pods", "default", "ray-1", {"phase": "Running"})

    async def names(**kwargs: Any) -> list[str]:
        api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
        return sorted([pod.name async for pod in api.get("pods", **kwargs)])

    async def scenario() -> dict[str, list[str]]:
        return {
            "eq": await names(label_selector="role=worker"),
            "dict": await names(label_selector={"app": "ray", "role": "head"}),
            "neq": await names(label_selector="app=ray,role!=head"),
            "in": await names(label_selector="role in (head, nobody)"),
            "notin": await names(namespace=kr8s.ALL, label_selector="role notin (head)"),
            "exists": await names(label_selector="gpu"),
            "absent": await names(label_selector="app,!gpu"),
            "phase": await names(field_selector="status.phase=Running"),
            "not-phase": await names(field_selector={"status.phase": "Pending"}),
            "all": await names(namespace=kr8s.ALL),
        }

    assert run_async(scenario()) == {
        "eq": ["ray-1", "ray-2"], "dict": ["ray-0"], "neq": ["ray-1", "ray-2"], "in": ["ray-0"],
        "notin": ["dns", "ray-1", "ray-2"], "exists": ["ray-2"], "absent": ["ray-0", "ray-1"],
        "phase": ["ray-1"], "not-phase": ["ray-0", "ray-2"], "all": ["dns", "ray-0", "ray-1", "ray-2"],
    }

    async def get_one() -> Pod:
        api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
        return await Pod.get("ray-1", api=api)

    pod = run_async(get_one())
    assert pod.name == "ray-1" and pod.status.phase == "Running" and pod.labels["role"] == "worker"


def test_kr8s_watch_sees_hook_changes(emulator: KubernetesEmulator, kubeconfig: Path) -> None:
    emulator.create("pods", "default", make_pod("old", {"app": "w"}))
    emulator.create("pods", "default", make_pod("other", {"app": "unrelated"}))

    async def scenario() -> list[tuple[str, str, str | None]]:
        api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
        seen: list[tuple[str, str, str | None]] = []

        async def watch() -> None:
            async for kind, pod in api.watch("pods", namespace="default", label_selector="app=w"):
                seen.append((kind, pod.name, pod.raw.get("status", {}).get("phase")))

        async def until(count: int) -> None:
            while len(seen) < count:
                await asyncio.sleep(0.02)

        task = asyncio.create_task(watch())
        await asyncio.wait_for(until(1), 10)  # the synthetic ADDED for "old" has arrived
        await asyncio.to_thread(emulator.create, "pods", "default", make_pod("new", {"app": "w"}))
        await asyncio.to_thread(emulator.update_status, "pods", "default", "new", {"phase": "Running"})
        await asyncio.to_thread(emulator.patch, "pods", "default", "other", {"metadata": {"labels": {"app": "w"}}})
        await asyncio.to_thread(emulator.delete, "pods", "default", "old")
        await asyncio.wait_for(until(5), 10)
        # Ending the stream server-side lets kr8s's watch generator finish cleanly.
        emulator.close_watches()
        await asyncio.wait_for(task, 10)
        return seen

    assert run_async(scenario()) == [
        ("ADDED", "old", "Pending"),
        ("ADDED", "new", "Pending"),
        ("MODIFIED", "new", "Running"),
        ("ADDED", "other", "Pending"),  # relabelled into the selector: ADDED, like the real server
        ("DELETED", "old", "Pending"),
    ]


# kr8s returns from inside its watch loop once the condition holds and leaves the stream's
# async generators for the garbage collector, which asyncio reports while closing the loop.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_kr8s_wait_for_ready_uses_a_watch(emulator: KubernetesEmulator, kubeconfig: Path) -> None:
    emulator.create("pods", "default", make_pod("trial-0"))

    async def scenario() -> dict[str, Any]:
        api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
        pod = await Pod.get("trial-0", api=api)
        emulator.clear_request_log()
        timer = threading.Timer(0.3, emulator.set_condition, ("pods", "default", "trial-0", "Ready"))
        timer.start()
        await pod.wait("condition=Ready", timeout=10)
        timer.join()
        return pod.raw

    raw = run_async(scenario())
    gc.collect()  # finalize kr8s's abandoned stream here, under this test's warning filter
    assert {"type": "Ready", "status": "True"}.items() <= raw["status"]["conditions"][0].items()
    # One GET, then one watch: no polling (kr8s's discovery requests aside).
    requests = [(r.method, r.path, r.watch) for r in emulator.requests(path="/pods")]
    assert requests == [("GET", "/api/v1/namespaces/default/pods/trial-0", False),
                        ("GET", "/api/v1/namespaces/default/pods", True)]


# --------------------------------------------------------------------------- HTTP semantics


def test_status_bodies_look_real(emulator: KubernetesEmulator) -> None:
    with http_client(emulator) as client:
        missing = client.get("/apis/apps/v1/namespaces/default/deployments/nope")
        assert missing.status_code == 404
        assert missing.json() == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'deployments.apps "nope" not found', "reason": "NotFound",
            "details": {"name": "nope", "group": "apps", "kind": "deployments"}, "code": 404}

        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
        assert client.post("/api/v1/namespaces/default/configmaps", json=body).status_code == 201
        again = client.post("/api/v1/namespaces/default/configmaps", json=body)
        assert again.status_code == 409
        assert again.json()["reason"] == "AlreadyExists" and again.json()["code"] == 409
        assert again.json()["message"] == 'configmaps "c" already exists'

        no_namespace = client.post("/api/v1/namespaces/ghost/configmaps", json=body)
        assert (no_namespace.status_code, no_namespace.json()["message"]) == (404, 'namespaces "ghost" not found')
        assert client.get("/api/v1/nonsense").json()["reason"] == "NotFound"
        assert client.get("/api/v1/pods", params={"labelSelector": "a in (b"}).status_code == 400
        assert client.get("/api/v1/pods", params={"fieldSelector": "spec.bogus=1"}).status_code == 400

    with http_client(emulator, token=False) as anonymous:
        denied = anonymous.get("/api/v1/pods")
        assert (denied.status_code, denied.json()["reason"]) == (401, "Unauthorized")
        assert anonymous.get("/version").json()["gitVersion"] == emulator.kubernetes_version


def test_discovery_documents(emulator: KubernetesEmulator) -> None:
    with http_client(emulator) as client:
        assert client.get("/api").json()["versions"] == ["v1"]
        core = client.get("/api/v1").json()
        assert core["groupVersion"] == "v1"
        pods = next(r for r in core["resources"] if r["name"] == "pods")
        assert pods["namespaced"] and pods["kind"] == "Pod" and "watch" in pods["verbs"] and pods["shortNames"] == ["po"]
        namespaces = next(r for r in core["resources"] if r["name"] == "namespaces")
        assert namespaces["namespaced"] is False
        groups = {g["name"]: g["preferredVersion"]["groupVersion"] for g in client.get("/apis").json()["groups"]}
        assert groups["apps"] == "apps/v1"
        apps = client.get("/apis/apps/v1").json()
        assert {r["name"] for r in apps["resources"]} >= {"deployments", "deployments/status", "replicasets"}
        openapi = client.get("/openapi/v2", headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
        fields = {number: value for number, _, value in protobuf.iter_fields(openapi.content)}
        assert fields[1] == b"2.0"


def test_crud_metadata_and_update_conflicts(emulator: KubernetesEmulator) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    container = {"name": "c", "image": "i:1", "env": [{"name": "A", "value": "1"}]}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generateName": "web-"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}},
                           "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [container]}}},
                  "status": {"replicas": 99}}
    with http_client(emulator) as client:
        created = client.post(path, json=deployment).json()
        meta = created["metadata"]
        name = meta["name"]
        assert name.startswith("web-") and len(name) == len("web-") + 5
        assert meta["namespace"] == "default" and meta["uid"] and meta["creationTimestamp"].endswith("Z")
        assert meta["generation"] == 1 and int(meta["resourceVersion"]) > 0
        assert created["status"] == {} and created["spec"]["replicas"] == 1  # status reset, replicas defaulted

        stale = dict(created, spec={**created["spec"], "replicas": 3})
        updated = client.put(f"{path}/{name}", json=stale).json()
        assert updated["metadata"]["generation"] == 2
        assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
        conflict = client.put(f"{path}/{name}", json=stale)  # carries the old resourceVersion
        assert (conflict.status_code, conflict.json()["reason"]) == (409, "Conflict")

        merge = client.patch(f"{path}/{name}", content=json.dumps({"metadata": {"labels": {"x": "y"}}}),
                             headers={"Content-Type": "application/merge-patch+json"}).json()
        assert merge["metadata"]["labels"] == {"x": "y"} and merge["metadata"]["generation"] == 2

        strategic = {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "env": [{"name": "B", "value": "2"}]}]}}}}
        patched = client.patch(f"{path}/{name}", content=json.dumps(strategic),
                               headers={"Content-Type": "application/strategic-merge-patch+json"}).json()
        container = patched["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "i:1" and container["env"] == [{"name": "A", "value": "1"},
                                                                   {"name": "B", "value": "2"}]

        operations = [{"op": "replace", "path": "/spec/replicas", "value": 5},
                      {"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}}]
        jsonpatched = client.patch(f"{path}/{name}", content=json.dumps(operations),
                                   headers={"Content-Type": "application/json-patch+json"}).json()
        assert jsonpatched["spec"]["replicas"] == 5 and jsonpatched["metadata"]["annotations"] == {"k": "v"}

        status = client.patch(f"{path}/{name}/status", content=json.dumps({"status": {"readyReplicas": 5}}),
                              headers={"Content-Type": "application/merge-patch+json"}).json()
        assert status["status"] == {"readyReplicas": 5} and status["metadata"]["generation"] == 4

        mismatched = {**deployment, "metadata": {"name": "bad"},
                      "spec": {**deployment["spec"], "template": {"metadata": {"labels": {"a": "c"}}}}}
        rejected = client.post(path, json=mismatched)
        assert (rejected.status_code, rejected.json()["reason"]) == (422, "Invalid")
        assert rejected.json()["details"]["causes"][0]["field"] == "spec.template.metadata.labels"

        listing = client.get(path, params={"limit": 1}).json()
        assert listing["kind"] == "DeploymentList" and "kind" not in listing["items"][0]

        deleted = client.delete(f"{path}/{name}").json()
        assert deleted["status"] == "Success" and deleted["details"]["name"] == name
        assert client.get(f"{path}/{name}").status_code == 404

        for index in range(3):
            body = {"metadata": {"name": f"cm-{index}", "labels": {"batch": "odd" if index % 2 else "even"}}}
            assert client.post("/api/v1/namespaces/default/configmaps", json=body).status_code == 201
        swept = client.request("DELETE", "/api/v1/namespaces/default/configmaps",
                               params={"labelSelector": "batch=even"}).json()
        assert sorted(i["metadata"]["name"] for i in swept["items"]) == ["cm-0", "cm-2"]
        assert [c["metadata"]["name"] for c in emulator.list("configmaps", "default")] == ["cm-1"]


def test_strategic_merge_patch_directives() -> None:
    live = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}],
                     "finalizers": ["x"], "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                      "containers": [{"name": "a", "$patch": "delete"}, {"name": "c", "image": "3"}],
                      "finalizers": ["y"],
                      "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    assert strategic_merge_patch(live, patch) == {"spec": {
        "containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "3"}],
        "finalizers": ["x", "y"], "strategy": {"type": "Recreate"}}}


def test_garbage_collection_finalizers_and_namespaces(emulator: KubernetesEmulator) -> None:
    owner = emulator.create("deployments", "default", {"metadata": {"name": "d"}, "spec": {}})
    reference = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": owner["metadata"]["uid"]}
    emulator.create("pods", "default", make_pod("owned", ownerReferences=[reference]))
    emulator.create("pods", "default", make_pod("kept", finalizers=["example.com/hold"], ownerReferences=[reference]))
    emulator.delete("deployments", "default", "d")
    assert emulator.get("pods", "default", "owned") is None
    held = emulator.get("pods", "default", "kept")
    assert held is not None and held["metadata"]["deletionTimestamp"]  # waits for its finalizer
    emulator.patch("pods", "default", "kept", {"metadata": {"finalizers": None}})
    assert emulator.get("pods", "default", "kept") is None

    owner = emulator.create("deployments", "default", {"metadata": {"name": "e"}, "spec": {}})
    reference = {**reference, "name": "e", "uid": owner["metadata"]["uid"]}
    emulator.create("pods", "default", make_pod("orphan", ownerReferences=[reference]))
    emulator.delete("deployments", "default", "e", propagation_policy="Orphan")
    orphan = emulator.get("pods", "default", "orphan")
    assert orphan is not None and "ownerReferences" not in orphan["metadata"]

    emulator.create("namespaces", None, {"metadata": {"name": "scratch"}})
    emulator.create("configmaps", "scratch", {"metadata": {"name": "c"}})
    emulator.delete("namespaces", None, "scratch")
    assert emulator.list("configmaps", "scratch") == [] and emulator.get("namespaces", None, "scratch") is None


def test_raw_watch_resume_filtering_and_expiry(emulator: KubernetesEmulator) -> None:
    emulator.create("pods", "default", make_pod("a", {"app": "x"}))
    since = emulator.store.resource_version
    emulator.create("pods", "default", make_pod("b", {"app": "x"}))
    emulator.patch("pods", "default", "a", {"metadata": {"labels": {"app": "y"}}})

    def stream(params: dict[str, str]) -> list[tuple[str, str]]:
        with http_client(emulator) as client, client.stream(
                "GET", "/api/v1/pods", params={"watch": "1", "timeoutSeconds": "1", **params}) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            return [(e["type"], e["object"]["metadata"].get("name", e["object"].get("reason")))
                    for e in map(json.loads, response.iter_lines())]

    assert stream({"labelSelector": "app=x"}) == [("ADDED", "b")]
    assert stream({"labelSelector": "app=x", "resourceVersion": str(since)}) == [("ADDED", "b"), ("DELETED", "a")]
    emulator.compact()
    assert stream({"resourceVersion": str(since)}) == [("ERROR", "Expired")]


# --------------------------------------------------------------------------- protobuf


def test_protobuf_decodes_a_captured_helm_release_secret() -> None:
    secret = protobuf.decode_object(CAPTURED_RELEASE_SECRET)
    assert secret["apiVersion"] == "v1" and secret["kind"] == "Secret" and secret["type"] == "helm.sh/release.v1"
    assert secret["metadata"] == {"name": "sh.helm.release.v1.r.v1", "labels": {
        "createdAt": "1795446231", "name": "r", "owner": "helm", "status": "pending-install", "version": "1"}}
    release = decode_release(secret)
    assert (release["name"], release["version"], release["info"]["status"]) == ("r", 1, "pending-install")
    assert protobuf.decode_object(CAPTURED_DELETE_OPTIONS) == {"apiVersion": "v1", "kind": "DeleteOptions"}


def test_protobuf_round_trips_object_meta() -> None:
    config_map = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u-1", "resourceVersion": "7", "generation": 2,
                     "creationTimestamp": "2024-05-01T12:00:00Z", "labels": {"a": "b", "empty": ""},
                     "annotations": {"note": "x"}, "finalizers": ["f"],
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "u-0",
                                          "controller": True}]},
        "data": {"k": "v"}, "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}, "immutable": True,
    }
    assert protobuf.decode_object(protobuf.encode_object(config_map)) == config_map
    with pytest.raises(protobuf.UnsupportedProtobuf):
        protobuf.decode_object(protobuf.MAGIC + protobuf.encode_field(1, protobuf.encode_field(1, "apps/v1")
                                                                      + protobuf.encode_field(2, "Deployment")))
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode_object(b"not protobuf")


def test_protobuf_post_over_http_and_unsupported_kind(emulator: KubernetesEmulator) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": {"owner": "me"}},
              "data": {"k": base64.b64encode(b"v").decode()}, "type": "Opaque"}
    headers = {"Content-Type": protobuf.PROTOBUF_CONTENT_TYPE,
               "Accept": f"{protobuf.PROTOBUF_CONTENT_TYPE}, application/json"}
    with http_client(emulator) as client:
        created = client.post("/api/v1/namespaces/default/secrets", content=protobuf.encode_object(secret),
                              headers=headers)
        assert created.status_code == 201 and created.headers["content-type"] == "application/json"
        assert created.json()["metadata"]["labels"] == {"owner": "me"}
        deployment = protobuf.MAGIC + protobuf.encode_field(1, protobuf.encode_field(1, "apps/v1")
                                                            + protobuf.encode_field(2, "Deployment"))
        rejected = client.post("/apis/apps/v1/namespaces/default/deployments", content=deployment, headers=headers)
        assert (rejected.status_code, rejected.json()["reason"]) == (415, "UnsupportedMediaType")


# --------------------------------------------------------------------------- what kubectl and client libraries read

# what kubectl sends
TABLE = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
         "application/json")


def running_pod(name: str, ready: bool, restarts: int = 0) -> dict[str, Any]:
    pod = make_pod(name, {"app": "web"})
    pod["spec"]["nodeName"] = "node-1"
    pod["status"] = {"phase": "Running", "podIP": "10.0.0.7", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}], "containerStatuses": [
        {"name": "main", "ready": ready, "restartCount": restarts, "state": {"running": {}}}]}
    return pod


def test_tables_have_the_columns_kubectl_prints(emulator: KubernetesEmulator) -> None:
    emulator.create("pods", "default", running_pod("web-1", ready=True, restarts=2))
    emulator.create("pods", "default", running_pod("web-2", ready=False))
    with http_client(emulator) as client:
        plain = client.get("/api/v1/namespaces/default/pods")
        assert plain.json()["kind"] == "PodList"  # without the Table media type: the list itself

        table = client.get("/api/v1/namespaces/default/pods", headers={"Accept": TABLE}).json()
        assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
        columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
        assert columns[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
        assert ("IP", 1) in columns and ("Node", 1) in columns
        rows = {r["cells"][0]: r for r in table["rows"]}
        assert rows["web-1"]["cells"][1:4] == ["1/1", "Running", "2"]
        assert rows["web-2"]["cells"][1] == "0/1"
        assert rows["web-1"]["cells"][5:7] == ["10.0.0.7", "node-1"]
        assert re.fullmatch(r"\d+s", rows["web-1"]["cells"][4])
        partial = rows["web-1"]["object"]
        assert partial["kind"] == "PartialObjectMetadata" and partial["metadata"]["name"] == "web-1"
        assert "spec" not in partial

        whole = client.get("/api/v1/namespaces/default/pods/web-1", params={"includeObject": "Object"},
                           headers={"Accept": TABLE}).json()
        assert len(whole["rows"]) == 1 and whole["rows"][0]["object"]["spec"]["nodeName"] == "node-1"
        accounts = client.get("/api/v1/namespaces/default/serviceaccounts", headers={"Accept": TABLE}).json()
        assert [c["name"] for c in accounts["columnDefinitions"]] == ["Name", "Age"]  # no printer: the generic one


def test_workload_tables_and_a_crds_printer_columns(emulator: KubernetesEmulator) -> None:
    deployment = {"metadata": {"name": "web"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                      {"name": "main", "image": "nginx"}]}}},
                  "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    emulator.create("deployments", "default", deployment)
    template = deployment["spec"]["template"]
    emulator.create("jobs", "default", {"metadata": {"name": "once"}, "spec": {"template": template},
                                        "status": {"succeeded": 1, "startTime": "2026-01-01T00:00:00Z",
                                                   "completionTime": "2026-01-01T00:03:00Z", "conditions": [
                                                       {"type": "Complete", "status": "True"}]}})
    crd = ResourceType("example.com", "v1", "widgets", "widget", "Widget", printer_columns=(
        PrinterColumn("desired", ".spec.size", "integer"),
        PrinterColumn("state", '.status.conditions[?(@.type=="Ready")].status')))
    emulator.register(crd)
    emulator.create(crd, "default", {"metadata": {"name": "w"}, "spec": {"size": 4},
                                     "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    with http_client(emulator) as client:
        def table(path: str) -> dict[str, Any]:
            return client.get(path, headers={"Accept": TABLE}).json()

        deployments = table("/apis/apps/v1/namespaces/default/deployments")
        assert [c["name"] for c in deployments["columnDefinitions"] if c["priority"] == 0] == [
            "Name", "Ready", "Up-to-date", "Available", "Age"]
        assert deployments["rows"][0]["cells"][:4] == ["web", "2/3", 3, 2]
        assert deployments["rows"][0]["cells"][7] == "app=web"
        jobs = table("/apis/batch/v1/namespaces/default/jobs")
        assert [c["name"] for c in jobs["columnDefinitions"] if c["priority"] == 0] == [
            "Name", "Status", "Completions", "Duration", "Age"]
        assert jobs["rows"][0]["cells"][:4] == ["once", "Complete", "1/1", "3m"]  # completions defaulted to 1
        widgets = table("/apis/example.com/v1/namespaces/default/widgets")
        assert [c["name"] for c in widgets["columnDefinitions"]] == ["Name", "desired", "state", "Age"]
        assert widgets["rows"][0]["cells"][:3] == ["w", 4, "True"]


def test_a_table_watch_sends_one_row_per_event(emulator: KubernetesEmulator) -> None:
    emulator.create("pods", "default", running_pod("web-1", ready=True))
    with http_client(emulator) as client, client.stream(
            "GET", "/api/v1/namespaces/default/pods", params={"watch": "1", "timeoutSeconds": "2"},
            headers={"Accept": TABLE}) as stream:
        emulator.create("pods", "default", running_pod("web-2", ready=False))
        events = [json.loads(line) for line in stream.iter_lines() if line]
    assert [(e["type"], e["object"]["kind"], e["object"]["rows"][0]["cells"][0]) for e in events] == [
        ("ADDED", "Table", "web-1"), ("ADDED", "Table", "web-2")]
    assert events[0]["object"]["columnDefinitions"] and not events[1]["object"]["columnDefinitions"]


def test_the_scale_subresource(emulator: KubernetesEmulator) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "m", "image": "nginx"}]}}}}
    path = "/apis/apps/v1/namespaces/default/deployments/web/scale"
    with http_client(emulator) as client:
        assert client.post("/apis/apps/v1/namespaces/default/deployments", json=body).status_code == 201
        scale = client.get(path).json()
        assert (scale["kind"], scale["apiVersion"], scale["spec"]) == ("Scale", "autoscaling/v1", {"replicas": 1})
        assert scale["status"] == {"replicas": 0, "selector": "app=web"}

        patched = client.patch(path, json={"spec": {"replicas": 3}},
                               headers={"Content-Type": "application/merge-patch+json"})
        assert patched.status_code == 200 and patched.json()["spec"]["replicas"] == 3
        deployment = emulator.get("deployments", "default", "web")
        assert deployment["spec"]["replicas"] == 3 and deployment["metadata"]["generation"] == 2

        stale = dict(scale, spec={"replicas": 5})
        assert client.put(path, json=stale).status_code == 409  # scale's resourceVersion is the object's
        fresh = dict(patched.json(), spec={"replicas": 5})
        assert client.put(path, json=fresh).json()["spec"]["replicas"] == 5
        unversioned = {"metadata": {"name": "web"}, "spec": {"replicas": -1}}  # no resourceVersion: no check
        assert client.put(path, json=unversioned).status_code == 422
        emulator.create("jobs", "default", {"metadata": {"name": "j"}, "spec": {"template": body["spec"]["template"]}})
        assert client.get("/apis/batch/v1/namespaces/default/jobs/j/scale").status_code == 404

        apps = client.get("/apis/apps/v1").json()["resources"]
        entry = next(r for r in apps if r["name"] == "deployments/scale")
        assert (entry["group"], entry["version"], entry["kind"]) == ("autoscaling", "v1", "Scale")

    crd = ResourceType("example.com", "v1", "widgets", "widget", "Widget",
                       scale=ScaleSpec(".spec.size", ".status.size", ".status.selector"))
    emulator.register(crd)
    emulator.create(crd, "default", {"metadata": {"name": "w"}, "spec": {"size": 2},
                                     "status": {"size": 1, "selector": "widget=w"}})
    with http_client(emulator) as client:
        widget = "/apis/example.com/v1/namespaces/default/widgets/w/scale"
        assert client.get(widget).json()["status"] == {"replicas": 1, "selector": "widget=w"}
        client.patch(widget, json=[{"op": "replace", "path": "/spec/replicas", "value": 6}],
                     headers={"Content-Type": "application/json-patch+json"})
        assert emulator.get(crd, "default", "w")["spec"]["size"] == 6


def test_the_pod_log_endpoint(emulator: KubernetesEmulator) -> None:
    emulator.create("pods", "default", running_pod("one", ready=True))
    two = make_pod("two")
    two["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    emulator.create("pods", "default", two)
    logs = emulator.pod_logs
    logs.start("default", "one", "main")
    logs.append("default", "one", "main", b"a\nb\nc\n")
    base = "/api/v1/namespaces/default/pods"
    with http_client(emulator) as client:
        whole = client.get(f"{base}/one/log")
        assert (whole.status_code, whole.headers["content-type"], whole.text) == (200, "text/plain", "a\nb\nc\n")
        assert client.get(f"{base}/one/log", params={"tailLines": "2"}).text == "b\nc\n"
        assert client.get(f"{base}/one/log", params={"limitBytes": "3"}).text == "a\nb"
        assert client.get(f"{base}/one/log", params={"container": "nope"}).status_code == 400
        assert client.get(f"{base}/one/log", params={"previous": "true"}).json()["message"] == \
            'previous terminated container "main" in pod "one" not found'
        choose = client.get(f"{base}/two/log").json()["message"]
        assert choose == "a container name must be specified for pod two, choose one of: [main sidecar]"
        waiting = client.get(f"{base}/two/log", params={"container": "main"})
        assert waiting.json()["message"] == 'container "main" in pod "two" is waiting to start: ContainerCreating'

        logs.start("default", "one", "main")  # a restart: the old log becomes the previous one
        assert client.get(f"{base}/one/log", params={"previous": "true"}).text == "a\nb\nc\n"
        logs.append("default", "one", "main", b"first\n")

        def later() -> None:
            time.sleep(0.3)
            logs.append("default", "one", "main", b"second\n")
            logs.close("default", "one", "main")

        threading.Thread(target=later).start()
        with client.stream("GET", f"{base}/one/log", params={"follow": "true"}) as stream:
            pieces = list(stream.iter_bytes())
        assert b"".join(pieces) == b"first\nsecond\n" and len(pieces) >= 2  # streamed, not sent at the end


def test_registry_defaults_clients_read(emulator: KubernetesEmulator) -> None:
    def pod(name: str, resources: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": {"name": name},
                "spec": {"containers": [{"name": "m", "image": "x", "resources": resources}]}}

    equal = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}}
    with http_client(emulator) as client:
        for name, resources, qos in (("g", equal, "Guaranteed"), ("b", {"requests": {"cpu": "1"}}, "Burstable"),
                                     ("e", {}, "BestEffort")):
            created = client.post("/api/v1/namespaces/default/pods", json=pod(name, resources)).json()
            assert created["status"]["qosClass"] == qos
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "x"}]}}}}
        created = client.post("/apis/batch/v1/namespaces/default/jobs", json=job).json()
    uid = created["metadata"]["uid"]
    assert created["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert created["spec"]["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "j", "controller-uid": uid,
        "job-name": "j"}
    spec = created["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)


def test_recorded_events_are_counted_and_selectable(emulator: KubernetesEmulator) -> None:
    pod = emulator.create("pods", "default", make_pod("p"))
    recorder = EventRecorder(emulator, "kubelet", "node-1")
    recorder.record(pod, "Normal", "Pulled", 'Container image "busybox" already present on machine',
                    "spec.containers{main}")
    recorder.record(pod, "Warning", "BackOff", "Back-off restarting failed container main")
    recorder.record(pod, "Warning", "BackOff", "Back-off restarting failed container main")
    selector = f"involvedObject.name=p,involvedObject.namespace=default,involvedObject.uid={pod['metadata']['uid']}"
    with http_client(emulator) as client:
        events = client.get("/api/v1/namespaces/default/events", params={"fieldSelector": selector}).json()["items"]
        table = client.get("/api/v1/namespaces/default/events", headers={"Accept": TABLE}).json()
    assert sorted((e["reason"], e["count"], e["type"]) for e in events) == [
        ("BackOff", 2, "Warning"), ("Pulled", 1, "Normal")]
    pulled = next(e for e in events if e["reason"] == "Pulled")
    assert pulled["involvedObject"]["fieldPath"] == "spec.containers{main}"
    assert pulled["source"] == {"component": "kubelet", "host": "node-1"}
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == [
        "Last Seen", "Type", "Reason", "Object", "Message"]
    assert {tuple(r["cells"][1:4]) for r in table["rows"]} == {("Normal", "Pulled", "pod/p"),
                                                               ("Warning", "BackOff", "pod/p")}

# --------------------------------------------------------------------------- expiring exec credentials

KUBECTL = shutil.which("kubectl", path=f"/usr/bin{os.pathsep}{os.environ.get('PATH', '')}")
LIFETIME_S = 2


@pytest.fixture
def expiring() -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator(token_lifetime=LIFETIME_S) as server:
        yield server


def exec_credential(emulator: KubernetesEmulator) -> dict[str, Any]:
    """Run the kubeconfig's exec plugin as client-go does, and parse what it prints."""
    plugin = emulator.kubeconfig()["users"][0]["user"]["exec"]
    env = {**os.environ, **{e["name"]: e["value"] for e in plugin["env"]}}
    done = subprocess.run([plugin["command"], *plugin["args"]], capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_exec_plugin_prints_an_expiring_exec_credential(expiring: KubernetesEmulator) -> None:
    user = expiring.kubeconfig()["users"][0]["user"]
    assert "token" not in user and user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1"
    assert expiring.issuer is not None and expiring.issuer.client_secret not in json.dumps(user)  # no secret in argv
    started = time.time()
    credential = exec_credential(expiring)
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1" and credential["kind"] == "ExecCredential"
    finished = time.time()
    expires = dt.datetime.strptime(credential["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    # the issuer's time plus the lifetime, to the second
    assert started + LIFETIME_S - 1 < expires.replace(tzinfo=dt.timezone.utc).timestamp() <= finished + LIFETIME_S
    assert exec_credential(expiring)["status"]["token"] != credential["status"]["token"]  # a new token each run
    assert expiring.tokens_issued == 2


def test_an_expired_token_is_refused_with_401_but_an_open_watch_goes_on(expiring: KubernetesEmulator) -> None:
    token = exec_credential(expiring)["status"]["token"]
    context = ssl.create_default_context(cadata=expiring.ca_pem.decode())
    with httpx.Client(base_url=expiring.url, verify=context, headers={"Authorization": f"Bearer {token}"},
                      timeout=10) as client:
        assert client.get("/api/v1/namespaces/default/configmaps").status_code == 200
        with client.stream("GET", "/api/v1/namespaces/default/configmaps", params={"watch": "1"}) as watch:
            time.sleep(LIFETIME_S + 1.5)  # the token expires (with the server's leeway for requests in flight)
            refused = client.get("/api/v1/namespaces/default/configmaps")
            assert (refused.status_code, refused.json()) == (401, {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
            # a watch is authorized once, when it opens, as by a real API server
            expiring.apply("configmaps", "default", {"metadata": {"name": "after-expiry"}})
            event = json.loads(next(watch.iter_lines()))
            assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "after-expiry")
    assert expiring.unauthorized == 1
    # the issuer's endpoint needs no bearer token, but the plugin's client secret
    anonymous = httpx.post(expiring.url + "/emulated-issuer/token", data={"client_secret": "guess"}, verify=context)
    assert anonymous.status_code == 401 and expiring.tokens_issued == 1


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")
def test_kubectl_runs_the_exec_plugin_again_once_a_token_expired(expiring: KubernetesEmulator,
                                                                 tmp_path: Path) -> None:
    kubeconfig = expiring.write_kubeconfig(tmp_path / "kubeconfig")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(kubeconfig)}

    def kubectl(*args: str) -> str:
        done = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "kube-system" in kubectl("get", "namespaces")
    time.sleep(LIFETIME_S + 1.5)
    kubectl("create", "configmap", "later", "--from-literal=a=b")
    assert expiring.get("configmaps", "default", "later")["data"] == {"a": "b"}
    assert expiring.tokens_issued == 2 and expiring.unauthorized == 0  # kubectl trusts the stated expiry


def test_a_json_patch_replace_of_a_missing_key_adds_it_as_the_api_server_does(emulator: KubernetesEmulator) -> None:
    """The API server keeps evanphx/json-patch v4's leniency (kubernetes/kubernetes#102467), which
    Ray's autoscaler relies on for a worker group's scaleStrategy."""
    emulator.create("configmaps", "default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    with http_client(emulator) as client:
        answer = client.patch("/api/v1/namespaces/default/configmaps/c", headers={
            "Content-Type": "application/json-patch+json"}, json=[{"op": "replace", "path": "/data/b", "value": "2"}])
        assert answer.status_code == 200, answer.text
        missing_index = client.patch("/api/v1/namespaces/default/configmaps/c", headers={
            "Content-Type": "application/json-patch+json"}, json=[{"op": "remove", "path": "/data/zzz"}])
        assert missing_index.status_code == 422
    assert emulator.get("configmaps", "default", "c")["data"] == {"a": "1", "b": "2"}


def test_a_client_certificate_of_the_clusters_ca_authenticates(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    """A user who is no service account is not restricted by RBAC (see test_rbac.py for those)."""
    cert, key = emulator.client_certificate("jane", ("developers",))
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    (tmp_path / "ca.crt").write_bytes(emulator.ca_pem)
    url = f"{emulator.url}/api/v1/namespaces/default/pods"
    trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    with httpx.Client(verify=trusting) as anonymous:
        assert anonymous.get(url).status_code == 401
    trusting.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    with httpx.Client(verify=trusting) as client:
        assert client.get(url).status_code == 200


# --------------------------------------------------------------------------- port-forward

FORWARD = "/api/v1/namespaces/default/pods/{}/portforward"
# a WebSocket handshake's request headers, for requests the server refuses (no 101 to read frames from)
WEBSOCKET_HEADERS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                     "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode()}


def opening_frames(port: int, index: int = 0) -> list[bytes]:
    """What the server sends first for the index-th port: the port on its data and error channels."""
    return [bytes([2 * index]) + port.to_bytes(2, "little"), bytes([2 * index + 1]) + port.to_bytes(2, "little")]


class _Echo(socketserver.BaseRequestHandler):
    server: EchoServer

    def handle(self) -> None:
        with self.server.lock:
            self.server.accepted += 1
            self.server.open += 1
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass
        finally:
            with self.server.lock:
                self.server.open -= 1


class EchoServer(socketserver.ThreadingTCPServer):
    """A pod's port on 127.0.0.1 that sends back what it gets, counting connections made and still open."""

    daemon_threads = True

    def __init__(self) -> None:
        self.accepted = 0
        self.open = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Echo)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def forwarded_pod(name: str) -> dict[str, Any]:
    """A pod bound to a node (the API server refuses to forward to one that is not) with port 8265."""
    pod = make_pod(name)
    pod["spec"]["nodeName"] = "emulated-node"
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 8265}]
    return pod


def echo_through(port: int, payload: bytes) -> bytes:
    """Send ``payload`` to a local port while reading what comes back (at once: a large payload
    echoed would otherwise stall on full buffers), until as much has come back or the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        sender = threading.Thread(target=connection.sendall, args=(payload,))
        sender.start()
        received = bytearray()
        while len(received) < len(payload) and (chunk := connection.recv(1 << 20)):
            received += chunk
        sender.join()
    return bytes(received)


def read_to_end(port: int, request: bytes) -> bytes:
    """Send ``request`` to a local port and read until the other side closes (a timeout fails the test)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        received = bytearray()
        while chunk := connection.recv(65536):
            received += chunk
    return bytes(received)


def channel_data(ws: httpx_ws.WebSocketSession, size: int, channel: int = 0) -> bytes:
    """``size`` bytes of one channel's frames (the echo may come back in pieces)."""
    received = bytearray()
    while len(received) < size:
        frame = ws.receive_bytes(timeout=5)
        assert frame[0] == channel, frame
        received += frame[1:]
    return bytes(received)


def test_kr8s_portforward_carries_each_connection_to_the_pods_port(emulator: KubernetesEmulator,
                                                                    kubeconfig: Path) -> None:
    """kr8s opens one WebSocket per local connection; each is one connection to the pod's port."""
    emulator.create("pods", "default", forwarded_pod("web"))
    asked: list[tuple[str, str, int]] = []
    payload = os.urandom(1 << 20)  # a client message spans many socket reads; the echo, many 32 KiB frames
    with closing(EchoServer()) as echo:
        def resolve(namespace: str, name: str, port: int) -> tuple[str, int]:
            asked.append((namespace, name, port))
            return echo.server_address

        emulator.port_forward_resolver = resolve

        async def scenario() -> tuple[bytes, bytes]:
            api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
            pod = await Pod.get("web", api=api)
            async with PortForward(pod, 8265, local_port="auto") as port:
                hello = await asyncio.to_thread(echo_through, port, b"hello")
                large = await asyncio.to_thread(echo_through, port, payload)
            return hello, large

        hello, large = run_async(scenario())
        assert hello == b"hello"
        assert large == payload, f"{len(large)} of {len(payload)} bytes came back"
        assert echo.accepted == 2 and asked == [("default", "web", 8265)] * 2
        emulator.wait_for(lambda: echo.open == 0, timeout=5)  # each ended with its client's connection
    forwards = emulator.requests("GET", path=r"/pods/web/portforward$")
    assert [(r.status, r.query["ports"]) for r in forwards] == [(101, "8265")] * 2


def test_portforward_refusals_read_as_the_api_servers(emulator: KubernetesEmulator) -> None:
    emulator.create("pods", "default", forwarded_pod("web"))
    emulator.create("pods", "default", make_pod("unscheduled"))
    with http_client(emulator) as client:
        def forward(name: str, ports: str | None = "8265", upgrade: bool = True) -> tuple[int, str]:
            answer = client.get(FORWARD.format(name), params={"ports": ports} if ports is not None else {},
                                headers=WEBSOCKET_HEADERS if upgrade else {})
            return answer.status_code, answer.json()["message"]

        assert forward("nope") == (404, 'pods "nope" not found')
        assert forward("unscheduled") == (400, "pod unscheduled does not have a host assigned")
        assert forward("web", upgrade=False) == (400, "Upgrade request required")
        assert forward("web", ports=None) == (400, 'query parameter "port" is required')
        assert forward("web", ports="8265,0") == (400, 'unable to parse "8265,0" as a port')
        spdy = client.post(FORWARD.format("web"), headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
        assert spdy.status_code == 400 and "not SPDY/3.1" in spdy.json()["message"]  # kubectl's fallback
        assert client.delete(FORWARD.format("web")).status_code == 405
    assert emulator.port_forward_resolver is None  # nothing set it: the emulator has no kubelet of its own


def service_account_client(emulator: KubernetesEmulator, tmp_path: Path) -> httpx.Client:
    """An HTTPS client with the certificate of service account default/robot, as a pod's containers have."""
    cert, key = emulator.client_certificate("system:serviceaccount:default:robot", ("system:serviceaccounts",))
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    context = ssl.create_default_context(cadata=emulator.ca_pem.decode())
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    return httpx.Client(base_url=emulator.url, verify=context, timeout=10)


def grant_robot(emulator: KubernetesEmulator, name: str, verbs: list[str]) -> None:
    rbac = "rbac.authorization.k8s.io"
    emulator.create(f"roles.{rbac}", "default", {"metadata": {"name": name}, "rules": [
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": verbs}]})
    emulator.create(f"rolebindings.{rbac}", "default", {
        "metadata": {"name": name}, "roleRef": {"apiGroup": rbac, "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]})


def test_a_service_account_may_portforward_only_with_create_on_pods_portforward(emulator: KubernetesEmulator,
                                                                                 tmp_path: Path) -> None:
    """The upgrade is a GET, yet RBAC asks for create (AuthorizePodWebsocketUpgradeCreatePermission)."""
    emulator.create("pods", "default", forwarded_pod("web"))
    with closing(EchoServer()) as echo, service_account_client(emulator, tmp_path) as client:
        emulator.port_forward_resolver = lambda namespace, name, port: echo.server_address
        refused = client.get(FORWARD.format("web"), params={"ports": "8265"}, headers=WEBSOCKET_HEADERS)
        grant_robot(emulator, "getter", ["get"])
        get_only = client.get(FORWARD.format("web"), params={"ports": "8265"}, headers=WEBSOCKET_HEADERS)
        grant_robot(emulator, "forwarder", ["create"])
        with httpx_ws.connect_ws(FORWARD.format("web"), client, params={"ports": "8265"},
                                 subprotocols=["base64.channel.k8s.io", "v4.channel.k8s.io"]) as ws:
            opened = [ws.receive_bytes(timeout=5) for _ in range(2)]
            ws.send_bytes(b"\x00ping")
            echoed = channel_data(ws, 4)
            protocol = ws.subprotocol
    assert (refused.status_code, refused.json()["message"]) == (403, (
        'pods "web" is forbidden: User "system:serviceaccount:default:robot" cannot create resource '
        '"pods/portforward" in API group "" in the namespace "default"'))
    assert get_only.status_code == 403 and emulator.forbidden == 2
    assert (opened, echoed, protocol) == (opening_frames(8265), b"ping", "v4.channel.k8s.io")


def test_portforward_to_a_port_nothing_listens_on_reports_on_its_error_channel(emulator: KubernetesEmulator,
                                                                                kubeconfig: Path) -> None:
    """As the kubelet does when it cannot connect: the opening frames, the error, then Close."""
    emulator.create("pods", "default", forwarded_pod("web"))
    emulator.port_forward_resolver = lambda namespace, name, port: None
    with http_client(emulator) as client, httpx_ws.connect_ws(FORWARD.format("web"), client,
                                                              params={"ports": "8265"}) as ws:
        frames = [ws.receive_bytes(timeout=5) for _ in range(3)]
        with pytest.raises(httpx_ws.WebSocketDisconnect) as closed:
            ws.receive_bytes(timeout=5)
    assert frames[:2] == opening_frames(8265) and closed.value.code == 1000
    assert frames[2].startswith(b"\x01error forwarding port 8265 to pod default/web, uid ")
    assert frames[2].endswith(b"dial tcp4 127.0.0.1:8265: connect: connection refused")

    async def through_kr8s() -> bytes:
        api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
        pod = await Pod.get("web", api=api)
        async with PortForward(pod, 8265, local_port="auto") as port:
            return await asyncio.to_thread(read_to_end, port, b"hello")

    assert run_async(through_kr8s()) == b""  # kr8s reads the error channel and closes the local connection


def test_portforward_of_several_ports_gives_each_channels_of_its_own(emulator: KubernetesEmulator) -> None:
    """Port i has channels 2i (data) and 2i+1 (errors); a port that refuses does not end the others."""
    emulator.create("pods", "default", forwarded_pod("web"))
    with socket.socket() as unused, closing(EchoServer()) as echo:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connecting to it is refused
        targets = {8265: echo.server_address, 9000: unused.getsockname()}
        emulator.port_forward_resolver = lambda namespace, name, port: targets[port]
        with http_client(emulator) as client, httpx_ws.connect_ws(FORWARD.format("web"), client,
                                                                  params={"ports": "8265,9000"}) as ws:
            opened = [ws.receive_bytes(timeout=5) for _ in range(5)]
            ws.send_bytes(b"\x02to the refused port: dropped")
            ws.send_bytes(b"\x00still here")
            echoed = channel_data(ws, 10)
    assert opened[:4] == opening_frames(8265) + opening_frames(9000, 1)
    assert opened[4].startswith(b"\x03error forwarding port 9000") and b"connection refused" in opened[4].lower()
    assert echoed == b"still here"


def test_stopping_the_emulator_ends_open_portforwards_at_once() -> None:
    with closing(EchoServer()) as echo:
        emulator = KubernetesEmulator().start()
        try:
            emulator.create("pods", "default", forwarded_pod("web"))
            emulator.port_forward_resolver = lambda namespace, name, port: echo.server_address
            with http_client(emulator) as client, httpx_ws.connect_ws(FORWARD.format("web"), client,
                                                                      params={"ports": "8265"}) as ws:
                assert [ws.receive_bytes(timeout=5) for _ in range(2)] == opening_frames(8265)
                emulator.wait_for(lambda: echo.open == 1, timeout=5)
                started = time.monotonic()
                emulator.stop()
                stopped_in = time.monotonic() - started
                emulator.wait_for(lambda: echo.open == 0, timeout=5)  # the forward let go of the pod
        finally:
            emulator.stop()
    assert stopped_in < 2


# An HTTP server on the address and port the pod simulator gives the pod's --dashboard-host/--port.
SERVE_HTTP = """
import http.server, sys
flags = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"hello " + self.path.encode())
    def log_message(self, *args): pass
server = http.server.HTTPServer((flags["dashboard-host"], int(flags["port"])), Hello)
sys.stdout.write("listening\\n"); sys.stdout.flush()
server.serve_forever()
"""


def test_the_pod_simulator_resolves_portforwards_to_a_running_pods_declared_ports(
        emulator: KubernetesEmulator, kubeconfig: Path) -> None:
    environment = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with PodSimulator(emulator, environment) as simulator:
        assert emulator.port_forward_resolver == simulator.port_forward_address
        emulator.create("pods", "default", {"metadata": {"name": "web"}, "spec": {"containers": [
            {"name": "c", "image": "python", "ports": [{"containerPort": 8265}],
             "command": ["python", "-c", SERVE_HTTP, "--port=8265", "--dashboard-host=0.0.0.0"]}]}})
        emulator.wait_for(lambda: b"listening" in emulator.pod_logs.read("default", "web", "c"), timeout=20)
        pod = simulator.pods[("default", "web")]
        assert pod.ports[8265] != 8265  # mapped to a free port: the forward must find it
        assert simulator.port_forward_address("default", "web", 8265) == (pod.ip, pod.ports[8265])
        assert simulator.port_forward_address("default", "web", 9999) is None  # not declared
        assert simulator.port_forward_address("default", "nope", 8265) is None

        async def get_through_forward() -> bytes:
            api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
            web = await Pod.get("web", api=api)
            async with PortForward(web, 8265, local_port="auto") as port:
                return await asyncio.to_thread(read_to_end, port, b"GET /x HTTP/1.0\r\n\r\n")

        answer = run_async(get_through_forward())  # the server closes after answering: so does the forward
        assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"hello /x"), answer
        emulator.delete("pods", "default", "web")
        emulator.wait_for(lambda: simulator.port_forward_address("default", "web", 8265) is None, timeout=5)
    assert emulator.port_forward_resolver is None
