"""A fault-injecting HTTP proxy in front of the loopback S3 server: transient 500/503 answers
and slow responses, as busy S3 services give them, on loopback only."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ERROR_BODY = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
              "<RequestId>injected-fault</RequestId></Error>")
FAULTS = ((503, "SlowDown", "Please reduce your request rate."),
          (500, "InternalError", "We encountered an internal error. Please try again."))
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class FaultPlan:
    """Which requests fail or crawl.

    Args:
        fail_first_write_of: regular expression of object keys whose first write (PUT or POST)
            is answered with 503 or 500 (alternating); the client's retry goes through.
        slow_every: every this many requests, any method, waits ``slow_s`` before forwarding.
        slow_s: the delay.
    """

    fail_first_write_of: str = r"checkpoint_|experiment_state"
    slow_every: int = 10
    slow_s: float = 1.0
    failed: list[tuple[str, str, int]] = field(default_factory=list)
    slowed: int = 0
    requests: int = 0
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, method: str, path: str) -> tuple[int, str, str] | None | float:
        """A fault to answer with, a delay in seconds, or None to forward at once."""
        with self._lock:
            self.requests += 1
            key = path.split("?", 1)[0]
            if method in ("PUT", "POST") and re.search(self.fail_first_write_of, key) and key not in self._seen:
                self._seen.add(key)
                fault = FAULTS[len(self.failed) % len(FAULTS)]
                self.failed.append((method, key, fault[0]))
                return fault
            if self.requests % self.slow_every == 0:
                self.slowed += 1
                return self.slow_s
        return None


def _handler(upstream: str, plan: FaultPlan) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _relay(self) -> None:
            body = self._body()
            decision = plan.decide(self.command, self.path)
            if isinstance(decision, tuple):
                status, code, message = decision
                payload = ERROR_BODY.format(code=code, message=message).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if isinstance(decision, float):
                time.sleep(decision)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            try:
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                # a HEAD answer has no body but gives the object's size
                length = response.getheader("Content-Length", "0") if self.command == "HEAD" else len(payload)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            finally:
                connection.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

    return Proxy


@contextmanager
def s3_fault_proxy(upstream: str, plan: FaultPlan) -> Iterator[str]:
    """Serve the proxy on 127.0.0.1 for the block; yields its endpoint URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, plan))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
