"""The names aframe-tune gives what it deploys: label keys and values, release and lock prefixes.

They are written here once. The chart's templates (``charts/ray-cluster``) set the same labels,
and ``tests/cluster/test_chart.py`` checks that they agree.
"""

from __future__ import annotations

PART_OF = "app.kubernetes.io/part-of"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
PRODUCT = "aframe-tune"

HEAD = "head"
WORKER = "worker"
SEARCH = "search"
RUN_LOCK = "run-lock"

SEARCH_RELEASE_PREFIX = "aframe-tune"
DISPATCH_RELEASE_PREFIX = "aframe-dispatch"
RELEASE_PREFIXES = (SEARCH_RELEASE_PREFIX, DISPATCH_RELEASE_PREFIX)
LOCK_PREFIX = "aframe-tune-lock-"
# the run lock's annotation that names its run directory
RUN_DIR_ANNOTATION = "aframe-tune/run-dir"

# helm's record of a release: a Secret with these labels, whose ``name`` label is the release
HELM_RECORD_LABELS = {"owner": "helm"}


def product_labels(release: str | None = None, component: str | None = None) -> dict[str, str]:
    """The labels that select what aframe-tune made (of one release, of one component)."""
    labels = {PART_OF: PRODUCT}
    if release is not None:
        labels[INSTANCE] = release
    if component is not None:
        labels[COMPONENT] = component
    return labels


def is_release_name(name: str) -> bool:
    """Whether ``name`` is one aframe-tune gives a release (a search's or a dispatch's)."""
    return any(name.startswith(f"{prefix}-") for prefix in RELEASE_PREFIXES) and not name.startswith(LOCK_PREFIX)
