"""CustomResourceDefinitions in the emulated API server, and the KubeRay ones as test data.

``apiextensions.k8s.io/v1`` ``customresourcedefinitions`` is served like any resource. Writing a
CRD (``kubectl apply``, helm's ``crds/``, or ``emulator.apply("customresourcedefinitions", None,
crd)``) registers its served versions at once, as a real server does once the CRD is
Established: discovery lists them, and their objects are pruned, defaulted and validated
against the version's structural schema (:mod:`.schema`) on every write. The CRD's status gets
``acceptedNames``, ``storedVersions`` and the ``NamesAccepted``/``Established`` conditions.
Deleting the CRD removes its objects (finalizers or not; the real server waits for them) and
stops serving its kinds.

Simplifications: all served versions share one store (no conversion; an object read through a
non-storage version keeps the storage ``apiVersion``). ``additionalPrinterColumns`` become the
type's Table columns and ``subresources.scale`` its ``/scale`` subresource.

    install_kuberay_crds(emulator)   # RayCluster and RayJob, KubeRay v1.7.0
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .resources import PrinterColumn, Registry, ResourceType, ScaleSpec
from .schema import StructuralSchema
from .store import Event, Store, bad_request, now

KUBERAY_VERSION = "v1.7.0"
CRD_FILES = Path(__file__).parent / "crd_files"
KUBERAY_CRDS = (CRD_FILES / "ray.io_rayclusters.yaml", CRD_FILES / "ray.io_rayjobs.yaml")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader parses these 40k lines 5x faster


class CrdDefinitionCheck:
    """The CRD's own validation and defaulting (the part clients notice), as a ResourceType ``schema``."""

    def process(self, crd: dict[str, Any]) -> list[dict[str, str]]:
        spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
        names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
        causes: list[dict[str, str]] = []

        def require(path: str, present: Any) -> None:
            if not present:
                causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": path})

        require("spec.group", spec.get("group"))
        require("spec.names.plural", names.get("plural"))
        require("spec.names.kind", names.get("kind"))
        require("spec.versions", spec.get("versions"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append({"reason": "FieldValueNotSupported", "field": "spec.scope",
                           "message": f'Unsupported value: {json.dumps(spec.get("scope"))}: supported values: '
                                      '"Cluster", "Namespaced"'})
        versions = spec.get("versions") or []
        if versions and sum(1 for v in versions if v.get("storage")) != 1:
            causes.append({"reason": "FieldValueInvalid", "field": "spec.versions",
                           "message": "Invalid value: []apiextensions.CustomResourceDefinitionVersion(nil): "
                                      "must have exactly one version marked as storage version"})
        for index, version in enumerate(versions):
            require(f"spec.versions[{index}].schema.openAPIV3Schema",
                    ((version.get("schema") or {}).get("openAPIV3Schema")))
        expected = f"{names.get('plural')}.{spec.get('group')}"
        name = (crd.get("metadata") or {}).get("name")
        if not causes and name != expected:
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                           "message": f'Invalid value: {json.dumps(name)}: must be spec.names.plural+"."+spec.group'})
        if not causes:
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", f"{names['kind']}List")
            spec.setdefault("conversion", {"strategy": "None"})
            crd["status"] = established(spec, crd.get("status") or {})
        return causes


def established(spec: dict[str, Any], old_status: dict[str, Any]) -> dict[str, Any]:
    """The status a real server's CRD controllers give an accepted CRD (transition times kept)."""
    transitions = {c.get("type"): c.get("lastTransitionTime") for c in old_status.get("conditions") or []}
    return {
        "acceptedNames": copy.deepcopy(spec["names"]),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
             "lastTransitionTime": transitions.get("NamesAccepted") or now()},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted",
             "lastTransitionTime": transitions.get("Established") or now()},
        ],
        "storedVersions": sorted({*old_status.get("storedVersions", []),
                                  *(v["name"] for v in spec["versions"] if v.get("storage"))}),
    }


CRD_TYPE = ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
                        "CustomResourceDefinition", namespaced=False, short_names=("crd", "crds"),
                        categories=("api-extensions",), status_subresource=True, generation=True,
                        schema=CrdDefinitionCheck())


@functools.lru_cache(maxsize=32)
def _compile(fingerprint: str, schema_json: str) -> StructuralSchema:
    return StructuralSchema(json.loads(schema_json))


def compiled_schema(openapi: dict[str, Any]) -> StructuralSchema:
    """The compiled schema, shared by every CRD with an identical one (compiling is the slow part)."""
    text = json.dumps(openapi, separators=(",", ":"))
    return _compile(hashlib.sha1(text.encode()).hexdigest(), text)


def resource_types(crd: dict[str, Any]) -> list[ResourceType]:
    """A ResourceType per served version, the storage version first (it answers name lookups)."""
    spec = crd["spec"]
    names = spec["names"]
    versions = sorted((v for v in spec["versions"] if v.get("served")), key=lambda v: not v.get("storage"))
    types = []
    for version in versions:
        subresources = version.get("subresources") or {}
        types.append(ResourceType(
            spec["group"], version["name"], names["plural"], names.get("singular") or names["kind"].lower(),
            names["kind"], namespaced=spec["scope"] == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            status_subresource="status" in subresources, generation=True, custom_resource=True,
            schema=compiled_schema(version["schema"]["openAPIV3Schema"]),
            printer_columns=tuple(PrinterColumn(c["name"], c["jsonPath"], c.get("type", "string"),
                                                int(c.get("priority", 0)))
                                  for c in version.get("additionalPrinterColumns") or ()),
            scale=_scale_spec(subresources.get("scale")),
        ))
    return types


def _scale_spec(scale: dict[str, str] | None) -> ScaleSpec | None:
    """A CRD's ``subresources.scale`` as the ``/scale`` subresource reads it."""
    if scale is None:
        return None
    return ScaleSpec(scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath"))


class CrdController:
    """A store write hook: serves a CRD's kinds while the CRD exists."""

    def __init__(self, registry: Registry, store: Store) -> None:
        self.registry = registry
        self.store = store

    def __call__(self, event: Event) -> None:
        if event.resource.key != CRD_TYPE.key:
            return
        crd = event.object
        key = f"{crd['spec']['names']['plural']}.{crd['spec']['group']}"
        if event.type == "DELETED":
            served = self.registry.by_key().get(key)
            if served is not None:
                self.store.purge(served)
            self.registry.remove(key)
            return
        # The CRD's status (Established...) is set as it is written (CrdDefinitionCheck), so this
        # registration, in the same locked write, makes it true before anyone can read it.
        if event.old is None or event.old.get("spec") != crd.get("spec"):
            self.registry.remove(key)
            for rt in resource_types(crd):
                self.registry.add(rt)


def refuse_unknown_fields(rt: ResourceType, query: dict[str, str], body: Any) -> None:
    """``?fieldValidation=Strict`` (kubectl's default): a custom object with unknown fields is refused (400)."""
    if query.get("fieldValidation") != "Strict" or not rt.custom_resource or not isinstance(body, dict):
        return
    unknown = rt.schema.unknown_fields(body)
    if unknown:
        fields = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                          f"strict decoding error: {fields}")


def serve_crds(registry: Registry, store: Store) -> None:
    """Serve ``customresourcedefinitions`` and act on them (called once by the emulator)."""
    registry.add(CRD_TYPE)
    store.write_hooks.append(CrdController(registry, store))


@functools.lru_cache(maxsize=16)
def _documents(path: str) -> tuple[dict[str, Any], ...]:
    with open(path, encoding="utf-8") as stream:
        return tuple(doc for doc in yaml.load_all(stream, Loader=_LOADER) if doc)


def load_crds(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The CRD documents in some YAML files (fresh copies; parsed once per file)."""
    # a JSON round trip copies these big documents several times faster than copy.deepcopy
    return [json.loads(json.dumps(doc)) for path in paths for doc in _documents(str(Path(path).resolve()))
            if doc.get("kind") == "CustomResourceDefinition"]


def install_crds(emulator: Any, paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Create or update the CRDs in ``paths`` in a :class:`KubernetesEmulator`; returns them as stored."""
    return [emulator.apply(CRD_TYPE, None, crd) for crd in load_crds(paths)]


def install_kuberay_crds(emulator: Any) -> list[dict[str, Any]]:
    """Install KubeRay's RayCluster and RayJob CRDs (:data:`KUBERAY_VERSION`), as the operator's chart does."""
    return install_crds(emulator, KUBERAY_CRDS)
