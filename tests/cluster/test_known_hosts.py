"""git-sync's known_hosts, read from the user's own file in OpenSSH's format."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from aframe_tune.cluster.known_hosts import entry_matches, known_hosts_for, ssh_host
from aframe_tune.errors import ConfigError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def hashed(name: str, salt: bytes = b"0123456789abcdef0123") -> str:
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


@pytest.mark.parametrize(("url", "name"), [
    ("git@github.com:ML4GW/aframe.git", "github.com"),
    ("GitHub.com:ML4GW/aframe.git", "github.com"),
    ("ssh://git@git.ligo.org/ml4gw/aframe.git", "git.ligo.org"),
    ("ssh://git@git.ligo.org:2222/ml4gw/aframe.git", "[git.ligo.org]:2222"),
    ("https://github.com/ML4GW/aframe.git", None),
])
def test_the_server_s_name_in_known_hosts(url: str, name: str | None) -> None:
    assert ssh_host(url) == name


@pytest.mark.parametrize(("line", "name", "matches"), [
    (f"github.com {KEY}", "github.com", True),
    (f"gitlab.com,github.com,140.82.112.3 {KEY}", "github.com", True),
    (f"*.ligo.org {KEY}", "git.ligo.org", True),
    (f"*.ligo.org,!git.ligo.org {KEY}", "git.ligo.org", False),
    (f"[git.ligo.org]:2222 {KEY}", "[git.ligo.org]:2222", True),
    (f"git.ligo.org {KEY}", "[git.ligo.org]:2222", False),
    (f"{hashed('github.com')} {KEY}", "github.com", True),
    (f"{hashed('gitlab.com')} {KEY}", "github.com", False),
    (f"@revoked github.com {KEY}", "github.com", False),
    (f"@cert-authority *.github.com {KEY}", "ssh.github.com", True),
    ("# github.com is ours", "github.com", False),
    ("github.com", "github.com", False),
])
def test_entries(line: str, name: str, matches: bool) -> None:
    assert entry_matches(line, name) is matches


def test_the_server_s_lines_are_taken_and_the_others_left(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"gitlab.com {KEY}\ngithub.com {KEY}\n{hashed('github.com')} {KEY}\n")
    assert known_hosts_for("git@github.com:ML4GW/aframe.git", str(known)) == \
        f"github.com {KEY}\n{hashed('github.com')} {KEY}\n"
    assert known_hosts_for("https://github.com/ML4GW/aframe.git", str(tmp_path / "none")) == ""


def test_a_missing_entry_or_file_says_how_to_add_one(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"gitlab.com {KEY}\n")
    with pytest.raises(ConfigError, match=r"known_hosts = .* has no entry for github.com, the server of git_url.*"
                                          r"ssh-keyscan github.com >>"):
        known_hosts_for("git@github.com:ML4GW/aframe.git", str(known))
    with pytest.raises(ConfigError, match=r"no such file, so the pods could not check the host key of github.com"):
        known_hosts_for("git@github.com:ML4GW/aframe.git", str(tmp_path / "missing"))
