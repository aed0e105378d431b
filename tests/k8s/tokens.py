"""Expiring bearer tokens for the emulated API server, as an OIDC issuer hands them out.

On a shared GPU cluster kubectl authenticates through an exec credential plugin (kubelogin):
it asks an issuer for a token that expires (often within the hour), and the API server refuses
the token once it has. :class:`TokenIssuer` is both sides here: it issues tokens with a lifetime
and tells the server whether one is still good. ``tests/k8s/exec_plugin.py`` is the plugin.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time

# A request sent in a credential's last instant arrives after it: client-go (helm) re-runs the
# plugin on a 401 but does not retry that request, so the server gives such requests this long.
ARRIVAL_LEEWAY_S = 1.0


def rfc3339(moment: float) -> str:
    """``moment`` (a Unix time) as the API's timestamps write it, to the second."""
    return dt.datetime.fromtimestamp(moment, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenIssuer:
    """Issues tokens valid for ``lifetime_s`` seconds and checks them.

    A token is good until its stated expiration (whole seconds, as ``expirationTimestamp``
    states it), so a client that trusts the stated time never sends an expired one.
    """

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self.client_secret = secrets.token_urlsafe(24)  # what the plugin shows the issuer
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self.issued = 0

    def issue(self) -> tuple[str, float]:
        """A new token and the Unix time at which it expires (a whole second)."""
        token = secrets.token_urlsafe(24)
        expires = float(int(time.time() + self.lifetime_s))
        with self._lock:
            self._expiry[token] = expires
            self.issued += 1
        return token, expires

    def accepts(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        with self._lock:
            expires = self._expiry.get(token)
        return expires is not None and time.time() < expires + ARRIVAL_LEEWAY_S
