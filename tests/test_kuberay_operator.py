"""The emulated KubeRay operator reconciles the RayCluster the chart renders as KubeRay v1.7.0 does,
and every object it makes passes the platform policy and the API's schema."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from tests.cluster.chart import needs_helm, render
from tests.cluster.test_chart import VALID
from tests.k8s.crds import install_kuberay_crds
from tests.k8s.emulator import ApiError, KubernetesEmulator
from tests.k8s.policy import PlatformPolicy
from tests.kuberay_operator import KubeRayOperator, ray_start_params

pytestmark = needs_helm
NAMESPACE = "gw-albert"


@pytest.fixture
def kuberay() -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator(namespaces=("default", NAMESPACE)) as api:
        api.store.admission.append(PlatformPolicy(user_namespace=NAMESPACE))
        install_kuberay_crds(api)
        with KubeRayOperator(api):
            yield api


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
    assert kinds == {"RayCluster", "Secret", "Service"}
    raycluster = objects[("RayCluster", "tune-abc")]
    spec = raycluster["spec"]
    assert spec["rayVersion"] == "2.60.0" and spec["enableInTreeAutoscaling"] is True
    assert spec["authOptions"] == {"mode": "token", "secretName": "tune-abc-ray-auth"}
    (group,) = spec["workerGroupSpecs"]
    assert (group["minReplicas"], group["replicas"], group["maxReplicas"]) == (0, 3, 3)
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] == 60
    assert objects[("Service", "tune-abc-client")]["spec"]["selector"] == {
        "ray.io/cluster": "tune-abc", "ray.io/node-type": "head"}


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
