"""Serve an ASGI app over HTTPS on 127.0.0.1 (an ephemeral port) from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn


class ThreadedHttpsServer:
    """Context manager: uvicorn on 127.0.0.1:<ephemeral>, TLS from PEM files, in a daemon thread.

    Logging: no access log and uvicorn leaves the logging configuration alone (``log_config=None``),
    so nothing about requests (paths, query strings, headers) is ever written anywhere.
    """

    def __init__(self, app: Any, cert_pem: Path | str, key_pem: Path | str, *, start_timeout: float = 5.0):
        self._app = app
        self._cert = str(cert_pem)
        self._key = str(key_pem)
        self._start_timeout = start_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("server is not running")
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets (else ~40 ms per response)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            ssl_certfile=self._cert,
            ssl_keyfile=self._key,
            log_config=None,
            access_log=False,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"https-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._close_socket()
                raise RuntimeError("HTTPS server thread exited during startup (bad certificate or key?)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("HTTPS server did not start in time")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout=2)
        self._close_socket()
        self._server = None
        self._thread = None

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def __enter__(self) -> "ThreadedHttpsServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
