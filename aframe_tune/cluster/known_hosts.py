"""The ``known_hosts`` lines of a git server, from the user's own file, for git-sync in the pods.

git-sync checks the server's host key against them, as the user's ``ssh`` does; without them
it would have to clone with checking turned off. OpenSSH's format is read here (plain,
wildcard, ``[host]:port`` and hashed entries) rather than through a library: paramiko would be a
large dependency for these few lines, and ``ssh-keygen -F`` is not on every machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path
from urllib.parse import urlsplit

from aframe_tune.errors import ConfigError

# git@github.com:ML4GW/aframe.git: the scp-like form ssh and git accept
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?!//)")


def ssh_host(git_url: str) -> str | None:
    """The name ``known_hosts`` files the git server under (``host``, or ``[host]:port`` on a
    port other than 22); ``None`` for a URL git does not reach over SSH (https)."""
    if git_url.startswith("ssh://"):
        parts = urlsplit(git_url)
        if not parts.hostname:
            return None
        return parts.hostname if parts.port in (None, 22) else f"[{parts.hostname}]:{parts.port}"
    match = _SCP_LIKE.match(git_url)
    return match.group("host").lower() if match and "://" not in git_url else None


def _glob_matches(pattern: str, name: str) -> bool:
    # OpenSSH patterns know only * and ?; brackets are literal ([host]:port)
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, name) is not None


def _hashed_match(pattern: str, name: str) -> bool:
    # |1|salt|hash: HMAC-SHA1 of the name, keyed by the salt (HashKnownHosts yes)
    try:
        _, kind, salt, digest = pattern.split("|")
        expected = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return kind == "1" and hmac.compare_digest(expected, base64.b64decode(digest))
    except ValueError:
        return False


def entry_matches(line: str, name: str) -> bool:
    """Whether a ``known_hosts`` line holds a key of host ``name`` (revoked keys do not count)."""
    fields = line.split()
    if not fields or fields[0].startswith("#") or fields[0] == "@revoked":
        return False
    if fields[0] == "@cert-authority":
        fields = fields[1:]
    if len(fields) < 3:
        return False
    patterns = fields[0]
    if patterns.startswith("|"):
        return _hashed_match(patterns, name)
    matched = False
    for pattern in patterns.lower().split(","):
        negated = pattern.startswith("!")
        if _glob_matches(pattern.lstrip("!"), name.lower()):
            if negated:
                return False
            matched = True
    return matched


def known_hosts_for(git_url: str, known_hosts_file: str) -> str:
    """The lines of ``known_hosts_file`` for ``git_url``'s server; empty for an https URL.

    Raises:
        ConfigError: the file is missing or has no entry for the server; the message says how
            to add one.
    """
    name = ssh_host(git_url)
    if name is None:
        return ""
    path = Path(known_hosts_file).expanduser()
    where = f"tune.cfg [luigi_ssh] known_hosts = {known_hosts_file}"
    host = name.strip("[").split("]")[0]
    add = (f"connect once with `ssh -T git@{host}` and check the fingerprint it shows against the one "
           f"the server publishes, or add it with `ssh-keyscan {host} >> {known_hosts_file}`")
    if not path.is_file():
        raise ConfigError(f"{where}: no such file, so the pods could not check the host key of {host}, which "
                          f"git_url names; {add}", key="tune.cfg::ssh.known_hosts")
    lines = [line for line in path.read_text(errors="replace").splitlines() if entry_matches(line, name)]
    if not lines:
        raise ConfigError(f"{where} has no entry for {name}, the server of git_url, so the pods could not check "
                          f"its host key; {add}", key="tune.cfg::ssh.known_hosts")
    return "\n".join(lines) + "\n"
