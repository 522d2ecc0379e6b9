"""One deadline for a whole HTTP exchange: connect, TLS handshake, status line, headers and body together.

httpx bounds each network operation, not the exchange: a server that sends its headers one byte every
second never trips a ten-second read timeout, and holds a check for as long as it likes. The HTTP layer
sets the deadline of the exchange in progress (``deadline(at)``, per thread) and sends on a pool (``pool``) built on
``DeadlineBackend``, whose every connect, handshake, read and write waits at most until then. Python's
TLS handshake already treats its socket timeout as a bound on the whole handshake.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

_local = threading.local()


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Let every network operation of this thread end by ``at`` (``time.monotonic()``) inside the block."""
    previous: float | None = getattr(_local, "at", None)
    _local.at = at if previous is None else min(at, previous)
    try:
        yield
    finally:
        _local.at = previous


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    at: float | None = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the deadline of the exchange has passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose operations end by the thread's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._stream.start_tls(ssl_context, server_hostname,
                                                     _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, with streams that keep the thread's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._backend.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout),
                                                        local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._backend.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout),
                                                                socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlinePool(httpcore.ConnectionPool):
    """httpcore's pool, assigning requests to connections in one pass over the pool.

    httpcore 1.0 counts the whole pool once for every idle connection it looks at, twice per request, and asks the
    socket of every idle connection whether the server closed it (a poll each): with a thread per provider slot
    that was an eighth of the prefetch threads' CPU. The decisions are httpcore's own, in its order: drop closed and
    surplus idle connections; then give each queued request the first available connection for its origin, else a
    new one, else replace the first idle one. Two differ:

    - whether a connection has expired (kept alive too long, or closed by the server) is asked only of the one about
      to be handed out: an expired one is closed then and the next one tried, as httpcore would have closed it a pass
      earlier;
    - a connection already handed to a request is never closed or handed again (httpcore issue 1110). It still looks
      idle until that request's thread starts sending on it, and the closing happens after the pool's lock is
      released, so httpcore could close the socket under a request that had just begun: at 1,000 clients one probe
      in 40,000 failed with "[Errno 9] Bad file descriptor".
    """

    def _assign_requests_to_connections(self) -> list[Any]:
        closing = []
        taken = {id(request.connection) for request in self._requests if request.connection is not None}
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif id(connection) in taken:
                continue
            elif connection.is_idle() and len(self._connections) > self._max_keepalive_connections:
                self._connections.remove(connection)
                closing.append(connection)
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = None
            for connection in list(self._connections):
                if id(connection) in taken or not connection.can_handle_request(origin) \
                        or not connection.is_available():
                    continue
                if connection.has_expired():
                    self._connections.remove(connection)
                    closing.append(connection)
                    continue
                available = connection
                break
            if available is None:
                if len(self._connections) >= self._max_connections:
                    idle = next((c for c in self._connections if id(c) not in taken and c.is_idle()), None)
                    if idle is None:
                        continue
                    self._connections.remove(idle)
                    closing.append(idle)
                available = self.create_connection(origin)
                self._connections.append(available)
            pool_request.assign_to_connection(available)
            taken.add(id(available))
        return closing


# The pool's bookkeeping DeadlinePool reads; another httpcore keeps its own pool.
_POOL_STATE = ("_connections", "_requests", "_max_connections", "_max_keepalive_connections")


def pool(ssl_context: Any, limits: httpx.Limits) -> httpcore.ConnectionPool:
    """An httpcore pool (no proxy, no environment) whose connections keep the thread's deadline, with httpx's
    settings for ``limits``."""
    settings: dict[str, Any] = dict(
        ssl_context=ssl_context, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
        network_backend=DeadlineBackend())
    made: httpcore.ConnectionPool = DeadlinePool(**settings)
    if not all(hasattr(made, name) for name in _POOL_STATE):
        made = httpcore.ConnectionPool(**settings)
    return made
