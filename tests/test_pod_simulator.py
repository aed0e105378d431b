"""The pod simulator on its own: its Job and Deployment controllers (parallelism, lost pods replaced
and counted, backoffLimit, status), its kubelet (container status, logs, events), and the cluster
as kubectl and the official Python client see it."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k8s.emulator import KubernetesEmulator
from tests.pod_simulator import RAY_AGENT_LISTEN_PORT, PodSimulator, RunningPod

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


def status_of(api: KubernetesEmulator, resource: str, name: str) -> dict:
    return (api.get(resource, "default", name) or {}).get("status") or {}


def test_job_status_counts_live_and_ready_pods_not_the_parallelism() -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        never_ready = job(parallelism=2, backoff_limit=3)
        never_ready["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"exec": {"command": ["false"]}}
        api.create("jobs", "default", never_ready)
        api.wait_for(lambda: status_of(api, "jobs", "workers").get("active") == 2)
        api.flush()
        status = status_of(api, "jobs", "workers")
        assert status["ready"] == 0 and "failed" not in status and status["uncountedTerminatedPods"] == {}
        assert status["startTime"]

        api.patch("jobs", "default", "workers", {"spec": {"parallelism": 0}})
        api.wait_for(lambda: pods_of(api) == [])
        api.flush()
        assert "active" not in status_of(api, "jobs", "workers")  # nothing live: the count is gone, as int32 omitempty

        capped = job(parallelism=3, backoff_limit=3)  # two completions to go: two pods, not three
        capped["metadata"]["name"] = "capped"
        capped["spec"]["completions"] = 2
        api.create("jobs", "default", capped)
        api.wait_for(lambda: status_of(api, "jobs", "capped").get("ready") == 2)
        api.flush()
        assert status_of(api, "jobs", "capped")["active"] == 2 and len(pods_of(api)) == 2


def test_jobs_end_complete_or_failed_with_their_conditions_and_events() -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        done = job(parallelism=1, backoff_limit=0)
        done["metadata"]["name"] = "done"
        done["spec"]["completions"] = 2
        done["spec"]["template"]["spec"].update(restartPolicy="Never")
        done["spec"]["template"]["spec"]["containers"][0]["command"] = ["true"]
        failing = job(parallelism=1, backoff_limit=1)
        failing["spec"]["template"]["spec"].update(restartPolicy="Never")
        failing["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", "exit 3"]
        api.create("jobs", "default", done)
        api.create("jobs", "default", failing)

        complete = api.wait_for(lambda: [c for c in status_of(api, "jobs", "done").get("conditions") or []
                                         if c["type"] == "Complete"], timeout=20)
        assert complete[0]["status"] == "True"
        status = status_of(api, "jobs", "done")
        assert status["succeeded"] == 2 and "active" not in status and status["completionTime"]
        failed = api.wait_for(lambda: [c for c in status_of(api, "jobs", "workers").get("conditions") or []
                                       if c["type"] == "Failed"], timeout=20)
        assert failed[0]["reason"] == "BackoffLimitExceeded"
        assert status_of(api, "jobs", "workers")["failed"] == 2
        ended = [p for p in api.list("pods", "default", label_selector="job-name=workers")]
        assert {p["status"]["phase"] for p in ended} == {"Failed"}
        terminated = ended[0]["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
        api.flush()
        reasons = {(e["involvedObject"]["name"], e["reason"]) for e in api.list("events", "default")}
        assert {("workers", "BackoffLimitExceeded"), ("done", "Completed"), ("done", "SuccessfulCreate")} <= reasons


def test_a_finished_job_with_a_ttl_is_deleted_with_what_it_owns_and_one_without_is_kept() -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        expiring = job(parallelism=1, backoff_limit=0)
        expiring["spec"]["ttlSecondsAfterFinished"] = 2
        expiring["spec"]["template"]["spec"].update(restartPolicy="Never")
        expiring["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", "exit 1"]
        kept = job(parallelism=1, backoff_limit=0)
        kept["metadata"]["name"] = "kept"
        kept["spec"]["template"]["spec"] = expiring["spec"]["template"]["spec"]
        created = api.create("jobs", "default", expiring)
        api.create("jobs", "default", kept)
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "workers", "uid": created["metadata"]["uid"]}
        api.create("configmaps", "default", {"metadata": {"name": "owned", "ownerReferences": [owner]}})

        failed_at = api.wait_for(lambda: [c["lastTransitionTime"] for c in status_of(api, "jobs", "workers")
                                          .get("conditions") or [] if c["type"] == "Failed"], timeout=20)
        assert api.get("jobs", "default", "workers") is not None  # finished, not yet expired
        api.wait_for(lambda: api.get("jobs", "default", "workers") is None, timeout=20)
        assert api.get("configmaps", "default", "owned") is None  # the garbage collector took it first
        assert [p for p in api.list("pods", "default") if p["metadata"]["labels"].get("job-name") == "workers"] == []
        assert failed_at and (status_of(api, "jobs", "kept").get("failed") == 1)
        assert api.get("jobs", "default", "kept") is not None  # no TTL: kept


def deployment(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "command": ["sleep", "300"]}]}}}}


def test_deployment_status_follows_its_pods_and_scale() -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        api.create("deployments", "default", deployment(2))
        api.wait_for(lambda: status_of(api, "deployments", "web").get("availableReplicas") == 2)
        api.flush()
        status = status_of(api, "deployments", "web")
        assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == (2, 2, 2)
        assert status["observedGeneration"] == 1
        assert {c["type"]: c["reason"] for c in status["conditions"]} == {
            "Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}

        api.patch("deployments", "default", "web", {"spec": {"replicas": 1}})
        api.wait_for(lambda: status_of(api, "deployments", "web").get("replicas") == 1)
        assert status_of(api, "deployments", "web")["observedGeneration"] == 2


def test_the_kubelet_reports_containers_logs_and_events_as_a_real_one() -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        api.create("deployments", "default", deployment(1))
        pod = api.wait_for(lambda: [p for p in api.list("pods", "default") if any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])])[0]
        name = pod["metadata"]["name"]
        status = pod["status"]
        assert {"hostIP", "podIP", "startTime", "qosClass", "phase"} <= set(status)
        assert {c["type"] for c in status["conditions"]} == {
            "PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"}
        container = status["containerStatuses"][0]
        assert container["imageID"].startswith("docker.io/library/nginx@sha256:")
        assert container["containerID"].startswith("containerd://") and container["started"] is True
        assert container["state"]["running"]["startedAt"]
        assert pod["spec"]["nodeName"] == "emulated-node" and api.get("nodes", None, "emulated-node")

        api.delete("pods", "default", name)
        api.flush()
        api.wait_for(lambda: [e for e in api.list("events", "default") if e["reason"] == "Killing"])
        events = api.list("events", "default", field_selector=f"involvedObject.name={name}")
        assert [e["reason"] for e in sorted(events, key=lambda e: e["metadata"]["name"])] == [
            "Scheduled", "Pulled", "Created", "Started", "Killing"]
        assert api.list("events", "default", field_selector="involvedObject.kind=Deployment")


def test_container_output_streams_to_the_log_endpoint() -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        talker = job(parallelism=1, backoff_limit=0)
        talker["spec"]["template"]["spec"]["containers"][0]["command"] = [
            "sh", "-c", "echo one; sleep 1; echo two; sleep 300"]
        api.create("jobs", "default", talker)
        name = api.wait_for(lambda: pods_of(api))[0]
        logs = api.pod_logs
        api.wait_for(lambda: logs.read("default", name, "w") == b"one\n")  # before the container ends
        api.wait_for(lambda: logs.read("default", name, "w") == b"one\ntwo\n", timeout=5)


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (the tests install none); it is optional")
def test_kubectl_shows_what_it_shows_on_a_real_cluster(tmp_path: Path) -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        env = {"KUBECONFIG": str(api.write_kubeconfig(tmp_path / "kubeconfig")), "HOME": str(tmp_path)}

        def kubectl(*args: str) -> str:
            done = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=30)
            assert done.returncode == 0, done.stderr
            return done.stdout

        talker = deployment(1)
        talker["spec"]["template"]["spec"]["containers"][0]["command"] = ["sh", "-c", "echo hello; exec sleep 300"]
        api.create("deployments", "default", talker)
        api.create("jobs", "default", job(parallelism=2, backoff_limit=1))
        api.wait_for(lambda: status_of(api, "deployments", "web").get("readyReplicas") == 1)
        api.wait_for(lambda: status_of(api, "jobs", "workers").get("ready") == 2)

        pods = kubectl("get", "pods", "-o", "wide").splitlines()
        assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                                   "READINESS", "GATES"]
        assert all(re.search(r"1/1\s+Running\s+0\s+\S+\s+127\.\S+\s+emulated-node", line) for line in pods[1:])
        assert kubectl("get", "deployments").splitlines()[1].split()[:4] == ["web", "1/1", "1", "1"]
        assert kubectl("get", "jobs").splitlines()[1].split()[:3] == ["workers", "Running", "0/1"]
        assert kubectl("logs", "deployment/web") == "hello\n"
        assert "deployment.apps/web scaled" in kubectl("scale", "deployment/web", "--replicas=2")
        api.wait_for(lambda: status_of(api, "deployments", "web").get("readyReplicas") == 2)
        assert re.search(r"Normal\s+SuccessfulCreate\s+job/workers\s+Created pod: workers-", kubectl("get", "events"))
        described = kubectl("describe", "pod", "-l", "app=web")
        assert "QoS Class:" in described and re.search(r"Normal\s+Started\s+\S+\s+kubelet\s+Started container web",
                                                       described)


@pytest.mark.skipif(importlib.util.find_spec("kubernetes") is None,
                    reason="the official kubernetes client is not installed (it must not enter the project's venv)")
def test_the_official_python_client_reads_pods_and_workloads(tmp_path: Path) -> None:
    from kubernetes import client, config

    with KubernetesEmulator() as api, PodSimulator(api):
        api.create("deployments", "default", deployment(1))
        api.wait_for(lambda: status_of(api, "deployments", "web").get("readyReplicas") == 1)
        config.load_kube_config(str(api.write_kubeconfig(tmp_path / "kubeconfig")))
        core, apps = client.CoreV1Api(), client.AppsV1Api()
        pod = core.list_namespaced_pod("default").items[0]
        assert pod.status.container_statuses[0].image_id and pod.status.qos_class == "BestEffort"
        assert apps.read_namespaced_deployment("web", "default").status.available_replicas == 1
        assert apps.read_namespaced_deployment_scale("web", "default").status.selector == "app=web"
        assert core.list_node().items[0].metadata.name == "emulated-node"


def test_the_kubelet_runs_any_pod_as_kuberay_writes_it_sidecars_included(tmp_path: Path) -> None:
    """A pod nobody's controller made, with KubeRay's shapes: a shell command line, ``$(VAR)`` from
    the downward API, a Service's cluster DNS name, and a second container with the API's address."""
    with KubernetesEmulator() as api, PodSimulator(api) as simulator:
        api.create("services", "default", {"metadata": {"name": "head-svc"}, "spec": {
            "clusterIP": "None", "selector": {"app": "head"}, "ports": [{"name": "gcs", "port": 6379}]}})
        script = "sleep 0.1; echo $RAY_CLUSTER_NAME $POD && sleep 60"
        api.create("pods", "default", {"metadata": {"name": "head", "labels": {"app": "head", "ray.io/cluster": "rc"}},
                                       "spec": {"serviceAccountName": "rc", "containers": [
            {"name": "ray", "image": "ray", "command": ["/bin/bash", "-c", "--"], "args": [script],
             "env": [{"name": "RAY_CLUSTER_NAME", "valueFrom": {"fieldRef": {
                 "fieldPath": "metadata.labels['ray.io/cluster']"}}},
                 {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
            {"name": "side", "image": "ray", "command": ["/bin/bash", "-c"],
             "args": ["echo $(RAY_CLUSTER_NAME) $KUBERNETES_SERVICE_PORT_HTTPS $RAY_KUBERAY_CLIENT_CERT_PATH; sleep 60"],
             "env": [{"name": "RAY_CLUSTER_NAME", "value": "from-env"}]}]}})
        lines = api.wait_for(lambda: api.pod_logs.read("default", "head", "side").decode().strip() or None)
        name, port, cert = lines.split()
        assert (name, port) == ("from-env", str(api.port))
        assert b"BEGIN CERTIFICATE" in Path(cert).read_bytes()  # the service account's identity
        assert api.wait_for(lambda: api.pod_logs.read("default", "head", "ray").decode().strip()) == "rc head"
        pod = simulator.pods[("default", "head")]
        pod.ports[6379] = 16379  # as `ray start --port=6379` in its command would map it
        assert simulator._resolve("default", "head-svc.default.svc.cluster.local", 6379, wait_s=5) == \
            (pod.ip, 16379)
        api.delete("pods", "default", "head")
        api.wait_for(lambda: all(p.poll() is not None for p in [pod.process, *pod.sidecars]), timeout=30)


# this venv's python (kr8s in it) as the containers' ``python``
PYTHON_ENV = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def logs_of(api: KubernetesEmulator, pod: str, container: str, namespace: str = "default") -> str | None:
    """A container's whole output once it has ended (None before)."""
    raw = api.get("pods", namespace, pod) or {}
    ended = [s for s in (raw.get("status") or {}).get("containerStatuses") or [] if "terminated" in s["state"]]
    return api.pod_logs.read(namespace, pod, container).decode() if ended else None


def test_configmap_and_secret_volumes_are_files_at_their_mount_paths_in_commands_and_environment() -> None:
    with KubernetesEmulator() as api, PodSimulator(api):
        api.create("configmaps", "default", {"metadata": {"name": "exp"}, "data": {"a.yaml": "x: 1", "b": "bee"}})
        api.create("secrets", "default", {"metadata": {"name": "creds"}, "data": {"token": "c2VjcmV0"}})
        script = 'cat "$0"; echo; stat -c %a "$0"; cat /etc/creds/token; echo; ls /etc/opt | wc -l; echo $CFG; ls $ALL'
        api.create("pods", "default", {"metadata": {"name": "reader"}, "spec": {"restartPolicy": "Never", "volumes": [
            {"name": "cfg", "configMap": {"name": "exp", "defaultMode": 0o400,
                                          "items": [{"key": "a.yaml", "path": "conf/a.yaml"}]}},
            {"name": "all", "configMap": {"name": "exp"}},
            {"name": "opt", "configMap": {"name": "absent", "optional": True}},
            {"name": "sec", "secret": {"secretName": "creds"}}], "containers": [
            {"name": "c", "image": "busybox", "command": ["sh", "-c", script, "/etc/exp/conf/a.yaml"],
             "env": [{"name": "CFG", "value": "/etc/exp/conf/a.yaml"}, {"name": "ALL", "value": "/etc/all"}],
             "volumeMounts": [{"name": "cfg", "mountPath": "/etc/exp"}, {"name": "all", "mountPath": "/etc/all"},
                              {"name": "opt", "mountPath": "/etc/opt"}, {"name": "sec", "mountPath": "/etc/creds"}]}]}})
        lines = api.wait_for(lambda: logs_of(api, "reader", "c"), timeout=20).splitlines()
        assert lines[:4] == ["x: 1", "400", "secret", "0"]  # items and defaultMode; the optional one empty
        assert lines[4].endswith("/volumes/reader/cfg/conf/a.yaml") and not lines[4].startswith("/etc/")
        assert lines[5:] == ["a.yaml", "b"]  # every key when no items are given

        api.create("pods", "default", {"metadata": {"name": "blocked"}, "spec": {
            "volumes": [{"name": "cfg", "configMap": {"name": "nope"}}], "containers": [
                {"name": "c", "image": "busybox", "command": ["true"],
                 "volumeMounts": [{"name": "cfg", "mountPath": "/etc/exp"}]}]}})
        waiting = api.wait_for(lambda: ((api.get("pods", "default", "blocked").get("status") or {})
                                        .get("containerStatuses") or [{}])[0].get("state", {}).get("waiting"))
        assert waiting == {"reason": "CreateContainerConfigError", "message": 'configmap "nope" not found'}


KR8S_SCRIPT = """
import asyncio, os, kr8s.asyncio
async def main():
    api = await kr8s.asyncio.api()
    names = sorted([pod.name async for pod in api.get("pods")])
    print(api.namespace, os.environ["KUBERNETES_SERVICE_PORT"], *names)
asyncio.run(main())
"""


def test_a_pod_with_a_service_account_reaches_the_api_with_kr8s_by_its_kubeconfig() -> None:
    with KubernetesEmulator(namespaces=("default", "team")) as api, PodSimulator(api, PYTHON_ENV):
        api.create("pods", "default", {"metadata": {"name": "elsewhere"}, "spec": {"containers": [
            {"name": "c", "image": "busybox", "command": ["sleep", "60"]}]}})
        # the account may list pods in its namespace, as RBAC must allow
        api.create("roles", "team", {"metadata": {"name": "pod-reader"}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
        api.create("rolebindings", "team", {"metadata": {"name": "searcher"}, "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "searcher", "namespace": "team"}]})
        api.create("pods", "team", {"metadata": {"name": "search"}, "spec": {
            "serviceAccountName": "searcher", "restartPolicy": "Never", "containers": [
                {"name": "c", "image": "python", "command": ["python", "-c", KR8S_SCRIPT]}]}})
        output = api.wait_for(lambda: logs_of(api, "search", "c", "team"), timeout=30)
        # its own namespace (the kubeconfig's context), the API's port in the first container's environment
        assert output.split() == ["team", str(api.port), "search"], output
        assert api.get("pods", "team", "search")["status"]["phase"] == "Succeeded"


# retried, as a client of a Service whose pod is still starting must
FETCH = ("import sys, time, urllib.request\nfor _ in range(100):\n    try:\n        print(urllib.request.urlopen("
         "sys.argv[-1], timeout=10).read().decode()); break\n    except OSError:\n        time.sleep(0.1)")
SERVE = """
import http.server, sys
flags = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(self.path.encode())
    def log_message(self, *args): pass
http.server.HTTPServer((flags["dashboard-host"], int(flags["port"])), Echo).serve_forever()
"""


def test_service_names_in_urls_reach_the_pod_behind_the_service() -> None:
    with KubernetesEmulator() as api, PodSimulator(api, PYTHON_ENV) as simulator:
        api.create("services", "default", {"metadata": {"name": "x-head"}, "spec": {
            "selector": {"app": "head"}, "ports": [{"name": "dashboard", "port": 8265}]}})
        api.create("pods", "default", {"metadata": {"name": "head", "labels": {"app": "head"}}, "spec": {"containers": [
            {"name": "c", "image": "python", "command": ["python", "-c", SERVE, "--port=8265",
                                                          "--dashboard-host=0.0.0.0"]}]}})
        script = (f"python -c '{FETCH}' http://x-head:8265/script ; python -c '{FETCH}' \"$RAY_DASHBOARD_ADDRESS/env\""
                  " ; echo $OTHER")
        api.create("pods", "default", {"metadata": {"name": "client"}, "spec": {"restartPolicy": "Never", "containers": [
            {"name": "shell", "image": "python", "command": ["/bin/bash", "-ce", "--"], "args": [script],
             "env": [{"name": "RAY_DASHBOARD_ADDRESS", "value": "http://x-head:8265"},
                     {"name": "OTHER", "value": "http://127.0.0.1:9/x http://nowhere:9000/y"}]},
            {"name": "args", "image": "python", "command": ["python", "-c", FETCH, "--address",
                                                             "http://x-head.default.svc.cluster.local:8265/arg"]}]}})
        output = api.wait_for(lambda: logs_of(api, "client", "shell"), timeout=30)
        assert output.splitlines() == ["/script", "/env", "http://127.0.0.1:9/x http://nowhere:9000/y"], output
        assert api.wait_for(lambda: api.pod_logs.read("default", "client", "args").decode().strip()) == "/arg"
        # the URL names the Service's own address (kube-proxy's), not the pod's: the client started
        # at once, and reached the pod once it was ready
        service_ip = simulator.cluster_ips[("default", "x-head")][8265].ip
        head = simulator.pods[("default", "head")]
        assert service_ip != head.ip
        started = [arg for argv in simulator.argv_history() for arg in argv]
        assert any(f"http://{service_ip}:8265/script" in arg for arg in started), started
        assert not any(f"http://{head.ip}:8265" in arg for arg in started), started


def test_each_ray_node_gets_its_own_job_agent_port_as_its_own_loopback_would_give_it() -> None:
    """Ray's job agent also listens on 127.0.0.1, which the pods here share: two nodes on its
    default port would leave one without an agent (a head's Jobs API then never takes a job)."""
    with KubernetesEmulator() as api, PodSimulator(api) as simulator:
        agent_ports = []
        for name, argv in (("head", ["ray", "start", "--head", "--block"]),
                           ("worker", ["ray", "start", f"--dashboard-agent-listen-port={RAY_AGENT_LISTEN_PORT}"])):
            pod = RunningPod("default", name, name, f"127.0.0.{len(agent_ports) + 2}")
            rewritten = simulator._rewrite(pod, argv)
            flags = [arg for arg in rewritten if arg.startswith("--dashboard-agent-listen-port=")]
            assert flags == [f"--dashboard-agent-listen-port={pod.ports[RAY_AGENT_LISTEN_PORT]}"]
            agent_ports.append(pod.ports[RAY_AGENT_LISTEN_PORT])
            shutil.rmtree(pod.temp_dir, ignore_errors=True)
        assert len(set(agent_ports)) == 2 and RAY_AGENT_LISTEN_PORT not in agent_ports


def test_a_shell_script_s_background_commands_and_service_names_are_run_as_a_kubelet_would() -> None:
    """``cmd &`` separates statements; Service names resolve in any simple command (as cluster DNS
    would); shell syntax is left alone."""
    with KubernetesEmulator() as api, PodSimulator(api) as simulator:
        api.create("services", "default", {"metadata": {"name": "head-svc"}, "spec": {
            "selector": {"app": "head"}, "ports": [{"name": "gcs", "port": 6379}]}})
        head = RunningPod("default", "head", "head", "127.0.0.2", ports={6379: 16379},
                          process=subprocess.Popen(["sleep", "30"]))
        simulator.pods[("default", "head")] = head
        api.create("pods", "default", {"metadata": {"name": "head", "labels": {"app": "head"}},
                                       "spec": {"containers": [{"name": "ray", "image": "ray"}]}})
        pod = RunningPod("default", "worker", "worker", "127.0.0.3")
        script = ("trap 'kill %1 2>/dev/null; exit 143' TERM; ray start --address=head-svc:6379 --block & "
                  "python -m watch --address=head-svc:6379 2>&1 & wait -n; code=$?; exit $code")
        (rewritten,) = simulator._rewrite_command(pod, ["/bin/bash", "-c", "--", script])[3:]
        assert rewritten.startswith("trap 'kill %1 2>/dev/null; exit 143' TERM;")
        assert f"--address=127.0.0.2:16379 --block &" in rewritten
        assert "python -m watch --address=head-svc:6379 2>&1 &" in rewritten  # a redirection: left alone
        assert rewritten.endswith("; code=$?; exit $code")
        assert simulator._rewrite_statement(pod, " python -m watch --address=head-svc.default:6379 ") == \
            " python -m watch --address=127.0.0.2:16379 "
        head.process.kill()
        head.process.wait()
        shutil.rmtree(pod.temp_dir, ignore_errors=True)
