"""RBAC of the emulated API server: service accounts get what their Roles grant, over real HTTPS
with the client certificates pods get, and the refusals read as kube-apiserver writes them."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.k8s.emulator import KubernetesEmulator
from tests.k8s.rbac import request_attributes, rule_allows

pytestmark = pytest.mark.cluster

NS = "team"
SA = f"system:serviceaccount:{NS}:robot"
RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def emulator() -> Iterator[KubernetesEmulator]:
    with KubernetesEmulator(namespaces=("default", NS, "other")) as server:
        for name in ("a", "b"):
            server.create("pods", NS, {"metadata": {"name": name}, "spec": {"containers": [{"name": "c"}]}})
            server.create("pods", "other", {"metadata": {"name": name}, "spec": {"containers": [{"name": "c"}]}})
        yield server


def as_user(emulator: KubernetesEmulator, tmp_path: Path, user: str = SA,
            groups: tuple[str, ...] = ("system:serviceaccounts",)) -> httpx.Client:
    """An HTTPS client that authenticates with a client certificate, as a pod's containers do."""
    cert, key = emulator.client_certificate(user, groups)
    folder = tmp_path / user.replace(":", "_")
    folder.mkdir(exist_ok=True)
    (folder / "tls.crt").write_bytes(cert)
    (folder / "tls.key").write_bytes(key)
    context = ssl.create_default_context(cadata=emulator.ca_pem.decode())
    context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    return httpx.Client(base_url=emulator.url, verify=context, timeout=10)


def role(emulator: KubernetesEmulator, name: str, rules: list[dict[str, Any]], namespace: str | None = NS) -> None:
    kind = "Role" if namespace else "ClusterRole"
    emulator.create(f"{kind.lower()}s.{RBAC}", namespace, {"apiVersion": f"{RBAC}/v1", "kind": kind,
                                                            "metadata": {"name": name}, "rules": rules})


def bind(emulator: KubernetesEmulator, name: str, role_ref: tuple[str, str], subjects: list[dict[str, str]] | None = None,
         namespace: str | None = NS) -> None:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    subjects = subjects or [{"kind": "ServiceAccount", "name": "robot", "namespace": NS}]
    emulator.create(f"{kind.lower()}s.{RBAC}", namespace, {
        "apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": {"name": name}, "subjects": subjects,
        "roleRef": {"apiGroup": RBAC, "kind": role_ref[0], "name": role_ref[1]}})


def pods(namespace: str = NS) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def test_a_service_account_without_bindings_is_refused_with_the_real_status(emulator: KubernetesEmulator,
                                                                             tmp_path: Path) -> None:
    with as_user(emulator, tmp_path) as client:
        listing = client.get(pods())
        deleting = client.delete(pods() + "/a")
        patching = client.patch(f"/apis/apps/v1/namespaces/{NS}/deployments/web/scale", json={},
                                headers={"Content-Type": "application/merge-patch+json"})
        nodes = client.get("/api/v1/nodes")
    assert (listing.status_code, listing.json()) == (403, {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'pods is forbidden: User "{SA}" cannot list resource "pods" in API group "" '
                   f'in the namespace "{NS}"',
        "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403})
    assert deleting.json()["message"] == (f'pods "a" is forbidden: User "{SA}" cannot delete resource "pods" '
                                          f'in API group "" in the namespace "{NS}"')
    assert deleting.json()["details"] == {"name": "a", "kind": "pods"}
    assert patching.json()["message"] == (f'deployments.apps "web" is forbidden: User "{SA}" cannot patch resource '
                                          f'"deployments/scale" in API group "apps" in the namespace "{NS}"')
    assert patching.json()["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    assert nodes.json()["message"] == (f'nodes is forbidden: User "{SA}" cannot list resource "nodes" '
                                       f'in API group "" at the cluster scope')
    assert emulator.forbidden == 4 and emulator.get("pods", NS, "a") is not None


def test_discovery_is_open_to_a_service_account_but_not_other_paths(emulator: KubernetesEmulator,
                                                                     tmp_path: Path) -> None:
    with as_user(emulator, tmp_path) as client:
        for path in ("/api", "/api/v1", "/apis", f"/apis/{RBAC}/v1", "/version", "/openapi/v2"):
            assert client.get(path).status_code == 200, path
        refused = client.post("/api", json={})
    assert (refused.status_code, refused.json()["message"], refused.json()["details"]) == (
        403, f'forbidden: User "{SA}" cannot post path "/api"', {})


def test_a_role_bound_in_the_namespace_grants_its_rules_there_only(emulator: KubernetesEmulator,
                                                                    tmp_path: Path) -> None:
    role(emulator, "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])
    bind(emulator, "reader", ("Role", "reader"))
    with as_user(emulator, tmp_path) as client:
        assert [p["metadata"]["name"] for p in client.get(pods()).json()["items"]] == ["a", "b"]
        assert client.get(pods() + "/a").status_code == 200
        assert client.delete(pods() + "/a").status_code == 403  # verb not granted
        assert client.get(pods("other")).status_code == 403  # another namespace
        assert client.get(f"/api/v1/namespaces/{NS}/configmaps").status_code == 403  # another resource
        assert client.get(f"/api/v1/namespaces/{NS}/pods/a/log").status_code == 403  # a subresource


def test_a_binding_to_a_missing_role_or_another_subject_grants_nothing(emulator: KubernetesEmulator,
                                                                        tmp_path: Path) -> None:
    role(emulator, "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}])
    bind(emulator, "someone-else", ("Role", "reader"), [{"kind": "ServiceAccount", "name": "other", "namespace": NS}])
    bind(emulator, "missing", ("Role", "no-such-role"))
    bind(emulator, "elsewhere", ("Role", "reader"), [{"kind": "ServiceAccount", "name": "robot", "namespace": "other"}])
    with as_user(emulator, tmp_path) as client:
        assert client.get(pods()).status_code == 403


def test_a_cluster_role_through_a_role_binding_applies_in_that_namespace(emulator: KubernetesEmulator,
                                                                         tmp_path: Path) -> None:
    role(emulator, "pod-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], namespace=None)
    bind(emulator, "admin-here", ("ClusterRole", "pod-admin"))
    with as_user(emulator, tmp_path) as client:
        assert client.delete(pods() + "/a").status_code == 200
        assert client.get(f"/api/v1/namespaces/{NS}/configmaps").status_code == 200
        assert client.get(pods("other")).status_code == 403
        assert client.get("/api/v1/nodes").status_code == 403  # cluster-scoped: only a ClusterRoleBinding
    assert emulator.get("pods", NS, "a") is None


def test_a_cluster_role_binding_applies_everywhere(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    role(emulator, "pod-reader", [{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["list"]}],
         namespace=None)
    bind(emulator, "read-pods", ("ClusterRole", "pod-reader"), namespace=None)
    with as_user(emulator, tmp_path) as client:
        assert client.get(pods()).status_code == 200
        assert client.get(pods("other")).status_code == 200
        assert client.get("/api/v1/pods").status_code == 200
        assert client.get("/api/v1/nodes").status_code == 200
        assert client.get(pods() + "/a").status_code == 403  # get is not list


def test_resource_names_allow_only_requests_that_name_one(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    role(emulator, "one-pod", [{"apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"],
                                "verbs": ["get", "list", "delete", "create"]}])
    bind(emulator, "one-pod", ("Role", "one-pod"))
    with as_user(emulator, tmp_path) as client:
        assert client.delete(pods() + "/b").status_code == 403
        assert client.get(pods()).status_code == 403  # a list names no object
        created = client.post(pods(), json={"metadata": {"name": "a2"}, "spec": {"containers": [{"name": "c"}]}})
        assert created.status_code == 403  # nor does a create
        # a list narrowed to the name by a field selector is named, as kube-apiserver's RequestInfo has it
        assert client.get(pods(), params={"fieldSelector": "metadata.name=a"}).status_code == 200
        assert client.delete(pods() + "/a").status_code == 200
    assert emulator.get("pods", NS, "a") is None and emulator.get("pods", NS, "b") is not None


def test_a_subresource_needs_its_own_rule(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    emulator.set_pod_log(NS, "a", "hello\n")
    role(emulator, "logs", [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}])
    bind(emulator, "logs", ("Role", "logs"))
    with as_user(emulator, tmp_path) as client:
        log = client.get(pods() + "/a/log")
        assert (log.status_code, log.text) == (200, "hello\n")
        assert client.get(pods() + "/a").status_code == 403  # pods/log does not grant pods
        status = client.patch(pods() + "/a/status", json={"status": {}},
                              headers={"Content-Type": "application/merge-patch+json"})
    assert status.json()["message"] == (f'pods "a" is forbidden: User "{SA}" cannot patch resource "pods/status" '
                                        f'in API group "" in the namespace "{NS}"')


def test_watch_is_its_own_verb(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    role(emulator, "lister", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    bind(emulator, "lister", ("Role", "lister"))
    with as_user(emulator, tmp_path) as client:
        assert client.get(pods()).status_code == 200
        for params in ({"watch": "1"}, {"watch": "true"}):
            refused = client.get(pods(), params=params)
            assert refused.status_code == 403
            assert "cannot watch resource \"pods\"" in refused.json()["message"]
        role(emulator, "watcher", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]}])
        bind(emulator, "watcher", ("Role", "watcher"))
        with client.stream("GET", pods(), params={"watch": "1", "timeoutSeconds": "5"}) as watch:
            assert watch.status_code == 200
            event = json.loads(next(watch.iter_lines()))
            assert event["type"] == "ADDED"


def test_group_and_user_subjects(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    role(emulator, "reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    bind(emulator, "all-accounts", ("Role", "reader"), [{"kind": "Group", "name": "system:serviceaccounts",
                                                           "apiGroup": RBAC}])
    with as_user(emulator, tmp_path) as client:
        assert client.get(pods()).status_code == 200
    with as_user(emulator, tmp_path, groups=()) as client:  # the group comes from the certificate's O
        assert client.get(pods()).status_code == 403
    bind(emulator, "by-user-name", ("Role", "reader"), [{"kind": "User", "name": SA, "apiGroup": RBAC}])
    with as_user(emulator, tmp_path, groups=()) as client:
        assert client.get(pods()).status_code == 200


def test_the_admin_and_other_users_are_not_restricted(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    context = ssl.create_default_context(cadata=emulator.ca_pem.decode())
    with httpx.Client(base_url=emulator.url, verify=context, headers={"Authorization": f"Bearer {emulator.token}"},
                      timeout=10) as admin:
        assert admin.delete(pods() + "/a").status_code == 200
        assert admin.get("/api/v1/nodes").status_code == 200
        assert admin.get(f"/apis/{RBAC}/v1/clusterroles").json()["items"] == []
    with as_user(emulator, tmp_path, user="jane", groups=()) as jane:
        assert jane.delete(pods("other") + "/a").status_code == 200
    assert emulator.forbidden == 0


def test_rbac_kinds_are_served_in_discovery(emulator: KubernetesEmulator, tmp_path: Path) -> None:
    context = ssl.create_default_context(cadata=emulator.ca_pem.decode())
    with httpx.Client(base_url=emulator.url, verify=context, headers={"Authorization": f"Bearer {emulator.token}"},
                      timeout=10) as admin:
        groups = {g["name"] for g in admin.get("/apis").json()["groups"]}
        resources = {r["name"]: (r["kind"], r["namespaced"])
                     for r in admin.get(f"/apis/{RBAC}/v1").json()["resources"]}
        created = admin.post(f"/apis/{RBAC}/v1/namespaces/{NS}/roles", json={
            "apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "r"}, "rules": []})
    assert RBAC in groups and created.status_code == 201
    assert resources == {"roles": ("Role", True), "rolebindings": ("RoleBinding", True),
                         "clusterroles": ("ClusterRole", False),
                         "clusterrolebindings": ("ClusterRoleBinding", False)}


@pytest.mark.parametrize(("method", "path", "query", "verb", "name"), [
    ("GET", "/api/v1/namespaces/ns/pods", {}, "list", ""),
    ("GET", "/api/v1/namespaces/ns/pods", {"watch": "1"}, "watch", ""),
    ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true", "fieldSelector": "metadata.name=x"}, "watch", "x"),
    ("GET", "/api/v1/watch/namespaces/ns/pods/x", {}, "watch", "x"),
    ("GET", "/api/v1/namespaces/ns/pods/x", {"watch": "1"}, "get", "x"),  # a named GET stays get
    ("DELETE", "/apis/ray.io/v1/namespaces/ns/rayclusters", {}, "deletecollection", ""),
    ("PUT", "/apis/ray.io/v1/namespaces/ns/rayclusters/r/status", {}, "update", "r"),
])
def test_request_attributes_follow_kube_apiserver(method: str, path: str, query: dict[str, str], verb: str,
                                                   name: str) -> None:
    attributes = request_attributes(method, path, query)
    assert (attributes.verb, attributes.name, attributes.namespace) == (verb, name, "ns")


def test_rule_matching_of_wildcards_and_subresources() -> None:
    log = request_attributes("GET", "/api/v1/namespaces/ns/pods/x/log", {})
    assert rule_allows({"apiGroups": [""], "resources": ["*/log"], "verbs": ["get"]}, log)
    assert rule_allows({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, log)
    assert not rule_allows({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, log)
    assert not rule_allows({"apiGroups": ["apps"], "resources": ["pods/log"], "verbs": ["get"]}, log)
