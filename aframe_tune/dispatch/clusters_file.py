"""``aframe-tune dispatch --clusters-file FILE``: the Ray clusters to spread the jobs over, in
Isaac Lab's ``~/.cluster_config`` format (what its ``grok_cluster_with_kubectl.py`` writes and
its ``submit_job.py`` reads)::

    # one cluster a line; blank lines and lines starting with # are skipped
    name: gpu-cluster address: http://10.0.0.1:8265
    name: cpu-cluster address: http://10.0.0.2:8265

Each address is one that jobs.yaml's ``clusters:`` takes (see ``ADDRESS_FORMS``).
"""

from __future__ import annotations

import re
from pathlib import Path

from aframe_tune.dispatch.jobs import ClusterEntry, check_unique_cluster_names, cluster_entry
from aframe_tune.errors import ConfigError, Problems

EXPECTED_FORM = "name: NAME address: http://HOST:PORT"
_LINE = re.compile(r"^name:\s*(\S+)\s+address:\s*(\S+)$")


def parse_clusters_text(text: str, path: Path) -> tuple[ClusterEntry, ...]:
    """The clusters of a clusters file's ``text`` (``path`` names it in messages); every
    malformed line is reported at once, with its number."""
    problems = Problems()
    clusters: list[ClusterEntry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}, line {number}"
        match = _LINE.match(line)
        if match is None:
            problems.add(ConfigError(f"{where}: {line!r} is not a cluster; write one cluster a line as "
                                     f"'{EXPECTED_FORM}'", key=where))
            continue
        with problems.check():
            clusters.append(cluster_entry(match.group(1), match.group(2), where))
    with problems.check():
        check_unique_cluster_names(clusters, str(path))
    if not clusters and not problems.found:
        problems.add(ConfigError(f"{path} lists no cluster; write one cluster a line as '{EXPECTED_FORM}'"))
    problems.raise_if_any()
    return tuple(clusters)


def read_clusters_file(path: Path) -> tuple[ClusterEntry, ...]:
    """The clusters listed in ``path`` (see the module's docstring)."""
    path = path.expanduser().resolve()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"--clusters-file {path}: cannot be read ({error.__class__.__name__}: {error}); give a "
                          f"file with one cluster a line, '{EXPECTED_FORM}' (Isaac Lab's ~/.cluster_config)") from None
    return parse_clusters_text(text, path)
