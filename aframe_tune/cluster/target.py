"""Which Kubernetes cluster and namespace helm and kr8s talk to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster and namespace helm and kr8s talk to.

    Args:
        namespace: the namespace releases go into; empty for the kube context's own.
        kubeconfig: a kubeconfig file, or ``None`` for ``$KUBECONFIG``/``~/.kube/config``.
        context: a context of that kubeconfig, or ``None`` for its current context.
    """

    namespace: str
    kubeconfig: Path | None = None
    context: str | None = None

    def describe(self) -> str:
        """``nautilus (namespace gw)``; the kubeconfig is named when it is not the default one."""
        context = self.context or "the current context"
        where = f" of {self.kubeconfig}" if self.kubeconfig else ""
        return f"{context}{where} (namespace {self.namespace or 'of the context'})"
