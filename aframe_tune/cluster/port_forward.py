"""A pod's port on a local port, carried through the API server's port-forward, as
``kubectl port-forward`` does: one WebSocket (``v4.channel.k8s.io``) for each local connection.

kr8s has a ``PortForward``, but it does not last on a shared cluster: when the credential expires
its WebSocket upgrade is refused with 401, which it neither renews nor counts, so it retries at
once, forever. Here each connection opens its WebSocket through ``KubeApi.pod_port_stream``,
which renews the credential as every other request does.

The protocol: every frame starts with its channel, 0 for data and 1 for errors, and the first
frame of each channel carries the port (two bytes, little-endian) and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any

import httpx_ws

logger = logging.getLogger(__name__)

DATA, ERROR = 0, 1
READ_BYTES = 1 << 16

StreamOpener = Callable[[], AbstractAsyncContextManager[Any]]


async def carry_connection(open_stream: StreamOpener, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter, describe: str) -> None:
    """Carry one local connection to the pod and back until either side ends it."""
    try:
        async with open_stream() as stream:
            await _pump_both_ways(stream, reader, writer, describe)
    except asyncio.CancelledError:
        # the forward closes; ending quietly, because Python 3.11's asyncio logs a connection
        # handler that ends cancelled as an unhandled error, traceback and all
        pass
    except Exception as error:  # one connection's end; the forward goes on for the next
        logger.info("A connection forwarded to %s ended: %s", describe, error or type(error).__name__)
    finally:
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()


async def _pump_both_ways(stream: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          describe: str) -> None:
    outward = asyncio.create_task(_to_pod(stream, reader))
    inward = asyncio.create_task(_from_pod(stream, writer, describe))
    done, pending = await asyncio.wait({outward, inward}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # raises what ended it, if anything did


async def _to_pod(stream: Any, reader: asyncio.StreamReader) -> None:
    while data := await reader.read(READ_BYTES):
        await stream.send_bytes(bytes([DATA]) + data)


async def _from_pod(stream: Any, writer: asyncio.StreamWriter, describe: str) -> None:
    seen: set[int] = set()
    while True:
        try:
            frame = await stream.receive_bytes()
        except httpx_ws.WebSocketDisconnect:
            return  # the pod's side closed the connection
        channel, payload = frame[0], frame[1:]
        if channel not in seen:  # the port the channel is for
            seen.add(channel)
            payload = payload[2:]
        if channel == ERROR and payload:
            raise ConnectionError(f"the API server could not reach {describe}: {payload.decode(errors='replace')}")
        if channel == DATA and payload:
            writer.write(payload)
            await writer.drain()
