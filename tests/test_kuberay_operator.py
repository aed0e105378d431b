"""The emulated KubeRay operator reconciles the RayCluster the chart renders as KubeRay v1.7.0 does,
and every object it makes passes the platform policy and the API's schema."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cluster.chart import needs_helm, render
from tests.cluster.test_chart import VALID
from tests.k8s.crds import install_kuberay_crds
from tests.k8s.emulator import ApiError, KubernetesEmulator
from tests.k8s.policy import PlatformPolicy
from tests.kuberay_operator import KubeRayOperator, ray_start_params

pytestmark = needs_helm
NAMESPACE = "gw-albert"


def kuberay_cluster(**operator: float) -> Iterator[KubernetesEmulator]:
    """An API server with the platform's rules, KubeRay's CRDs and the emulated operator."""
    with KubernetesEmulator(namespaces=("default", NAMESPACE)) as api:
        api.store.admission.append(PlatformPolicy(user_namespace=NAMESPACE))
        install_kuberay_crds(api)
        with KubeRayOperator(api, **operator):
            yield api


@pytest.fixture
def kuberay() -> Iterator[KubernetesEmulator]:
    yield from kuberay_cluster()


def rendered(**worker: object) -> dict[str, dict]:
    values = copy.deepcopy(VALID)
    values["backend"] = "kuberay"
    values["worker"].update(worker)
    return render(values)


def apply_release(api: KubernetesEmulator, objects: dict[tuple[str, str], dict]) -> dict:
    for (kind, _name), obj in objects.items():
        if kind == "Secret":
            api.create("secrets", NAMESPACE, obj, admit=True)
    (raycluster,) = [o for (kind, _), o in objects.items() if kind == "RayCluster"]
    return api.create("rayclusters", NAMESPACE, raycluster, admit=True)


def pods(api: KubernetesEmulator, node_type: str) -> list[dict]:
    return [p for p in api.list("pods", NAMESPACE) if p["metadata"]["labels"].get("ray.io/node-type") == node_type]


def test_the_chart_renders_a_raycluster_and_no_workload_of_its_own() -> None:
    objects = rendered()
    kinds = {kind for kind, _ in objects}
    assert kinds == {"RayCluster", "Secret"}  # KubeRay makes the head's Service; none faces outside
    raycluster = objects[("RayCluster", "tune-abc")]
    spec = raycluster["spec"]
    assert spec["rayVersion"] == "2.60.0" and spec["enableInTreeAutoscaling"] is True
    assert spec["authOptions"] == {"mode": "token", "secretName": "tune-abc-ray-auth"}
    (group,) = spec["workerGroupSpecs"]
    assert (group["minReplicas"], group["replicas"], group["maxReplicas"]) == (0, 3, 3)
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] == 60


def test_pods_service_and_status_follow_kuberay(kuberay: KubernetesEmulator) -> None:
    apply_release(kuberay, rendered(replicas=2, gpus=1, cpus=4, memory="8G"))
    kuberay.wait_for(lambda: len(pods(kuberay, "worker")) == 2 and pods(kuberay, "head"))
    (head,) = pods(kuberay, "head")
    labels = head["metadata"]["labels"]
    assert head["metadata"]["name"].startswith("tune-abc-head-")
    assert labels["ray.io/cluster"] == "tune-abc" and labels["ray.io/group"] == "headgroup"
    assert labels["app.kubernetes.io/created-by"] == "kuberay-operator"
    assert labels["app.kubernetes.io/instance"] == "tune-abc"  # the template's own labels are kept
    ray = head["spec"]["containers"][0]
    assert ray["command"] == ["/bin/bash", "-c", "--"]
    assert ray["args"][0].startswith("ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; ray start --head --block")
    assert "--num-cpus=0" in ray["args"][0] and "--no-monitor" in ray["args"][0]
    assert [c["name"] for c in head["spec"]["containers"]] == ["ray-head", "autoscaler"]
    worker = pods(kuberay, "worker")[0]
    assert worker["metadata"]["name"].startswith("tune-abc-workers-worker-")
    args = worker["spec"]["containers"][0]["args"][0]
    assert "--address=tune-abc-head-svc.gw-albert.svc.cluster.local:6379" in args
    assert "--num-gpus=1" in args and "--memory=8000000000" in args
    assert [c["name"] for c in worker["spec"]["initContainers"]] == ["wait-gcs-ready"]
    env = {e["name"]: e for e in ray["env"]}
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "tune-abc-ray-auth", "key": "auth_token"}
    service = kuberay.get("services", NAMESPACE, "tune-abc-head-svc")
    assert service["spec"]["clusterIP"] == "None"
    status = kuberay.wait_for(lambda: (kuberay.get("rayclusters", NAMESPACE, "tune-abc").get("status") or None))
    assert status["desiredWorkerReplicas"] == 2 and status["desiredGPU"] == "2"
    assert status["head"]["serviceName"] == "tune-abc-head-svc"


def test_the_autoscalers_service_account_role_and_binding_follow_kuberay(kuberay: KubernetesEmulator) -> None:
    """KubeRay v1.7.0's common/rbac.go: what the head's autoscaler sidecar may do, owned by the RayCluster."""
    apply_release(kuberay, rendered(replicas=1, gpus=0, cpus=1, memory="1G"))
    kuberay.wait_for(lambda: pods(kuberay, "head"))
    rbac = "rbac.authorization.k8s.io"
    account = kuberay.get("serviceaccounts", NAMESPACE, "tune-abc")
    role = kuberay.get(f"roles.{rbac}", NAMESPACE, "tune-abc")
    binding = kuberay.get(f"rolebindings.{rbac}", NAMESPACE, "tune-abc")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
        {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]}]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tune-abc", "namespace": NAMESPACE}]
    assert binding["roleRef"] == {"apiGroup": rbac, "kind": "Role", "name": "tune-abc"}
    raycluster = kuberay.get("rayclusters", NAMESPACE, "tune-abc")
    for obj in (account, role, binding):
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("RayCluster", raycluster["metadata"]["uid"], True)
        assert obj["metadata"]["labels"]["ray.io/cluster"] == "tune-abc"
    assert pods(kuberay, "head")[0]["spec"]["serviceAccountName"] == "tune-abc"
    kuberay.delete("rayclusters", NAMESPACE, "tune-abc")
    kuberay.wait_for(lambda: kuberay.get(f"roles.{rbac}", NAMESPACE, "tune-abc") is None
                     and kuberay.get("serviceaccounts", NAMESPACE, "tune-abc") is None)


def test_a_head_service_account_the_template_names_must_exist(kuberay: KubernetesEmulator) -> None:
    objects = rendered(replicas=1, gpus=0, cpus=1, memory="1G")
    (raycluster,) = [o for (kind, _), o in objects.items() if kind == "RayCluster"]
    raycluster["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "mine"
    apply_release(kuberay, objects)
    failed = kuberay.wait_for(lambda: (kuberay.get("rayclusters", NAMESPACE, "tune-abc").get("status") or {}).get(
        "reason"))
    assert "ServiceAccount mine is not found" in failed and not pods(kuberay, "head")
    kuberay.create("serviceaccounts", NAMESPACE, {"metadata": {"name": "mine"}})
    kuberay.patch("rayclusters", NAMESPACE, "tune-abc", {"metadata": {"labels": {"retry": "1"}}})
    (head,) = kuberay.wait_for(lambda: pods(kuberay, "head"))
    assert head["spec"]["serviceAccountName"] == "mine"
    binding = kuberay.get("rolebindings.rbac.authorization.k8s.io", NAMESPACE, "tune-abc")
    assert binding["subjects"][0]["name"] == "mine"


def test_scale_down_by_workers_to_delete_and_replicas(kuberay: KubernetesEmulator) -> None:
    apply_release(kuberay, rendered(replicas=3, gpus=0, cpus=1, memory="1G"))
    kuberay.wait_for(lambda: len(pods(kuberay, "worker")) == 3)
    victim = pods(kuberay, "worker")[0]["metadata"]["name"]
    raycluster = kuberay.get("rayclusters", NAMESPACE, "tune-abc")
    group = raycluster["spec"]["workerGroupSpecs"][0]
    # as Ray's autoscaler scales down: one JSON patch of replicas and workersToDelete
    kuberay.patch("rayclusters", NAMESPACE, "tune-abc", [
        {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 2},
        {"op": "add", "path": "/spec/workerGroupSpecs/0/scaleStrategy", "value": {"workersToDelete": [victim]}},
    ], patch_type="json")
    kuberay.wait_for(lambda: victim not in [p["metadata"]["name"] for p in pods(kuberay, "worker")])
    assert len(pods(kuberay, "worker")) == 2
    assert group["minReplicas"] == 0


def test_the_operators_pods_pass_the_policy_or_the_cluster_says_why(kuberay: KubernetesEmulator) -> None:
    objects = rendered(replicas=1, gpus=1, cpus=2, memory="4G")
    raycluster = objects[("RayCluster", "tune-abc")]
    worker = raycluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    worker["resources"]["limits"]["cpu"] = "8"  # over 1.2 x the request: the platform refuses the pod
    apply_release(kuberay, objects)
    kuberay.wait_for(lambda: pods(kuberay, "head"))
    status = kuberay.wait_for(lambda: next((c for c in (kuberay.get("rayclusters", NAMESPACE, "tune-abc").get(
        "status") or {}).get("conditions") or [] if c["type"] == "ReplicaFailure"), None))
    assert "cpu limit 8 is more than 1.2 times its request 2" in status["message"]
    assert pods(kuberay, "worker") == []


def test_an_invalid_raycluster_is_refused_by_the_crd_schema(kuberay: KubernetesEmulator) -> None:
    raycluster = rendered()[("RayCluster", "tune-abc")]
    raycluster["spec"]["workerGroupSpecs"][0]["replicas"] = "three"
    with pytest.raises(ApiError) as refused:
        kuberay.create("rayclusters", NAMESPACE, raycluster, admit=True)
    assert refused.value.code == 422


def test_ray_start_params_take_resources_from_the_limits() -> None:
    params = ray_start_params("worker", {}, {"limits": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"}},
                              "h:6379", False)
    assert params == {"address": "h:6379", "block": "true", "dashboard-agent-listen-port": "52365",
                      "metrics-export-port": "8080", "num-cpus": "2", "memory": str(2**30), "num-gpus": "1"}
    a100 = ray_start_params("worker", {}, {"limits": {"nvidia.com/a100": "1"}}, "h:6379", False)
    assert "num-gpus" not in a100  # KubeRay knows GPUs by names ending in "gpu": the chart passes num-gpus


@pytest.mark.parametrize("cluster_backend", ["chart", "kuberay"])
def test_every_object_of_a_release_passes_the_policy_and_the_schemas(emulated_cluster, cluster_backend: str) -> None:
    """What a remote search deploys, rendered as TuneRemote renders it (GPUs of their own resource
    name, git-sync, W&B), and the pods made of it, pass the platform's rules and Kubernetes' and
    KubeRay's schemas. (Pods are made but not run: the simulator's kubelet is stopped.)"""
    api = emulated_cluster.api
    emulated_cluster.pods.stop()
    values = copy.deepcopy(VALID)
    values.update(backend=cluster_backend, wandb={"apiKey": "k" * 40}, gitSync={
        "repo": "git@github.com:a/b.git", "ref": "main", "sshKey": "key", "knownHosts": "github.com ssh-ed25519 AAAA"})
    values["worker"].update(gpus=8, gpuResource="nvidia.com/a100")
    for obj in render(values).values():
        plural = {"RayCluster": "rayclusters", "Job": "jobs", "Service": "services", "Secret": "secrets"}[obj["kind"]]
        api.create(plural, emulated_cluster.namespace, obj, admit=True)
    if cluster_backend == "kuberay":
        api.wait_for(lambda: len(api.list("pods", emulated_cluster.namespace)) == 4)  # head and 3 workers
    api.flush()
    assert emulated_cluster.policy.denied == [] and emulated_cluster.schema_problems == []
    # the checker does catch what a real server's strict validation refuses
    api.create("configmaps", emulated_cluster.namespace, {"metadata": {"name": "c"}, "data": {"a": 1}})
    api.flush()
    assert emulated_cluster.schema_problems and "ConfigMap/c" in emulated_cluster.schema_problems[0]


# ---------------------------------------------------------------------- RayJob (KubeRay's RayJob controller)

EQUAL = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
ENTRYPOINT = "python -c \"print('hi')\""


@pytest.fixture
def rayjobs() -> Iterator[KubernetesEmulator]:
    """The operator with quick requeues, and no dashboard: outcomes come from the submitter Job."""
    yield from kuberay_cluster(requeue_s=0.2)


def rayjob_manifest(name: str = "search", **spec: object) -> dict:
    head = {"name": "ray-head", "image": "rayproject/ray:2.60.0", "resources": EQUAL,
            "ports": [{"name": "gcs-server", "containerPort": 6379}, {"name": "dashboard", "containerPort": 8265}]}
    submitter = {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "submitter", "image": "rayproject/ray:2.60.0", "resources": EQUAL}]}}
    body = {"entrypoint": ENTRYPOINT, "shutdownAfterJobFinishes": True, "submitterPodTemplate": submitter,
            "rayClusterSpec": {"rayVersion": "2.60.0", "headGroupSpec": {
                "rayStartParams": {}, "template": {"spec": {"containers": [head]}}}}}
    body.update(spec)
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name, "labels": {"team": "a"}},
            "spec": {k: v for k, v in body.items() if v is not None}}


def rayjob_status(api: KubernetesEmulator, name: str = "search") -> dict:
    return (api.get("rayjobs", NAMESPACE, name) or {}).get("status") or {}


def cluster_ready(api: KubernetesEmulator, name: str = "search") -> dict:
    """Mark the RayJob's cluster ready by hand (no pods run here) until the RayJob is Running."""
    cluster = api.wait_for(lambda: rayjob_status(api, name).get("rayClusterName"))
    api.wait_for(lambda: (api.get("rayclusters", NAMESPACE, cluster) or {}).get("status"))

    def running() -> bool:
        api.update_status("rayclusters", NAMESPACE, cluster, {"state": "ready"})
        return rayjob_status(api, name).get("jobDeploymentStatus") == "Running"
    api.wait_for(running, interval=0.3)
    return api.get("rayclusters", NAMESPACE, cluster)


def finish_submitter(api: KubernetesEmulator, condition: str, name: str = "search") -> None:
    api.update_status("jobs", NAMESPACE, name, {"conditions": [
        {"type": condition, "status": "True", "reason": "BackoffLimitExceeded" if condition == "Failed" else "",
         "message": "Job has reached the specified backoff limit" if condition == "Failed" else "",
         "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]})


def test_a_rayjob_makes_its_raycluster_then_its_submitter_job(rayjobs: KubernetesEmulator) -> None:
    rayjob = rayjobs.create("rayjobs", NAMESPACE, rayjob_manifest(), admit=True)
    status = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("rayClusterName") and rayjob_status(rayjobs))
    assert status["jobDeploymentStatus"] == "Initializing" and status["startTime"]
    assert re.fullmatch(r"search-[bcdfghjklmnpqrstvwxz2456789]{5}", status["rayClusterName"])
    assert re.fullmatch(r"search-[bcdfghjklmnpqrstvwxz2456789]{5}", status["jobId"])
    cluster = rayjobs.wait_for(lambda: rayjobs.get("rayclusters", NAMESPACE, status["rayClusterName"]))
    assert cluster["metadata"]["labels"] == {"team": "a", "ray.io/originated-from-crd": "RayJob",
                                             "ray.io/originated-from-cr-name": "search",
                                             "ray.io/job-submission-mode": "K8sJobMode"}
    (owner,) = cluster["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("RayJob", "search",
                                                                                 rayjob["metadata"]["uid"], True)
    assert cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["name"] == "ray-head"
    assert rayjobs.get("jobs", NAMESPACE, "search") is None  # not before the cluster is ready
    cluster_ready(rayjobs)
    job = rayjobs.wait_for(lambda: rayjobs.get("jobs", NAMESPACE, "search"))
    status = rayjob_status(rayjobs)
    address = f"http://{status['rayClusterName']}-head-svc.{NAMESPACE}.svc.cluster.local:8265"
    assert status["dashboardURL"] == address.removeprefix("http://")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "RayJob" and job["spec"]["backoffLimit"] == 2
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    script = container["args"][0]
    assert f"if ! ray job status --address {address} {status['jobId']} >/dev/null 2>&1 ; then" in script
    assert (f"ray job submit --address {address} --no-wait --submission-id {status['jobId']} -- {ENTRYPOINT} ; fi ;"
            in script)
    assert script.endswith(f"ray job logs --address {address} --follow {status['jobId']}")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"PYTHONUNBUFFERED": "1", "RAY_DASHBOARD_ADDRESS": status["dashboardURL"],
                   "RAY_JOB_SUBMISSION_ID": status["jobId"]}
    assert job["spec"]["template"]["metadata"]["labels"]["ray.io/originated-from-cr-name"] == "search"
    service = rayjobs.wait_for(lambda: rayjobs.get("services", NAMESPACE, "search-head-svc"))
    assert service["spec"]["selector"]["ray.io/cluster"] == status["rayClusterName"]


def test_submitter_config_and_job_id_are_honoured(rayjobs: KubernetesEmulator) -> None:
    rayjobs.create("rayjobs", NAMESPACE, rayjob_manifest(jobId="mine", submitterConfig={"backoffLimit": 0}),
                   admit=True)
    cluster_ready(rayjobs)
    job = rayjobs.wait_for(lambda: rayjobs.get("jobs", NAMESPACE, "search"))
    assert job["spec"]["backoffLimit"] == 0 and rayjob_status(rayjobs)["jobId"] == "mine"


def test_the_submitters_end_ends_the_rayjob_and_shutdown_removes_the_cluster(rayjobs: KubernetesEmulator) -> None:
    rayjobs.create("rayjobs", NAMESPACE, rayjob_manifest(), admit=True)
    cluster = cluster_ready(rayjobs)["metadata"]["name"]
    assert rayjobs.list("pods", NAMESPACE, label_selector={"ray.io/cluster": cluster})  # the operator made a head
    finish_submitter(rayjobs, "Complete")
    status = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("endTime") and rayjob_status(rayjobs))
    assert (status["jobStatus"], status["jobDeploymentStatus"], status["succeeded"]) == ("SUCCEEDED", "Complete", 1)
    rayjobs.wait_for(lambda: rayjobs.get("rayclusters", NAMESPACE, cluster) is None)
    assert rayjobs.list("pods", NAMESPACE, label_selector={"ray.io/cluster": cluster}) == []
    assert rayjobs.get("rayjobs", NAMESPACE, "search") is not None  # KubeRay keeps the RayJob ...
    assert rayjobs.get("jobs", NAMESPACE, "search") is not None  # ... and the submitter, for its logs


def test_a_failed_submitter_fails_the_rayjob_and_the_cluster_stays_without_shutdown(
        rayjobs: KubernetesEmulator) -> None:
    rayjobs.create("rayjobs", NAMESPACE, rayjob_manifest(shutdownAfterJobFinishes=False), admit=True)
    cluster = cluster_ready(rayjobs)["metadata"]["name"]
    finish_submitter(rayjobs, "Failed")
    status = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("endTime") and rayjob_status(rayjobs))
    assert (status["jobStatus"], status["jobDeploymentStatus"], status["reason"]) == ("FAILED", "Failed",
                                                                                      "SubmissionFailed")
    assert "BackoffLimitExceeded" in status["message"]
    time.sleep(0.5)  # a few requeues
    assert rayjobs.get("rayclusters", NAMESPACE, cluster) is not None


def test_kuberays_default_submitter_is_refused_by_the_platform_policy(rayjobs: KubernetesEmulator) -> None:
    """KubeRay's default submitter asks 500m/200Mi and limits 1/1Gi: over the platform's 1.2 x."""
    rayjobs.create("rayjobs", NAMESPACE, rayjob_manifest(submitterPodTemplate=None), admit=True)
    cluster = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("rayClusterName"))
    rayjobs.wait_for(lambda: (rayjobs.get("rayclusters", NAMESPACE, cluster) or {}).get("status"))
    rayjobs.update_status("rayclusters", NAMESPACE, cluster, {"state": "ready"})
    message = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("message"))
    assert "container ray-job-submitter cpu limit 1 is more than 1.2 times its request 500m" in message
    assert "memory limit 1Gi is more than 1.2 times its request 200Mi" in message
    assert rayjob_status(rayjobs)["jobDeploymentStatus"] == "Initializing"
    assert rayjobs.get("jobs", NAMESPACE, "search") is None
    events = rayjobs.list("events", NAMESPACE)
    assert any(e["reason"] == "FailedToCreateRayJobSubmitter" and e["involvedObject"]["name"] == "search"
               for e in events)


def test_active_deadline_fails_the_rayjob_and_removes_its_cluster(rayjobs: KubernetesEmulator) -> None:
    rayjobs.create("rayjobs", NAMESPACE, rayjob_manifest(activeDeadlineSeconds=1), admit=True)
    cluster = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("rayClusterName"))
    rayjobs.wait_for(lambda: rayjobs.get("rayclusters", NAMESPACE, cluster))
    status = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("endTime") and rayjob_status(rayjobs))
    assert (status["jobDeploymentStatus"], status["reason"]) == ("Failed", "DeadlineExceeded")
    assert "activeDeadlineSeconds" in status["message"]
    rayjobs.wait_for(lambda: rayjobs.get("rayclusters", NAMESPACE, cluster) is None)


def test_an_invalid_rayjob_fails_validation(rayjobs: KubernetesEmulator) -> None:
    rayjobs.create("rayjobs", NAMESPACE, rayjob_manifest(suspend=True, shutdownAfterJobFinishes=False), admit=True)
    status = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("jobDeploymentStatus") and rayjob_status(rayjobs))
    assert status["jobDeploymentStatus"] == "ValidationFailed" and "suspended" in status["message"]
    assert rayjobs.list("rayclusters", NAMESPACE) == []


def test_suspend_removes_the_cluster_and_resume_makes_a_new_one(rayjobs: KubernetesEmulator) -> None:
    rayjobs.create("rayjobs", NAMESPACE, rayjob_manifest(), admit=True)
    first = cluster_ready(rayjobs)["metadata"]["name"]
    rayjobs.patch("rayjobs", NAMESPACE, "search", {"spec": {"suspend": True}})
    rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("jobDeploymentStatus") == "Suspended")
    assert rayjobs.get("rayclusters", NAMESPACE, first) is None and rayjobs.get("jobs", NAMESPACE, "search") is None
    rayjobs.patch("rayjobs", NAMESPACE, "search", {"spec": {"suspend": False}})
    second = rayjobs.wait_for(lambda: rayjob_status(rayjobs).get("rayClusterName"))
    assert second != first and rayjobs.wait_for(lambda: rayjobs.get("rayclusters", NAMESPACE, second))


class _Dashboard(BaseHTTPRequestHandler):
    """A Ray dashboard's job API that knows one job, which FAILED."""

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        known = self.path.startswith("/api/jobs/mine")
        body = json.dumps({"status": "FAILED", "message": "Job entrypoint command failed with exit code 1",
                           "start_time": 1700000000000, "end_time": 1700000005000} if known else {}).encode()
        self.send_response(200 if known else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_ray_jobs_status_comes_from_the_dashboard_when_it_answers() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Dashboard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    asked: list[tuple[str, str]] = []

    def dashboard(namespace: str, head: str) -> str:
        asked.append((namespace, head))
        return f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with KubernetesEmulator(namespaces=("default", NAMESPACE)) as api:
            install_kuberay_crds(api)
            with KubeRayOperator(api, dashboard_address=dashboard, requeue_s=0.2):
                api.create("rayjobs", NAMESPACE, rayjob_manifest(jobId="mine"), admit=True)
                cluster = cluster_ready(api)["metadata"]["name"]
                head = api.wait_for(lambda: api.list("pods", NAMESPACE, label_selector={"ray.io/cluster": cluster}))
                api.update_status("rayclusters", NAMESPACE, cluster, {"head": {"podName": head[0]["metadata"]["name"]}})
                api.wait_for(lambda: rayjob_status(api).get("jobStatus") == "FAILED")
                assert rayjob_status(api)["jobDeploymentStatus"] == "Running"  # the submitter has not ended
                finish_submitter(api, "Complete")
                status = api.wait_for(lambda: rayjob_status(api).get("endTime") and rayjob_status(api))
    finally:
        server.shutdown()
    assert (status["jobDeploymentStatus"], status["reason"]) == ("Failed", "AppFailed")
    assert status["message"] == "Job entrypoint command failed with exit code 1"
    assert status["rayJobInfo"] == {"startTime": "2023-11-14T22:13:20Z", "endTime": "2023-11-14T22:13:25Z"}
    assert (NAMESPACE, head[0]["metadata"]["name"]) in asked
