"""Starting, or joining, the Ray instance a local search runs on."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from aframe_tune.errors import ConfigError
from aframe_tune.tune.ray_usage import hold_usage_locks_in_rays_usage_hook

logger = logging.getLogger(__name__)

# Ray replaces 127.0.0.1 with the machine's routable address unless "cluster mode" is off, and
# a local search has no business listening on the network. The variable is read when Ray is
# imported, so it is set before the first import below.
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
AUTH_MODE_VARIABLE = "RAY_AUTH_MODE"


def is_loopback(address: str) -> bool:
    """Whether a Ray address (``HOST:PORT``, ``ray://HOST:PORT``, ``http://HOST:PORT``) is on loopback."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


def joins_a_cluster() -> bool:
    """Whether the local search joins the cluster at ``RAY_ADDRESS`` rather than starting Ray."""
    return bool(os.environ.get("RAY_ADDRESS"))


def prepare_ray_environment() -> None:
    """Set what Ray reads from the environment once, when it is first imported; call before that."""
    address = os.environ.get("RAY_ADDRESS") or None
    # A driver joining a cluster on loopback must see itself on loopback too, or Ray finds
    # no raylet at the address it resolves for this machine.
    if address is None or is_loopback(address):
        os.environ.update(LOOPBACK_ONLY)
    if address is None:
        # The instance it starts uses token authentication, as Ray's default is; saying so
        # keeps Ray from warning the user about a default they need not act on.
        os.environ.setdefault(AUTH_MODE_VARIABLE, "token")


def start_or_join_ray(num_cpus: int | None = None, quiet: bool = False) -> str:
    """Join the cluster at ``RAY_ADDRESS`` if set, else start a Ray instance on loopback.

    A started instance lives as long as this process (Ray ties its processes to the driver),
    so a killed driver leaves nothing running.

    Args:
        num_cpus: CPUs the started instance may use; ``None`` for all of the machine's.
        quiet: show only Ray's warnings, and none of the trials' own output (which stays in
            each trial's folder and Ray's session logs).

    Returns:
        The address of the cluster's GCS, for the logs.
    """
    address = os.environ.get("RAY_ADDRESS") or None
    prepare_ray_environment()
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context().gcs_address
    output = {"log_to_driver": not quiet, "logging_level": logging.WARNING if quiet else logging.INFO}
    if address is None:
        context = ray.init(num_cpus=num_cpus, include_dashboard=False, **output)
        # At exit, Ray's own handler sleeps half a second, then waits a second or more for every
        # process of the instance to stop gracefully. They share the driver's fate anyway (Ray
        # starts a reaper for when its handler does not run), and the search's state is saved
        # by then, so the driver need not wait for them.
        atexit.unregister(ray.shutdown)
        logger.info("Started a local Ray instance at %s", context.address_info["gcs_address"])
    else:
        context = _join(ray, address, output)
        logger.info("Joined the Ray cluster at %s", address)
    return context.address_info["gcs_address"]


class _NoThreadWarning(logging.Filter):
    """Drops Ray's warning that a ``ray.init`` outside the main thread sets no SIGTERM handler:
    the driver's own handlers (``aframe_tune.signals``) are the ones that should stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SIGTERM handler is not set")


class RayStarting:
    """:func:`start_or_join_ray` in a thread of its own, so that Ray starts while the driver
    checks its inputs (each takes seconds). A driver whose checks fail exits without waiting for
    it: Ray's processes share its fate.

    The thread outlives the start, until the driver exits: Ray ties the processes it starts to
    their parent with Linux's parent-death signal, which follows the thread that started them, so
    they would be killed the moment the thread ended.

    Args:
        num_cpus: CPUs the started instance may use; ``None`` for all of the machine's.
        quiet: as for :func:`start_or_join_ray`.
    """

    def __init__(self, num_cpus: int | None = None, quiet: bool = False) -> None:
        prepare_ray_environment()
        # imported here, in the driver's thread, before the start's thread imports it too: two
        # threads importing the same modules at once may wait on each other's import locks
        import ray  # noqa: F401

        logging.getLogger("ray._private.worker").addFilter(_NoThreadWarning())
        hold_usage_locks_in_rays_usage_hook()
        self._address: str | None = None
        self._error: BaseException | None = None
        self._started = threading.Event()
        threading.Thread(target=self._start, args=(num_cpus, quiet), name="ray-start", daemon=True).start()

    def _start(self, num_cpus: int | None, quiet: bool) -> None:
        try:
            self._address = start_or_join_ray(num_cpus, quiet)
        except BaseException as error:  # raised again in the driver's thread, by wait()
            self._error = error
        self._started.set()
        threading.Event().wait()  # never set: this thread ends with the driver (see above)

    def wait(self) -> str:
        """The address of the cluster's GCS once Ray has started (or was joined); its error if not."""
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self._address or ""


def _join(ray, address: str, output: dict[str, Any]):
    try:
        return ray.init(address=address, **output)
    except (ConnectionError, RuntimeError) as error:
        if _caused_by_authentication(error):
            raise ConfigError(
                f"RAY_ADDRESS={address}: the Ray cluster there requires token authentication; "
                "set RAY_AUTH_MODE=token, and RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) if its "
                "token is not in ~/.ray/auth_token"
            ) from None
        raise ConfigError(
            f"RAY_ADDRESS={address}: cannot connect to a Ray cluster there ({error}); start the "
            "cluster, correct RAY_ADDRESS, or unset it to tune on a new local Ray instance"
        ) from None


def _caused_by_authentication(error: BaseException | None) -> bool:
    while error is not None:
        if type(error).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def client_error_summary(error: BaseException) -> str:
    """The last line of a Ray client error: a failed server start comes back as the server's
    whole traceback, whose last line says what failed."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def connect_ray_client(
    address: str, runtime_env: dict | None = None, attempts: int = 3, pause_s: float = 5.0, quiet: bool = False
) -> None:
    """Connect this process to a Ray cluster's client server (``ray://``), retrying.

    The client server starts a process per connection; on a busy head that start can fail
    once, and a whole deployed cluster should not be lost to it. ``quiet`` leaves the output of
    the cluster's processes (the trials') out of this process's.
    """
    import time

    import ray

    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING,
                     log_to_driver=not quiet)
            logger.info("Connected to the Ray cluster at %s", address)
            return
        except (ConnectionError, RuntimeError) as error:
            if _caused_by_authentication(error):
                raise ConfigError(f"{address} refused this client's Ray token") from None
            if attempt == attempts:
                raise ConfigError(
                    f"cannot connect to the Ray client server at {address} after {attempts} tries "
                    f"({client_error_summary(error)}); check that the head pod is healthy"
                ) from None
            # INFO: a retry that succeeds is nothing the user must act on; the last failure is an error
            logger.info("Connecting to %s failed (%s); trying again", address, client_error_summary(error))
            ray.shutdown()
            time.sleep(pause_s)
