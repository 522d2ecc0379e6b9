"""The run's one HTTP layer: a pooled httpx client with verification, retries, caps and evidence.

Every request a check makes goes through ``HttpClient.request``: certificate verification is always on
(``ca_bundle`` only adds trust anchors), redirects are never followed with credentials to another
origin, bodies are capped, idempotent requests are retried a bounded number of times on connect
errors, 429 and 503, and every exchange is recorded, redacted and bounded (``_bounds``), as evidence.

Time is bounded too: each attempt must be answered completely (connect, TLS, headers, body) within
``timeout`` (``_deadline``), and a request with its retries and their waits within ``timeout x
(retries + 1)``. A throttled answer (429, or 503 with Retry-After) asking for a longer wait than that
is returned at once, and reads as *not evaluated* (``Response.throttled``). An origin that cannot be
reached, and an endpoint that gave no complete answer in time, are remembered: a dead or stalled IdP
costs one timeout per run, not one per check.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import os
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpcore  # noqa: F401  (httpx imports it lazily; import it with us so its error types stay the ones httpx knows)
import httpx

from . import __version__
from ._answer_headers import AnswerHeaders
from ._bounds import bounded_text, clip, finish, printable, shape
from ._confine import Confinement
from ._deadline import deadline, transport
from ._errors import CredentialsWithheld, ResponseError, ResponseTooLarge, TransportError
from ._interned import KeptOnce
from ._net import origin as _origin
from ._redact import Redactor, Secret, reveal

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 503})
EVIDENCE_BODY_LIMIT = 16 * 1024
EVIDENCE_URL_LIMIT = 2000
MAX_RETRY_AFTER = 5.0
DEFAULT_RETRY_WAIT = 0.5
MAX_REDIRECTS = 5
TOKEN_MEMBERS = ("access_token", "refresh_token", "id_token", "device_code", "registration_access_token")


@dataclass(slots=True)
class Exchange:
    """One HTTP request and its answer (or failure), redacted, as evidence for the report."""

    id: str
    method: str
    url: str
    started: str
    request_headers: Sequence[tuple[str, str]] = ()
    request_body: str | None = None
    status: int | None = None
    reason: str | None = None
    http_version: str | None = None
    tls_version: str | None = None
    response_headers: Sequence[tuple[str, str]] = ()
    response_body: str | None = None
    body_truncated: bool = False
    elapsed_ms: float | None = None
    attempts: int = 1
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return {name: getattr(self, name) for name in self.__slots__}

    def hand_over(self) -> dict[str, Any]:
        """A JSON-able copy for the run's evidence store, which keeps it from now on: this object lets go of all
        but what names the exchange (id, method, URL, status, error, attempts) and stays a handle to it. The
        answers probes share stay in memory to the end of the run, with their exchanges: at a thousand clients,
        twenty thousand of them."""
        whole = self.to_dict()
        self.request_headers, self.request_body, self.response_headers, self.response_body = (), None, (), None
        self.started, self.reason, self.http_version, self.tls_version, self.elapsed_ms = "", None, None, None, None
        return whole


# Most header lines recur (a run's requests carry the same Host, Accept and User-Agent; its answers the same
# Content-Type and Cache-Control): each distinct (name, value) is kept once and shared by every exchange that
# has it, which at a thousand clients saves about half of the evidence's memory. Values are redacted already.
_HEADER_LINE = KeptOnce[tuple[str, str]](50_000)


def _header_lines(items: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    return [_HEADER_LINE((printable(name), bounded_text(value))) for name, value in items]


@dataclass(slots=True)
class Response:
    """What a check reads: the real status, headers and body, plus the redacted exchange."""

    status: int
    headers: AnswerHeaders
    content: bytes
    url: str
    exchange: Exchange
    tls_version: str | None = None
    received_at: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.headers, AnswerHeaders):
            self.headers = AnswerHeaders(self.headers)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return str(self.content.decode("utf-8", errors="replace"))

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case."""
        value: str = self.headers.get("content-type", "")
        return value.split(";", 1)[0].strip().lower()

    @property
    def throttled(self) -> str | None:
        """Why this answer is a throttle (429, or 503 with Retry-After) that leaves the check not evaluated, or None."""
        retry_after = self.headers.get("retry-after")
        if not (self.status == 429 or (self.status == 503 and retry_after)):
            return None
        wait = retry_after_seconds(retry_after)
        if wait is not None and wait > MAX_RETRY_AFTER:
            return f"the provider asks to wait {wait:.0f} s (Retry-After); not evaluated"
        asked = f", Retry-After {printable(retry_after[:40])}" if retry_after else ""
        tries = f" on each of {self.exchange.attempts} attempts" if self.exchange.attempts > 1 else ""
        return f"the provider throttled the request (HTTP {self.status}{asked}){tries}; not evaluated"

    def json(self) -> Any:
        """The body as JSON; ``ResponseError`` names the status and content type otherwise."""
        try:
            return json.loads(self.content)
        except (ValueError, RecursionError):
            raise ResponseError(
                f"{self.exchange.method} {self.exchange.url} answered {self.status} with "
                f"{self.content_type or 'no content type'}, not JSON"
            ) from None


class HttpClient:
    """One per run (per xdist worker): pooled connections, no cookie jar, evidence for every call."""

    def __init__(self, *, redactor: Redactor, timeout: float = 10.0, ca_bundle: Path | None = None,
                 max_response_bytes: int = 2 * 1024 * 1024, retries: int = 2, id_prefix: str = "x",
                 confinement: Confinement | None = None) -> None:
        self.redactor = redactor
        self.confinement = confinement
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.retries = retries
        self.ssl_context = make_ssl_context(ca_bundle)
        self._transport = transport(self.ssl_context, httpx.Limits(max_connections=50, max_keepalive_connections=20))
        # The client only builds requests (default headers, timeouts, URL and body encoding): _read sends them.
        self._client = httpx.Client(
            transport=self._transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": f"pytest-authcheck/{__version__}", "Accept-Encoding": "gzip"},
        )
        self._ids = itertools.count(1)
        self._id_prefix = id_prefix
        self._dead_origins: dict[str, TransportError] = {}
        self._stalled: dict[str, TransportError] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def unreachable(self, url: str) -> str | None:
        """Why ``url``'s origin could not be reached earlier in this run, or None."""
        with self._lock:
            dead = self._dead_origins.get(_origin(url))
        return str(dead) if dead is not None else None

    def get(self, url: str, **kwargs: Any) -> Response:
        """``request("GET", url, ...)``."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        """``request("POST", url, ...)``."""
        return self.request("POST", url, **kwargs)

    def request(self, method: str, url: str, *, headers: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
                auth: tuple[str, Secret | str] | None = None, follow_redirects: bool = False,
                json: Mapping[str, Any] | None = None) -> Response:
        """Send one request; raise ``TransportError`` when no answer arrives.

        ``headers``, ``data`` and ``json`` (an object) values may be ``Secret``: they are revealed only onto the wire.
        Redirects are followed only when asked, only for requests without credentials, and never
        to another origin with credentials.
        """
        # Secrets stay wrapped in every frame's arguments and locals (tracebacks with --showlocals print them);
        # they are revealed only inside the expression that builds the request.
        method = method.upper()
        headers = dict(headers or {})
        basic = None
        if auth is not None:
            self.redactor.add_basic_credentials(auth[0], reveal(auth[1]))
            basic = httpx.BasicAuth(auth[0], reveal(auth[1]))
        has_credentials = basic is not None or any(k.lower() in ("authorization", "cookie") for k in headers)
        for hop in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, headers, data, params, basic, auth[1] if auth else None, json)
            location = response.headers.get("location")
            if not (follow_redirects and method in IDEMPOTENT and response.status in (301, 302, 303, 307, 308)
                    and location and hop < MAX_REDIRECTS):
                return response
            target = urllib.parse.urljoin(url, location)
            if has_credentials and _origin(target) != _origin(url):
                return response
            url, params = target, None
        return response

    def _send(self, method: str, url: str, headers: Mapping[str, Any], data: Mapping[str, Any] | None,
              params: Mapping[str, Any] | None, auth: httpx.BasicAuth | None, basic_password: Any = None,
              json_body: Mapping[str, Any] | None = None) -> Response:
        origin = _origin(url)
        with self._lock:
            dead = self._dead_origins.get(origin)
        try:
            request = self._client.build_request(method, url, headers=_revealed(headers), data=_revealed(data),
                                                 params=_revealed(params), json=_revealed_json(json_body))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise TransportError(bounded_text(f"cannot send a request to {self.redactor.text(url[:200])}: {exc}")) from None
        if auth is not None:
            request = next(auth.auth_flow(request))
        exchange = self._new_exchange(request)
        endpoint = f"{method} {origin}{request.url.path}"
        with self._lock:
            dead = dead or self._stalled.get(endpoint)
        if self.confinement is not None:
            try:
                self.confinement.check(method, url, headers=headers, data=data, params=params, json_body=json_body,
                                       basic_password=basic_password)
            except CredentialsWithheld as exc:
                exchange.error = str(exc)
                exc.exchange = exchange  # type: ignore[attr-defined]
                raise
        if dead is not None:
            exchange.error = f"not sent: {dead} (earlier in this run)"
            raise _transport_error(str(dead), exchange)
        # The whole request, retries and their waits included, ends within timeout x (retries + 1).
        bound = time.monotonic() + self.timeout * (1 + self.retries)
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                with deadline(min(started + self.timeout, bound)):
                    response = self._read(request, exchange)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = _describe_transport(exc, url, self.timeout)
                if method in IDEMPOTENT and attempt <= self.retries and not _is_tls_error(exc) \
                        and isinstance(exc, httpx.ConnectError) and time.monotonic() + 0.2 * attempt < bound:
                    time.sleep(0.1 * attempt)
                    continue
                exchange.attempts, exchange.error = attempt, error
                exchange.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
                if not _is_tls_error(exc):
                    with self._lock:
                        self._dead_origins[origin] = TransportError(error)
                raise _transport_error(error, exchange) from None
            except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError, httpcore.ProtocolError) as exc:
                # A hostile or broken server must end in "could not evaluate", never in a crash.
                exchange.attempts, exchange.error = attempt, bounded_text(_describe_transport(exc, url, self.timeout))
                exchange.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
                if isinstance(exc, httpx.TimeoutException):
                    with self._lock:
                        self._stalled[endpoint] = TransportError(f"{method} {exchange.url}: {exchange.error}")
                raise _transport_error(exchange.error, exchange) from None
            exchange.attempts = attempt
            exchange.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
            if response.status in RETRY_STATUSES and method in IDEMPOTENT and attempt <= self.retries:
                wait = retry_after_seconds(response.headers.get("retry-after"))
                wait = DEFAULT_RETRY_WAIT if wait is None else wait
                # A longer wait than the bound allows is not waited for at all: the answer says "throttled" now.
                if wait <= MAX_RETRY_AFTER and time.monotonic() + wait + min(self.timeout, 1.0) < bound:
                    time.sleep(wait)
                    continue
            return response

    def _read(self, request: httpx.Request, exchange: Exchange) -> Response:
        # The request recorded is the one sent, straight to the transport: httpx.Client.stream would build it a
        # second time, run it through its auth and redirect generators (neither is used: follow_redirects is ours)
        # and keep the answer's cookies in the one jar every thread's next request is built with.
        stream = self._transport.handle_request(request)
        try:
            chunks: list[bytes] = []
            size = 0
            tls_version = _tls_version(stream)
            for chunk in stream.iter_raw():
                size += len(chunk)
                if size > self.max_response_bytes:
                    exchange.status = stream.status_code
                    exchange.error = f"response body larger than {self.max_response_bytes} bytes; stopped reading"
                    raise ResponseTooLarge(
                        f"{request.method} {exchange.url}: {exchange.error}")
                chunks.append(chunk)
            raw = b"".join(chunks)
            content = _decode_content(raw, stream.headers, self.max_response_bytes)
            if len(content) > self.max_response_bytes:
                exchange.status = stream.status_code
                exchange.error = f"decompressed body larger than {self.max_response_bytes} bytes"
                raise ResponseTooLarge(f"{request.method} {exchange.url}: {exchange.error}")
            response = Response(status=stream.status_code, headers=AnswerHeaders(stream.headers),
                                content=content, url=str(request.url), exchange=exchange, tls_version=tls_version,
                                received_at=time.time())
            self._register_tokens(response)
            exchange.status = stream.status_code
            exchange.reason = stream.reason_phrase
            exchange.http_version = stream.http_version
            exchange.tls_version = tls_version
            exchange.response_headers = _header_lines(self.redactor.headers(stream.headers.multi_items()))
            exchange.response_body, exchange.body_truncated = self._evidence_body(
                content, response.content_type)
            return response
        finally:
            stream.close()

    def _register_tokens(self, response: Response) -> None:
        # Tokens become secrets the moment they arrive, before anything is recorded or shown, and may travel
        # only back to the provider that issued them (and the policy's APIs).
        received: list[str] = []
        location = response.headers.get("location")
        if location and ("code=" in location or "token=" in location):
            # an authorization response: the code (query) or tokens (fragment) are echoed in the body as well
            parts = urllib.parse.urlsplit(location)
            for query in (parts.query, parts.fragment):
                for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
                    if key in TOKEN_MEMBERS or key == "code":
                        received.append(value)
        if b"token" in response.content or b"device_code" in response.content:
            try:
                body = json.loads(response.content)
            except (ValueError, RecursionError):
                body = None
            if isinstance(body, dict):
                received += [body[k] for k in TOKEN_MEMBERS if isinstance(body.get(k), str)]
        if received:
            self.redactor.add(*received)
            if self.confinement is not None:
                self.confinement.learn(received, response.url)

    def _new_exchange(self, request: httpx.Request) -> Exchange:
        body = request.content.decode("utf-8", errors="replace") if request.content else None
        if body is not None:
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                body = self.redactor.form(body)
            elif request.headers.get("content-type", "").startswith("application/json"):
                try:
                    body = json.dumps(self.redactor.wire(json.loads(body)))
                except (ValueError, RecursionError):
                    body = self.redactor.text(body)
            else:
                body = self.redactor.text(body)
        return Exchange(
            id=f"{self._id_prefix}{next(self._ids)}",
            method=request.method,
            url=bounded_text(self.redactor.url(str(request.url)), EVIDENCE_URL_LIMIT),
            started=datetime.now(UTC).isoformat(timespec="milliseconds"),
            request_headers=_header_lines(self.redactor.headers(request.headers.multi_items())),
            request_body=clip(printable(body), EVIDENCE_BODY_LIMIT, EVIDENCE_BODY_LIMIT // 2) if body else body,
        )

    def _evidence_body(self, content: bytes, content_type: str) -> tuple[str | None, bool]:
        if not content:
            return None, False
        text: str | None = None
        if content_type.endswith("json"):
            try:
                # Bounded before it is walked: 10,000 keys or a 1 MiB member cost a few kilobytes of evidence.
                document = finish(self.redactor.wire(shape(json.loads(content))))
                text = json.dumps(document, indent=1, ensure_ascii=False, default=str)
            except (ValueError, RecursionError):
                text = None
        if text is None:
            text = self.redactor.text(content.decode("utf-8", errors="replace"))
        # Escaped before it is cut: a body of control characters grows sixfold when escaped.
        shown = printable(text)
        cut = clip(shown, EVIDENCE_BODY_LIMIT, EVIDENCE_BODY_LIMIT // 2)
        return cut, cut is not shown


def _revealed(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return {k: reveal(v) for k, v in values.items()} if values is not None else None


def _revealed_json(value: Any) -> Any:
    # nested: a login step's JSON may hold its Secret values at any depth
    if isinstance(value, Mapping):
        return {k: _revealed_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_revealed_json(v) for v in value]
    return reveal(value)


def make_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """A verifying context: the system's trust store plus ``ca_bundle``; TLS 1.2 at least."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _transport_error(message: str, exchange: Exchange) -> TransportError:
    error = TransportError(message)
    error.exchange = exchange  # type: ignore[attr-defined]
    return error


def _is_tls_error(exc: Exception) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "SSL" in str(exc) or "certificate" in str(exc).lower()


def _describe_transport(exc: Exception, url: str, timeout: float) -> str:
    origin = _origin(url)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__}: no complete answer from {origin} within {timeout:g}s"
    if _is_tls_error(exc):
        return f"TLS handshake with {origin} failed: {text}"
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return f"cannot connect to {origin}: {text}"
    return f"exchange with {origin} failed: {text}"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for (delay or HTTP date, RFC 9110 §10.2.3), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if seconds == seconds else None


def _tls_version(stream: httpx.Response) -> str | None:
    network = stream.extensions.get("network_stream")
    if network is None:
        return None
    ssl_object = network.get_extra_info("ssl_object")
    return ssl_object.version() if ssl_object is not None else None


def _decode_content(raw: bytes, headers: httpx.Headers, cap: int) -> bytes:
    # iter_raw keeps the size cap honest against compression bombs: decode at most cap + 1 bytes.
    encoding = headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate", "x-gzip"):
        try:
            return zlib.decompressobj(wbits=47).decompress(raw, cap + 1)
        except zlib.error:
            return raw
    return raw


def worker_prefix() -> str:
    """Exchange ids stay unique across xdist workers."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{worker}x" if worker else "x"
