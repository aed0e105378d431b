"""Kubernetes and helm failures, turned into :class:`ClusterError` here and nowhere else."""

from __future__ import annotations

from aframe_tune.errors import AframeTuneError


class ClusterError(AframeTuneError):
    """The Kubernetes cluster could not be reached, refused a request, or the Ray pods failed."""


def translate_kubernetes_error(error: Exception, doing: str, context: str) -> ClusterError:
    """A :class:`ClusterError` for an exception from kr8s/httpx while ``doing`` something.

    Args:
        error: what kr8s or httpx raised.
        doing: what was attempted, e.g. ``"watching the Ray pods"``.
        context: the kube context (or kubeconfig) in use, for the message.
    """
    import httpx
    from kr8s import NotFoundError, ServerError

    if isinstance(error, ServerError) and error.response is not None:
        status = error.response.status_code
        if status in (401, 403):
            reason = (
                f"the cluster refused it (HTTP {status}): check that kube context {context} "
                "may manage pods, services and secrets in this namespace"
            )
        else:
            reason = f"the API server answered HTTP {status}: {error}"
    elif isinstance(error, NotFoundError):
        reason = f"not found: {error}"
    elif isinstance(error, httpx.HTTPError | OSError):
        reason = (
            f"cannot reach the API server of kube context {context} ({type(error).__name__}); "
            "check `kubectl --context ... get pods` works"
        )
    else:
        reason = f"{type(error).__name__}: {error}"
    return ClusterError(f"{doing} failed: {reason}")
