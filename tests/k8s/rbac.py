"""RBAC for service accounts, as kube-apiserver's RBAC authorizer decides it.

A request authenticated as a service account (``system:serviceaccount:NS:NAME``, from a client
certificate the pod simulator hands a pod) is allowed only when a ClusterRoleBinding, or a
RoleBinding in the request's namespace, binds the account (or a Group it is in, or its User
name) to a Role or ClusterRole with a matching rule. Everyone else the emulator authenticates
(the test's token or exec credential, other certificate users) keeps full access, as a
cluster-admin does, so existing tests are unaffected.

What follows kube-apiserver (``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`` for the
request's attributes, ``plugin/pkg/auth/authorizer/rbac`` for the decision,
``responsewriters/errors.go`` and ``apimachinery/pkg/api/errors`` for the 403):

- verbs from the method: GET is ``get``, ``list`` (no name) or ``watch`` (no name and
  ``?watch=1|true``, or a ``/watch/`` path; a named GET with ``?watch`` stays ``get``); POST
  ``create``, PUT ``update``, PATCH ``patch``, DELETE ``delete`` or ``deletecollection`` (no name); a list or watch with ``fieldSelector=metadata.name=X`` names X;
- rules match apiGroups, resources (``pods/log``: a rule for ``pods`` does not cover it; ``*/log``
  and ``*`` do), verbs, and resourceNames (a rule that lists names never allows a request
  without one, so not a plain list, watch or create);
- non-resource URLs (discovery, ``/version``, ``/openapi``, health) are readable by every
  authenticated user, as the ``system:discovery`` and ``system:public-info-viewer`` ClusterRoles
  grant them; ClusterRoles bound cluster-wide may grant other ``nonResourceURLs``.

Not emulated: the bootstrap ClusterRoles (``view``, ``edit``...) and aggregation, escalation
checks on writes to roles and bindings, impersonation, and SubjectAccessReviews.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .resources import ResourceType
from .store import ApiError

GROUP = "rbac.authorization.k8s.io"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
AUTHENTICATED = "system:authenticated"
# What system:discovery and system:public-info-viewer grant every authenticated user (verb get).
DISCOVERY_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/",
                  "/openapi", "/openapi/*")
METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "GET": "get", "HEAD": "get"}

RBAC_RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(GROUP, "v1", "roles", "role", "Role"),
    ResourceType(GROUP, "v1", "rolebindings", "rolebinding", "RoleBinding"),
    ResourceType(GROUP, "v1", "clusterroles", "clusterrole", "ClusterRole", namespaced=False),
    ResourceType(GROUP, "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", namespaced=False),
)


@dataclass(frozen=True)
class User:
    """Who a request authenticated as: a client certificate's CN and O's, plus system:authenticated."""

    name: str
    groups: tuple[str, ...] = ()

    @property
    def is_service_account(self) -> bool:
        """Whether RBAC applies (only service accounts are restricted here)."""
        return self.name.startswith(SERVICE_ACCOUNT_PREFIX) and self.name.count(":") == 3

    def all_groups(self) -> tuple[str, ...]:
        return (*self.groups, AUTHENTICATED)


@dataclass(frozen=True)
class RequestAttributes:
    """What the authorizer sees of a request (kube-apiserver's RequestInfo)."""

    verb: str
    path: str
    resource_request: bool = False
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def combined_resource(self) -> str:
        """``pods`` or ``pods/log``: what a rule's ``resources`` is compared with."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> RequestAttributes:
    """Parse a request as RequestInfoFactory does: resource requests are ``/api/v1/...`` and
    ``/apis/G/V/...`` naming a resource; everything else (discovery included) is a non-resource URL."""
    verb = METHOD_VERBS.get(method.upper(), method.lower())
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return RequestAttributes(verb=method.lower(), path=path)
    watch_path = rest[0] == "watch"  # the deprecated /watch/ form: a watch, named or not
    if watch_path:
        rest = rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    if not rest:
        return RequestAttributes(verb=method.lower(), path=path)
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if watch_path and verb == "get":
        verb = "watch"
    elif verb == "get" and not name:  # a named GET stays "get", even with ?watch=1
        verb = "watch" if query.get("watch") in ("1", "true") else "list"
    if verb in ("list", "watch") and not name:
        name = _selected_name(query.get("fieldSelector", ""))
    elif verb == "delete" and not name:
        verb = "deletecollection"
    return RequestAttributes(verb, path, True, group, resource, subresource, namespace, name)


def _selected_name(field_selector: str) -> str:
    """The name a list or watch asks for with ``fieldSelector=metadata.name=X`` (RBAC sees it as named)."""
    for term in field_selector.split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "metadata.name":
            return value.lstrip("=").strip()
    return ""


# ----------------------------------------------------------------- rules


def _matches(patterns: Iterable[str], value: str) -> bool:
    return any(p == "*" or p == value for p in patterns)


def rule_allows(rule: Mapping[str, Any], request: RequestAttributes) -> bool:
    """Whether one PolicyRule covers the request (rbac/v1 helpers' RuleAllows)."""
    if not _matches(rule.get("verbs") or (), request.verb):
        return False
    if not request.resource_request:
        return any(url == "*" or url == request.path or (url.endswith("*") and request.path.startswith(url[:-1]))
                   for url in rule.get("nonResourceURLs") or ())
    if not _matches(rule.get("apiGroups") or (), request.group):
        return False
    resources = rule.get("resources") or ()
    if not (_matches(resources, request.combined_resource)
            or (request.subresource and f"*/{request.subresource}" in resources)):
        return False
    names = rule.get("resourceNames") or ()
    return not names or request.name in names


def subject_matches(subject: Mapping[str, Any], user: User, binding_namespace: str) -> bool:
    """Whether a binding's subject is the user (rbac's appliesToUser): a ServiceAccount without a
    namespace means one in the binding's own namespace."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.all_groups()
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"
    return False


# ----------------------------------------------------------------- the authorizer

# (resource, namespace or None) -> objects; the emulator's store behind it
Lister = Callable[[str, "str | None"], list[dict[str, Any]]]
Getter = Callable[[str, "str | None", str], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Authorizer:
    """Decides requests from the Roles and bindings stored now (nothing cached: a new binding counts at once)."""

    list_objects: Lister
    get_object: Getter

    def allows(self, user: User, request: RequestAttributes) -> bool:
        """Cluster-wide bindings first, then the request namespace's RoleBindings, as the RBAC authorizer."""
        if not request.resource_request and request.verb == "get" and any(
                rule_allows({"verbs": ["get"], "nonResourceURLs": [url]}, request) for url in DISCOVERY_URLS):
            return True
        for binding in self.list_objects("clusterrolebindings", None):
            if self._binding_allows(binding, user, request, ""):
                return True
        if not request.namespace:
            return False
        return any(self._binding_allows(binding, user, request, request.namespace)
                   for binding in self.list_objects("rolebindings", request.namespace))

    def _binding_allows(self, binding: Mapping[str, Any], user: User, request: RequestAttributes,
                        namespace: str) -> bool:
        if not any(subject_matches(s, user, namespace) for s in binding.get("subjects") or ()):
            return False
        return any(rule_allows(rule, request) for rule in self._rules(binding.get("roleRef") or {}, namespace))

    def _rules(self, role_ref: Mapping[str, Any], namespace: str) -> list[dict[str, Any]]:
        """The rules a roleRef points at; a missing role grants nothing (the binding is skipped)."""
        if role_ref.get("kind") == "ClusterRole":
            role = self.get_object("clusterroles", None, role_ref.get("name", ""))
        elif role_ref.get("kind") == "Role" and namespace:
            role = self.get_object("roles", namespace, role_ref.get("name", ""))
        else:
            role = None
        return list((role or {}).get("rules") or [])

    def authorize(self, user: User, request: RequestAttributes) -> None:
        """Raise the API server's 403 unless the user may make the request."""
        if not self.allows(user, request):
            raise forbidden(user, request)


def forbidden(user: User, request: RequestAttributes) -> ApiError:
    """The 403 ``Status`` kube-apiserver answers (responsewriters.Forbidden, apierrors.NewForbidden)."""
    if not request.resource_request:
        return ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {request.verb} path "{request.path}"',
                        {})
    where = (f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope")
    reason = (f'User "{user.name}" cannot {request.verb} resource "{request.combined_resource}" '
              f'in API group "{request.group}" {where}')
    qualified = f"{request.resource}.{request.group}" if request.group else request.resource
    subject = f'{qualified} "{request.name}"' if request.name else qualified
    details: dict[str, Any] = {}
    if request.name:
        details["name"] = request.name
    if request.group:
        details["group"] = request.group
    details["kind"] = request.resource
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {reason}", details)
