"""charts/ray-cluster rendered and linted by the real helm binary, values sent on stdin."""

from __future__ import annotations

import base64
import configparser
import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.chart import CHART, helm, needs_helm, render
from tests.pod_simulator import pid_namespace

pytestmark = needs_helm

TOKEN = "t0ken-" + "x" * 40
SECRET_KEY = "s3cret-access-key-value"
VALID: dict[str, Any] = {
    "auth": {"token": TOKEN},
    "s3": {"endpointUrl": "https://s3.example.org", "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": SECRET_KEY},
    "worker": {"replicas": 3, "gpus": 2, "cpus": 16, "memory": "64G", "minGpuMemory": 20000},
}
KNOWN_HOSTS = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
GIT = {"gitSync": {"repo": "git@github.com:albert.einstein/aframe.git", "ref": "my-feature",
                   "sshKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
                   "knownHosts": KNOWN_HOSTS}}
# the workloads, by name: Jobs, as shared GPU clusters want compute to run
WORKLOADS = {"tune-abc-head": "Job", "tune-abc-worker": "Job"}


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def pod_spec(objects: dict, name: str) -> dict:
    return objects[(WORKLOADS[name], name)]["spec"]["template"]["spec"]


def container(objects: dict, name: str) -> dict:
    return pod_spec(objects, name)["containers"][0]


def env_of(container_spec: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container_spec["env"]}


def test_objects_and_conventional_labels() -> None:
    objects = render(VALID)
    assert set(objects) == {
        ("Job", "tune-abc-head"), ("Job", "tune-abc-worker"),
        ("Service", "tune-abc-head"),
        ("Secret", "tune-abc-ray-auth"), ("Secret", "tune-abc-credentials"),
    }
    for obj in objects.values():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "tune-abc"
        assert labels["app.kubernetes.io/name"] == "ray-cluster"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_head_worker_and_services() -> None:
    objects = render(VALID)
    head = container(objects, "tune-abc-head")
    assert head["command"] == ["/bin/bash", "-c", "--"] and "ray start --head " in head["args"][0]
    assert "--ray-client-server-port=10001" in head["args"][0]
    assert head["resources"]["limits"] == {"cpu": "8", "memory": "32G"}

    worker_job = objects[("Job", "tune-abc-worker")]
    assert worker_job["spec"]["parallelism"] == 3 and "completions" not in worker_job["spec"]
    assert worker_job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    worker = container(objects, "tune-abc-worker")
    assert "--address=tune-abc-head:6379" in worker["args"][0]
    assert "--num-gpus=2" in worker["args"][0]
    assert worker["resources"]["limits"] == {"cpu": "16", "memory": "64G", "nvidia.com/gpu": "2"}
    assert worker["resources"]["requests"] == worker["resources"]["limits"]
    affinity = worker_job["spec"]["template"]["spec"]["affinity"]
    term = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [{"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["20000"]}]

    internal = objects[("Service", "tune-abc-head")]["spec"]
    assert internal["clusterIP"] == "None"
    assert {p["port"] for p in internal["ports"]} == {6379, 8265, 10001}
    # nothing faces outside the cluster: dispatch reaches the dashboard by a port-forward
    assert not [obj for (kind, _), obj in objects.items()
                if kind == "Service" and obj["spec"].get("type") in ("LoadBalancer", "NodePort")]

    for name in ("tune-abc-head", "tune-abc-worker"):
        spec = pod_spec(objects, name)
        shm = next(v for v in spec["volumes"] if v["name"] == "dshm")
        assert shm["emptyDir"]["medium"] == "Memory"
        assert {"name": "dshm", "mountPath": "/dev/shm"} in spec["containers"][0]["volumeMounts"]
        assert "initContainers" not in spec


def test_secrets_reach_pods_only_by_reference() -> None:
    objects = render(merged(VALID, {"wandb": {"apiKey": "wandb-key-value"}}))
    for name in ("tune-abc-head", "tune-abc-worker"):
        spec = pod_spec(objects, name)
        env = env_of(spec["containers"][0])
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "tune-abc-ray-auth", "key": "auth_token"}
        # S3 and W&B keys are files: Ray Tune copies AWS_*/WANDB_API_KEY variables onto worker argv
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "WANDB_API_KEY"} & set(env)
        assert env["AWS_SHARED_CREDENTIALS_FILE"]["value"] == "/etc/aframe-tune/credentials/aws-credentials"
        assert env["NETRC"]["value"] == "/etc/aframe-tune/credentials/netrc"
        assert env["AWS_ENDPOINT_URL"]["value"] == "https://s3.example.org"
        volume = next(v for v in spec["volumes"] if v["name"] == "credentials")
        assert volume["secret"] == {"secretName": "tune-abc-credentials", "defaultMode": 0o440}
        assert {"name": "credentials", "mountPath": "/etc/aframe-tune/credentials", "readOnly": True} \
            in spec["containers"][0]["volumeMounts"]
        assert spec["securityContext"] == {"fsGroup": 100}  # the image's user can read the files
    rendered = yaml.safe_dump(list(objects.values()))
    for secret in (TOKEN, SECRET_KEY, "wandb-key-value"):
        assert secret not in rendered  # only base64 in Secret data


def test_credentials_secret_holds_an_aws_credentials_file_and_a_netrc() -> None:
    objects = render(merged(VALID, {"wandb": {"apiKey": "wandb-key-value"}}))
    data = {key: base64.b64decode(value).decode()
            for key, value in objects[("Secret", "tune-abc-credentials")]["data"].items()}
    credentials = configparser.ConfigParser()
    credentials.read_string(data["aws-credentials"])
    assert dict(credentials["default"]) == {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": SECRET_KEY}
    assert data["netrc"].split() == ["machine", "api.wandb.ai", "login", "user", "password", "wandb-key-value"]
    without_wandb = render(VALID)[("Secret", "tune-abc-credentials")]["data"]
    assert set(without_wandb) == {"aws-credentials"}
    assert "NETRC" not in env_of(container(render(VALID), "tune-abc-head"))


def test_without_s3_keys_the_pods_get_no_credentials_file() -> None:
    # a dispatch whose jobs use no S3 deploys the chart without keys
    objects = render(merged(VALID, {"s3": {"endpointUrl": "", "accessKeyId": "", "secretAccessKey": ""}}))
    assert not objects[("Secret", "tune-abc-credentials")].get("data")
    for name in ("tune-abc-head", "tune-abc-worker"):
        env = env_of(container(objects, name))
        assert "AWS_SHARED_CREDENTIALS_FILE" not in env and "AWS_ENDPOINT_URL" not in env


def test_cpu_only_workers_have_no_gpu_request_or_affinity() -> None:
    objects = render(merged(VALID, {"worker": {"gpus": 0}}))
    worker_spec = pod_spec(objects, "tune-abc-worker")
    assert "affinity" not in worker_spec
    assert "nvidia.com/gpu" not in worker_spec["containers"][0]["resources"]["limits"]


def test_git_sync_clones_the_ref_into_every_pod() -> None:
    objects = render(merged(VALID, GIT))
    assert ("Secret", "tune-abc-git-ssh") in objects
    for name in ("tune-abc-head", "tune-abc-worker"):
        spec = pod_spec(objects, name)
        (init,) = spec["initContainers"]
        env = {e["name"]: e.get("value") for e in init["env"]}
        assert env["GITSYNC_SSH_KNOWN_HOSTS_FILE"] == "/etc/git-secret/known_hosts"  # host keys are checked
        assert init["resources"]["requests"] == init["resources"]["limits"] == {"cpu": "250m", "memory": "256Mi"}
        assert env["GITSYNC_REPO"] == GIT["gitSync"]["repo"] and env["GITSYNC_REF"] == "my-feature"
        assert env["GITSYNC_ONE_TIME"] == "true"
        assert env_of(spec["containers"][0])["PYTHONPATH"]["value"] == "/opt/code/repo"
        key_volume = next(v for v in spec["volumes"] if v["name"] == "git-ssh")
        assert key_volume["secret"]["secretName"] == "tune-abc-git-ssh"
    known = base64.b64decode(objects[("Secret", "tune-abc-git-ssh")]["data"]["known_hosts"]).decode()
    assert known == KNOWN_HOSTS


def test_image_and_pull_policy_are_configurable() -> None:
    objects = render(merged(VALID, {"image": {"repository": "ghcr.io/ml4gw/aframe/train", "tag": "v1", "pullPolicy": "Always"}}))
    head = container(objects, "tune-abc-head")
    assert head["image"] == "ghcr.io/ml4gw/aframe/train:v1" and head["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("values", [VALID, merged(VALID, GIT), merged(VALID, {"worker": {"gpus": 0}})],
                         ids=["default", "git-sync", "cpu-workers"])
def test_helm_lint_is_clean(values: dict[str, Any]) -> None:
    result = helm("lint", str(CHART), "--strict", values=values)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"worker": {"replicas": 0}}, "worker.replicas"),
        ({"worker": {"gpus": -1}}, "worker.gpus"),
        ({"head": {"memory": "32GB"}}, "head.memory"),
        ({"head": {"cpus": "eight"}}, "head.cpus"),
        ({"image": {"pullPolicy": "Sometimes"}}, "image.pullPolicy"),
        ({"auth": {"token": "short"}}, "auth.token"),
        ({"s3": {"secretAccessKey": ""}}, "s3.secretAccessKey"),
        ({"s3": {"accessKeyId": ""}}, "s3.accessKeyId"),
        ({"workers": {"replicas": 2}}, "workers"),
        ({"gitSync": {"repo": "git@github.com:a/b.git"}}, "sshKey"),
        ({"gitSync": {"repo": "git@github.com:a/b.git", "sshKey": "k"}}, "knownHosts"),
        ({"worker": {"gpus": 9}}, "worker.gpus"),
        ({"worker": {"gpuResource": "a100"}}, "worker.gpuResource"),
    ],
)
def test_schema_rejects_bad_values(change: dict[str, Any], complaint: str) -> None:
    result = helm("template", "tune-abc", str(CHART), values=merged(VALID, change))
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr


def test_the_gpu_resource_name_is_configurable() -> None:
    worker = container(render(merged(VALID, {"worker": {"gpuResource": "nvidia.com/a100"}})), "tune-abc-worker")
    assert worker["resources"]["requests"] == worker["resources"]["limits"] == \
        {"cpu": "16", "memory": "64G", "nvidia.com/a100": "2"}


def test_without_values_helm_lint_passes_and_a_token_is_generated() -> None:
    result = helm("lint", str(CHART), "--strict", values={})
    assert result.returncode == 0, result.stdout + result.stderr
    tokens = {base64.b64decode(render({})[("Secret", "tune-abc-ray-auth")]["data"]["auth_token"]) for _ in range(2)}
    assert len(tokens) == 2 and all(len(token) == 64 for token in tokens)  # fresh each time


@pytest.mark.parametrize("values", [VALID, merged(VALID, GIT), merged(VALID, {"worker": {"gpus": 8}})],
                         ids=["default", "git-sync", "8-gpus"])
def test_every_workload_follows_the_platform_s_rules(values: dict[str, Any]) -> None:
    from tests.k8s.policy import PlatformPolicy

    policy = PlatformPolicy()
    for (kind, name), obj in render(values).items():
        assert policy.problems(kind, obj) == [], f"{kind}/{name}"
    assert policy.problems("Deployment", {"spec": {"template": {"spec": {"containers": [
        {"name": "x", "resources": {"requests": {"cpu": "1", "memory": "1G", "nvidia.com/gpu": "1"},
                                    "limits": {"cpu": "1", "memory": "1G", "nvidia.com/gpu": "1"}}}]}}}}) != []


# ray start --block, as far as signals go: Python's default SIGTERM, which its PID namespace's
# init would ignore
FAKE_RAY = f"#!{sys.executable}\nimport time\nwhile True:\n    time.sleep(1)\n"


@pytest.mark.parametrize("name", ["tune-abc-head", "tune-abc-worker"])
def test_a_ray_pod_ends_at_once_on_the_kubelet_s_sigterm(tmp_path: Path, name: str) -> None:
    """Run as its container's first process, the head's or a worker's command ends within
    seconds of SIGTERM; one that ignored it would hold its node (a worker, its GPUs) until the
    kubelet's grace period ends."""
    namespace = pid_namespace()
    if not namespace:
        pytest.skip("no PID namespace on this machine: the command would not be its container's init")
    (tmp_path / "ray").write_text(FAKE_RAY)
    (tmp_path / "ray").chmod(0o755)
    spec = container(render(VALID), name)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    pod = subprocess.Popen([*namespace, *spec["command"], *spec.get("args", [])], env=env, start_new_session=True)
    try:
        time.sleep(2)  # the command has started Ray
        assert pod.poll() is None
        os.killpg(pod.pid, signal.SIGTERM)
        assert pod.wait(5) == 143
    finally:
        if pod.poll() is None:
            os.killpg(pod.pid, signal.SIGKILL)
            pod.wait()
