"""The emulated Kubernetes cluster (API server, pod simulator, kubeconfig): a context manager, and a
pytest fixture on it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes_validate
import pytest

from aframe_tune.cluster.names import is_release_name
from tests.k8s.crds import install_kuberay_crds
from tests.k8s.emulator import Event, KubernetesEmulator
from tests.k8s.policy import PlatformPolicy
from tests.kuberay_operator import KubeRayOperator
from tests.pod_simulator import PodSimulator

INSTANCE = "app.kubernetes.io/instance"
# the user's own namespace, their kube context's; "default" is not theirs on a shared cluster
USER_NAMESPACE = "gw-albert"
KUBERNETES_VERSION = "1.32"  # the emulator's
SCHEMA_CHECKED = ("pods", "services", "secrets", "configmaps", "jobs", "deployments")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# The kube credential expires, as a kubelogin/OIDC token does on a shared cluster (within the
# hour there): a remote search outlives several (it takes 30 s or more here), and helm, kr8s and
# the run lock must renew them.
TOKEN_LIFETIME_S = 10


@dataclass
class EmulatedCluster:
    """One emulated cluster and how a client reaches it.

    It runs under a shared GPU cluster's rules (``tests/k8s/policy.py``): the user writes only to
    their namespace, the one their kube context names, and every workload is checked. The kube
    context's user is an exec credential plugin whose tokens last ``TOKEN_LIFETIME_S``.
    """

    api: KubernetesEmulator
    pods: PodSimulator
    kubeconfig: Path
    policy: PlatformPolicy
    namespace: str = USER_NAMESPACE
    backend: str = "chart"
    schema_problems: list[str] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    def head_workload(self, release: str) -> str:
        """The object, as ``kind/name``, whose controller makes the release's head pod (a RayJob's
        RayCluster has a generated name, and the RayJob's labels)."""
        if self.backend != "kuberay":
            return f"jobs/{release}-head"
        clusters = [obj["metadata"]["name"] for obj in self.api.list("rayclusters", self.namespace)
                    if (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/instance") == release]
        return f"rayclusters/{clusters[0] if clusters else release}"

    def search_object(self, release: str) -> str:
        """The object, as ``kind/name``, that a release's search lives by: its RayJob or its search Job."""
        return f"rayjobs/{release}" if self.backend == "kuberay" else f"jobs/{release}-search"

    def check_schemas(self) -> None:
        """Check every built-in object created from now on against Kubernetes' own schema (strict:
        no unknown fields), as ``kubectl apply --validate=strict`` would; see :attr:`schema_problems`.
        Custom resources are checked by the emulator itself, against their CRD."""
        def check(event: Event) -> None:
            if event.type != "ADDED":
                return
            obj = {k: v for k, v in event.object.items() if k != "status"}
            obj.setdefault("apiVersion", event.resource.api_version)
            obj.setdefault("kind", event.resource.kind)
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                self.schema_problems.append(f"{event.resource.kind}/{event.name}: {error.message}")

        self.api.subscribe(check, SCHEMA_CHECKED)

    def admitted_ray_nodes(self) -> set[str]:
        """Which of ``head``/``worker``/``search`` the policy admitted, as the Jobs that make their
        pods or, for KubeRay's head and workers, as the pods its operator made."""
        jobs = [name[len("Job/"):] for name in self.policy.admitted if name.startswith("Job/")]
        if self.backend != "kuberay":
            return {name.split("-")[-1] for name in jobs}
        # KubeRay's Jobs are RayJob submitters, named as the RayJob (the release): the search's pod
        nodes = {"search" for name in jobs if is_release_name(name)}
        pods = [name for name in self.policy.admitted if name.startswith("Pod/")]
        return nodes | {node for node in ("head", "worker") if any(f"-{node}-" in name for name in pods)}

    def release_objects(self, kinds=("deployments", "jobs", "pods", "services", "secrets", "configmaps",
                                     "serviceaccounts", "roles", "rolebindings")) -> list[str]:
        """Every object of aframe-tune's releases (and run locks) still in the cluster, including
        helm's records."""
        if self.backend == "kuberay":
            kinds = ("rayjobs", "rayclusters", *kinds)
        left = []
        for kind in kinds:
            for obj in self.api.list(kind):
                metadata = obj["metadata"]
                labels = metadata.get("labels") or {}
                if labels.get("app.kubernetes.io/part-of") == "aframe-tune" or labels.get("owner") == "helm":
                    left.append(f"{kind}/{metadata['name']}")
        return left


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Remember each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def cluster_backend() -> str:
    """What the emulated cluster offers: ``chart`` (plain Kubernetes) or ``kuberay`` (KubeRay's CRDs and
    its emulated operator, which ``backend = auto`` then picks). Parametrize it to run a test on both."""
    return "chart"


@contextlib.contextmanager
def running_emulated_cluster(directory: Path, backend: str = "chart",
                             pod_env: dict[str, str] | None = None) -> Iterator[EmulatedCluster]:
    """An emulated cluster of ``backend`` (``chart`` or ``kuberay``) for as long as the block runs,
    its kubeconfig written in ``directory``; ``pod_env``: more environment for every container."""
    base_env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/root"),
        **(pod_env or {}),
    }
    policy = PlatformPolicy(user_namespace=USER_NAMESPACE)
    with KubernetesEmulator(namespaces=(*SYSTEM_NAMESPACES, USER_NAMESPACE), token_lifetime=TOKEN_LIFETIME_S) as api, \
            PodSimulator(api, base_env) as pods, contextlib.ExitStack() as operator:
        api.store.admission.append(policy)
        if backend == "kuberay":
            install_kuberay_crds(api)
            operator.enter_context(KubeRayOperator(api))
        cluster = EmulatedCluster(api, pods, api.write_kubeconfig(directory / "kubeconfig", namespace=USER_NAMESPACE),
                                  policy, backend=backend)
        cluster.check_schemas()
        yield cluster


@pytest.fixture
def emulated_cluster(tmp_path: Path, request: pytest.FixtureRequest, cluster_backend: str) -> Iterator[EmulatedCluster]:
    with running_emulated_cluster(tmp_path, cluster_backend) as cluster:
        yield cluster
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            # shown by pytest under "Captured stdout teardown" of the failed test
            print(cluster.pods.failure_report())
