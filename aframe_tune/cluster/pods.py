"""What a Ray pod's Kubernetes status means for the search waiting on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aframe_tune.cluster.names import COMPONENT

# Waiting reasons that no amount of waiting fixes: the release cannot come up as configured.
PERMANENT_REASONS = frozenset(
    {"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"}
)
# Waiting reasons worth telling the user about while the pod may still recover.
TROUBLE_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "RunContainerError"}
) | PERMANENT_REASONS


@dataclass(frozen=True)
class PodState:
    """One Ray pod as the waiting code sees it.

    Args:
        name: the pod's name.
        component: ``head`` or ``worker`` (from the chart's component label).
        phase: the pod's phase (Pending, Running, Succeeded, Failed, Unknown).
        ready: whether its Ready condition is True.
        problem: why it is stuck, in words, or ``None``.
        permanent: whether the problem cannot go away by itself.
        gpus: the GPUs its containers ask for (any resource named ``*gpu`` or ``nvidia.com/*``).
    """

    name: str
    component: str
    phase: str
    ready: bool
    problem: str | None = None
    permanent: bool = False
    gpus: int = 0


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def read_pod_state(pod: dict[str, Any]) -> PodState:
    """Interpret a pod's raw JSON (``metadata`` and ``status``) as a :class:`PodState`."""
    metadata = pod.get("metadata", {})
    status = pod.get("status") or {}
    ready_condition = _condition(status, "Ready")
    ready = bool(ready_condition and ready_condition.get("status") == "True")
    phase = status.get("phase", "Pending")
    problem, permanent = None, False

    scheduled = _condition(status, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        reason = scheduled.get("reason", "Unschedulable")
        problem = f"{reason}: {scheduled.get('message', 'no node fits its requests')}"
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in TROUBLE_REASONS:
            detail = waiting.get("message", "")
            problem = f"{reason} in container {container.get('name')}" + (f": {detail}" if detail else "")
            permanent = reason in PERMANENT_REASONS
    if phase == "Failed":
        problem = f"Failed: {status.get('reason') or status.get('message') or 'the pod exited'}"
        permanent = True
    return PodState(
        name=metadata.get("name", "?"),
        component=(metadata.get("labels") or {}).get(COMPONENT, "?"),
        phase=phase,
        ready=ready,
        problem=problem,
        permanent=permanent,
        gpus=requested_gpus(pod),
    )


def requested_gpus(pod: dict[str, Any]) -> int:
    """The GPUs a pod's containers request (``nvidia.com/gpu``, ``nvidia.com/a100``, ...)."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        for name, amount in ((container.get("resources") or {}).get("requests") or {}).items():
            if name.endswith("gpu") or name.startswith("nvidia.com/"):
                try:
                    total += int(amount)
                except (TypeError, ValueError):
                    pass  # not a whole number: no GPU count a person would read
    return total


@dataclass(frozen=True)
class ClusterState:
    """All Ray pods of a release, keyed by name."""

    pods: dict[str, PodState]

    def ready(self, component: str) -> list[PodState]:
        return [p for p in self.pods.values() if p.component == component and p.ready]

    @property
    def usable(self) -> bool:
        """The head and at least one worker are Running and Ready."""
        return bool(self.ready("head")) and bool(self.ready("worker"))

    def problems(self) -> list[str]:
        return [f"{p.name}: {p.problem}" for p in self.pods.values() if p.problem]

    def summary(self) -> str:
        """One progress line, e.g. ``head Running, ready | workers 1/2 ready (1 Pending)``."""
        heads = [p for p in self.pods.values() if p.component == "head"]
        workers = [p for p in self.pods.values() if p.component == "worker"]
        head = (
            "head not created yet"
            if not heads
            else f"head {heads[0].phase}{', ready' if heads[0].ready else ''}"
        )
        waiting = [p.phase for p in workers if not p.ready]
        detail = f" ({', '.join(f'{waiting.count(s)} {s}' for s in sorted(set(waiting)))})" if waiting else ""
        return f"{head} | workers {len(self.ready('worker'))}/{len(workers)} ready{detail}"

    def gpus_held(self) -> int:
        """GPUs the release's pods hold: those of every pod not yet ended."""
        return sum(p.gpus for p in self.pods.values() if p.phase in ("Pending", "Running"))
