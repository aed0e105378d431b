"""A client-go exec credential plugin for the emulated cluster, like kubelogin on a real one.

The kubeconfig's user runs it (``users[].user.exec``): it asks the emulator's issuer for a new
token and prints a ``client.authentication.k8s.io/v1`` ExecCredential with the token and its
``expirationTimestamp``. What it needs (issuer URL, CA, client secret) is in the JSON file named
by ``AFRAME_EMULATOR_CREDENTIALS``, never on a command line. Standard library only: kubectl and
helm run it with the test environment's Python.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.parse
import urllib.request

CONFIG_VARIABLE = "AFRAME_EMULATOR_CREDENTIALS"
API_VERSION = "client.authentication.k8s.io/v1"


def exec_credential(token: str, expiration: str) -> dict[str, object]:
    """The ExecCredential client-go, kubectl and kr8s read from the plugin's standard output."""
    return {"apiVersion": API_VERSION, "kind": "ExecCredential",
            "status": {"token": token, "expirationTimestamp": expiration}}


def main() -> int:
    with open(os.environ[CONFIG_VARIABLE]) as handle:
        config = json.load(handle)
    context = ssl.create_default_context(cafile=config["ca_file"])
    body = urllib.parse.urlencode({"grant_type": "client_credentials",
                                   "client_secret": config["client_secret"]}).encode()
    with urllib.request.urlopen(config["issuer"], data=body, context=context, timeout=10) as response:
        answer = json.load(response)
    json.dump(exec_credential(answer["access_token"], answer["expiration"]), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
