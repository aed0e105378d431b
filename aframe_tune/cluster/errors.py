"""What can go wrong with a Kubernetes cluster, as a few exception classes.

kr8s's and httpx's exceptions become these in ``cluster/kube.py`` and nowhere else; helm's in
``cluster/helm.py``.
"""

from __future__ import annotations

from aframe_tune.errors import AframeTuneError


class ClusterError(AframeTuneError):
    """The Kubernetes cluster could not be reached, refused a request, or the Ray pods failed."""


class ClusterUnreachableError(ClusterError):
    """The API server did not answer (wrong address, VPN down, kubeconfig unreadable)."""


class ClusterRefusedError(ClusterError):
    """The API server answered 401 or 403: the credential or its role does not allow it."""


class ClusterConflictError(ClusterError):
    """The API server answered 409: the object exists, or changed since it was read."""
