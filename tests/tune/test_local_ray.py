"""How Ray client connection errors are worded for the user."""

from __future__ import annotations

from aframe_tune.tune.local_ray import client_error_summary

# what ray.util.client raises when the head's client server could not start a server for us
SERVER_START_FAILURE = """Initialization failure from server:
Traceback (most recent call last):
  File "/ray/util/client/server/proxier.py", line 772, in Datapath
    raise RuntimeError(
RuntimeError: Starting Ray client server failed. See ray_client_server_23000.err for detailed logs.
"""


def test_a_server_side_traceback_is_summed_up_by_its_last_line() -> None:
    summary = client_error_summary(ConnectionError(SERVER_START_FAILURE))
    assert summary == ("RuntimeError: Starting Ray client server failed. See ray_client_server_23000.err for "
                       "detailed logs.")
    assert client_error_summary(ConnectionError("refused")) == "refused"
    assert client_error_summary(ConnectionError()) == "ConnectionError"
