"""A hostile identity provider: an HTTPS server whose answers are scripted per path.

``HostileIdp(routes={path: Answer(...)})`` serves on 127.0.0.1 (port 0) with a certificate from a
``trustme.CA``, in a background thread, as a context manager that stops cleanly (slow and trickling
answers are interrupted at stop). ``url`` is its base URL, ``hits[path]`` counts requests per path and
``requests`` keeps what was sent (method, path, headers, body), so tests can count retries and see what
a client put on the wire.

An ``Answer`` can be anything a broken or malicious IdP sends: arbitrary bytes with any status and
headers, a body made per request (``body=callable``, e.g. an echo of the request), a body streamed from
a generator (so a body far above the client's cap never sits in memory), a delay before the status
line, a status line and headers trickled byte by byte, a body trickled in chunks, or a connection closed
in the middle of the body. A route may hold a list of answers: the n-th request gets the n-th (the last
repeats), e.g. a 429 and then the document.

TLS faults are the server's: ``cert_hosts`` names what its certificate is for (another host),
``not_after`` dates it (expired), ``cert_ca`` issues it from a CA the client does not trust, and
``tls=False`` answers plain HTTP where TLS is expected.

``Blackhole`` accepts TCP connections and never answers (``accepted`` counts them); ``Dribble`` accepts
and sends one byte at a time, forever (a TLS handshake that never completes yet never goes quiet);
``unused_port()`` gives a port nothing listens on.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

Body = bytes | str | Callable[["Request"], "bytes | str | Iterable[bytes] | Answer"]


@dataclass
class Request:
    """What the client sent."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Answer:
    """A scripted answer.

    ``body``: bytes/str, or ``callable(request)`` returning bytes/str, an iterable of byte chunks
    (streamed; with ``length=None`` as chunked transfer encoding) or a whole ``Answer`` (status and all).
    ``content_type`` is sent unless None;
    ``headers`` are added as given. ``delay``: seconds before the status line; ``header_delay``: seconds
    between the bytes of the status line and headers (a trickle). ``chunks``/``chunk_delay``:
    a bytes body sent in that many pieces with a pause between them. ``close_early``: announce the whole
    length, send half of the body and close the connection.
    """

    status: int = 200
    body: Body = b""
    content_type: str | None = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    header_delay: float = 0.0
    chunks: int = 1
    chunk_delay: float = 0.0
    close_early: bool = False
    length: int | None = None


def json_answer(document: Any, status: int = 200, **kwargs: Any) -> Answer:
    """An answer with ``document`` serialised as JSON."""
    return Answer(status=status, body=json.dumps(document).encode(), **kwargs)


# ---- hostile bodies -------------------------------------------------------------------------------

def nested_json(depth: int) -> bytes:
    """``[[[...]]]`` nested ``depth`` deep (valid JSON that recursive parsers choke on)."""
    return b"[" * depth + b"]" * depth


def streamed(total: int, piece: bytes = b" ", chunk_size: int = 64 * 1024) -> Callable[[Request], Iterator[bytes]]:
    """A body of ``total`` bytes made on the fly (memory stays at one chunk)."""
    block = (piece * (chunk_size // len(piece) + 1))[:chunk_size]

    def make(_: Request) -> Iterator[bytes]:
        left = total
        while left > 0:
            yield block[:left]
            left -= len(block)

    return make


def gzip_bomb(decompressed: int) -> bytes:
    """A gzip member of ``decompressed`` zero bytes (about 1000:1; compressed in slices)."""
    out = io.BytesIO()
    zero = bytes(1024 * 1024)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        left = decompressed
        while left > 0:
            gz.write(zero[:left])
            left -= len(zero)
    return out.getvalue()


def echo_request(request: Request) -> bytes:
    """A JSON body that echoes the request: method, path, headers and body (and an error naming them)."""
    body = request.body.decode("utf-8", errors="replace")
    headers = {k: v for k, v in request.headers}
    return json.dumps({
        "error": f"invalid_client: got {body} with {headers.get('Authorization') or headers.get('authorization')}",
        "error_description": f"request body was {body!r}; headers were {headers!r}",
        "echo": {"method": request.method, "path": request.path, "headers": headers, "body": body},
    }).encode()


# ---- the server --------------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, idp: HostileIdp, context: ssl.SSLContext) -> None:
        self.idp = idp
        self.context = context
        super().__init__((idp.host, 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the connection's own thread, so one stuck or broken
        # client (legacy-version probes, a client giving up) never blocks the accept loop.
        try:
            request.settimeout(10)
            tls = self.context.wrap_socket(request, server_side=True) if self.idp.tls else request
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:  # keep test output clean
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    def _answer(self) -> None:
        idp = self.server.idp
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        request = Request(self.command, path, query, list(self.headers.items()), body)
        served = idp._record(request)
        route = idp.routes.get(path) or Answer(status=404, body=b'{"error":"not_found"}')
        answer = route[min(served, len(route)) - 1] if isinstance(route, list) else route
        if answer.delay and idp._stopping.wait(answer.delay):
            self.close_connection = True
            return
        self._trickle = answer.header_delay
        content: Any = answer.body(request) if callable(answer.body) else answer.body
        if isinstance(content, Answer):  # a body made per request may choose the whole answer
            answer, content = content, content.body
        if isinstance(content, str):
            content = content.encode("utf-8")
        self.send_response(answer.status)
        if answer.content_type is not None:
            self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if isinstance(content, bytes):
            self._send_bytes(answer, content)
        else:
            self._send_stream(answer, content)

    def flush_headers(self) -> None:
        if not getattr(self, "_trickle", 0.0):
            super().flush_headers()
            return
        head = b"".join(getattr(self, "_headers_buffer", []))
        self._headers_buffer = []
        for index in range(len(head)):
            if self.server.idp._stopping.wait(self._trickle):
                raise ConnectionAbortedError("stopping")
            self.wfile.write(head[index:index + 1])
            self.wfile.flush()

    def _send_bytes(self, answer: Answer, content: bytes) -> None:
        self.send_header("Content-Length", str(answer.length if answer.length is not None else len(content)))
        if answer.close_early:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if answer.close_early:
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        pieces = max(1, answer.chunks)
        size = -(-len(content) // pieces) or 1
        for index in range(0, max(len(content), 1), size):
            if index and answer.chunk_delay and self.server.idp._stopping.wait(answer.chunk_delay):
                self.close_connection = True
                return
            self.wfile.write(content[index:index + size])
            self.wfile.flush()

    def _send_stream(self, answer: Answer, content: Iterable[bytes]) -> None:
        chunked = answer.length is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(answer.length))
        self.end_headers()
        try:
            for piece in content:
                if self.server.idp._stopping.is_set():
                    break
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
                if answer.chunk_delay and self.server.idp._stopping.wait(answer.chunk_delay):
                    break
            else:
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
                return
        except (OSError, ssl.SSLError):
            pass
        self.close_connection = True


class HostileIdp:
    """An HTTPS server on ``host`` (127.0.0.1) whose answers are scripted per path (see the module docstring)."""

    def __init__(self, routes: Mapping[str, Answer | list[Answer]] | None = None, *, ca: trustme.CA | None = None,
                 host: str = "127.0.0.1", cert_hosts: tuple[str, ...] | None = None, cert_ca: trustme.CA | None = None,
                 not_after: datetime | None = None, tls: bool = True) -> None:
        self.ca = ca or trustme.CA(organization_name="hostile idp test CA")
        self.host = host
        self.cert_hosts = cert_hosts or (host, "localhost")
        self.cert_ca = cert_ca or self.ca
        self.not_after = not_after
        self.tls = tls
        self.routes: dict[str, Answer | list[Answer]] = dict(routes or {})
        self.hits: Counter[str] = Counter()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def _record(self, request: Request) -> int:
        with self._lock:
            self.hits[request.path] += 1
            self.requests.append(request)
            return self.hits[request.path]

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """``https://HOST:PORT`` (no trailing slash)."""
        return f"https://{self.host}:{self.port}"

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (PEM) a client must trust, and return the path."""
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def start(self) -> HostileIdp:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.not_after is not None:
            leaf = self.cert_ca.issue_cert(*self.cert_hosts, not_before=self.not_after - timedelta(days=365),
                                           not_after=self.not_after)
        else:
            leaf = self.cert_ca.issue_cert(*self.cert_hosts)
        leaf.configure_cert(context)
        self._server = _Server(self, context)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"hostile-idp-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> HostileIdp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Blackhole:
    """A TCP listener that accepts connections and never sends a byte."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"blackhole-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(connection)

    def __enter__(self) -> Blackhole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._listener.close()


class Dribble:
    """A TCP listener that sends one byte every ``interval`` seconds on each connection, forever.

    To a TLS client it looks like a server whose handshake is always about to arrive: no single read
    ever waits long, so only a deadline on the whole exchange ends it.
    """

    def __init__(self, interval: float = 0.2, payload: bytes = b"\x16\x03\x03\x40\x00") -> None:
        self.interval = interval
        # A TLS record header announcing 16 KB, then zeros: the client keeps reading what never completes.
        self.payload = payload
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, name=f"dribble-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._drip, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _drip(self, connection: socket.socket) -> None:
        stream = self.payload + bytes(1 << 20)
        try:
            for index in range(len(stream)):
                if self._stopping.wait(self.interval):
                    break
                connection.sendall(stream[index:index + 1])
        except OSError:
            pass
        finally:
            connection.close()

    def __enter__(self) -> Dribble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
