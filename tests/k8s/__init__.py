"""An emulated Kubernetes API server for tests (see :mod:`tests.k8s.emulator`)."""

from .emulator import ApiError, Event, Fault, KubernetesEmulator, RequestRecord, ResourceType

__all__ = ["ApiError", "Event", "Fault", "KubernetesEmulator", "RequestRecord", "ResourceType"]
