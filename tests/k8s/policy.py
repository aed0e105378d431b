"""The user rules of a shared GPU cluster (NRP's "Nautilus"), as a validating admission plugin.

Real clusters enforce such rules with an admission webhook (Kyverno, Gatekeeper); a denied
request fails with 403 and ``admission webhook "..." denied the request: ...``, which is what
:class:`PlatformPolicy` answers. It checks every pod spec the API receives, in Pods and in the
pod templates of workloads:

- a Deployment requests no GPU (Deployments are for services; compute runs under Jobs);
- every container, init containers included, sets CPU and memory requests and limits;
- limits are at most 1.2 times the requests; GPU limits equal GPU requests;
- a pod has at most 8 GPUs;
- (as RBAC would) the user writes only to their own namespace.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.k8s.quantity import parse_quantity
from tests.k8s.resources import ResourceType
from tests.k8s.store import ApiError

WEBHOOK = "platform-policy.nautilus.example"
MAX_GPUS_PER_POD = 8
LIMIT_OVER_REQUEST = Decimal("1.2")
POD_TEMPLATE_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")


def is_gpu(resource: str) -> bool:
    """``nvidia.com/gpu``, ``nvidia.com/a100``, ``amd.com/gpu``: devices a pod asks for by count."""
    return resource.startswith(("nvidia.com/", "amd.com/")) or resource.endswith("/gpu")


def pod_spec_of(kind: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in POD_TEMPLATE_KINDS:
        return (spec.get("template") or {}).get("spec") or {}
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def container_problems(container: dict[str, Any], where: str) -> list[str]:
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    problems = []
    for resource in ("cpu", "memory"):
        if resource not in requests or resource not in limits:
            problems.append(f"{where} must set {resource} requests and limits")
        elif parse_quantity(limits[resource]) > LIMIT_OVER_REQUEST * parse_quantity(requests[resource]):
            problems.append(f"{where} {resource} limit {limits[resource]} is more than 1.2 times its request "
                            f"{requests[resource]}")
    for resource in sorted({*requests, *limits}):
        if is_gpu(resource) and parse_quantity(limits.get(resource, 0)) != parse_quantity(requests.get(resource, 0)):
            problems.append(f"{where} {resource} limit must equal its request")
    return problems


def gpus_of(container: dict[str, Any]) -> Decimal:
    resources = container.get("resources") or {}
    counts = {**(resources.get("requests") or {}), **(resources.get("limits") or {})}
    return sum((parse_quantity(value) for name, value in counts.items() if is_gpu(name)), Decimal(0))


class PlatformPolicy:
    """The admission plugin; ``denied`` records every refusal, ``admitted`` every pod spec let in.

    Args:
        user_namespace: the one namespace the user may write to (their own, as RBAC grants it on
            shared clusters); ``None`` for any.
    """

    def __init__(self, user_namespace: str | None = None) -> None:
        self.user_namespace = user_namespace
        self.denied: list[str] = []
        self.admitted: list[str] = []

    def problems(self, kind: str, obj: dict[str, Any]) -> list[str]:
        spec = pod_spec_of(kind, obj)
        if spec is None:
            return []
        containers = [("container", c) for c in spec.get("containers") or []]
        containers += [("init container", c) for c in spec.get("initContainers") or []]
        problems = []
        for role, container in containers:
            problems += container_problems(container, f"{role} {container.get('name', '?')}")
        gpus = sum((gpus_of(container) for _, container in containers), Decimal(0))
        if kind == "Deployment" and gpus:
            problems.append("a Deployment may not request GPUs: run GPU work under a Job")
        if gpus > MAX_GPUS_PER_POD:
            problems.append(f"a pod may have at most {MAX_GPUS_PER_POD} GPUs, not {gpus}")
        return problems

    def __call__(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        namespace = (obj.get("metadata") or {}).get("namespace")
        if rt.namespaced and self.user_namespace is not None and namespace != self.user_namespace:
            self.denied.append(f"{rt.kind} in namespace {namespace}")
            raise ApiError(403, "Forbidden", f'{rt.plural} is forbidden: User "albert.einstein" cannot create resource '
                           f'"{rt.plural}" in API group "{rt.group}" in the namespace "{namespace}"')
        problems = self.problems(rt.kind, obj)
        name = f"{rt.kind}/{(obj.get('metadata') or {}).get('name', '?')}"
        if problems:
            self.denied.append(f"{name}: {'; '.join(problems)}")
            raise ApiError(403, "Forbidden", f'admission webhook "{WEBHOOK}" denied the request: {name}: '
                           f"{'; '.join(problems)}")
        if pod_spec_of(rt.kind, obj) is not None:
            self.admitted.append(name)
