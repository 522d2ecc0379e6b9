"""The run's one HTTP layer: pooled connections with verification, retries, caps and evidence.

Every request a check makes goes through ``HttpClient.request``: certificate verification is always on
(``ca_bundle`` only adds trust anchors), redirects are never followed with credentials to another
origin, bodies are capped, idempotent requests are retried a bounded number of times on connect
errors, 429 and 503, and every exchange is recorded, redacted and bounded (``_bounds``), as evidence.

Requests are those httpx builds (its default headers in its order, its URL normalisation, its form and JSON
encodings) and are sent on an httpcore pool. At a thousand clients the run is CPU-bound, and httpx's pure-Python URL
parser and its wrapping of httpcore were a third of the CPU of every request: the common request (an http(s) URL
without userinfo or fragment whose query httpx would send as it is, ASCII headers) is built here from a cached parse
of the URL without its query, anything else by httpx. Parameters are added to a query the URL already has.

Time is bounded too: each attempt must be answered completely (connect, TLS, headers, body) within
``timeout`` (``_deadline``), and a request with its retries and their waits within ``timeout x
(retries + 1)``. A throttled answer (429, or 503 with Retry-After) asking for a longer wait than that
is returned at once, and reads as *not evaluated* (``Response.throttled``). An origin that cannot be
reached, and an endpoint that gave no complete answer in time, are remembered: a dead or stalled IdP
costs one timeout per run, not one per check.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import itertools
import json
import os
import re
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

import httpcore
import httpx

from . import __version__
from ._answer_headers import AnswerHeaders
from ._bounds import bounded_text, clip, finish, printable, shape
from ._confine import Confinement
from ._deadline import deadline, pool
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

    @property
    def handed_over(self) -> bool:
        """Whether ``hand_over`` has run: the evidence store has this exchange (every sent one has a start time)."""
        return not self.started


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
        self._pool = self._new_pool()
        # The client only builds the requests _built cannot (default headers, URL and body encoding): _read sends them.
        self._client = httpx.Client(
            transport=_NotSent(),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": f"pytest-authcheck/{__version__}", "Accept-Encoding": "gzip"},
        )
        self._default_headers = [(name, name.lower(), value) for name, value in self._client.headers.raw]
        self._extensions = {"timeout": self._client.timeout.as_dict()}
        self._ids = itertools.count(1)
        self._id_prefix = id_prefix
        self._dead_origins: dict[str, TransportError] = {}
        self._stalled: dict[str, TransportError] = {}
        self._lock = threading.Lock()

    def forked(self, id_suffix: str) -> None:
        """In a forked process: connections of its own (the inherited ones are the parent's to use) and exchange ids
        that cannot be the parent's."""
        self._pool = self._new_pool()
        self._lock = threading.Lock()
        self._id_prefix += id_suffix

    def _new_pool(self) -> httpcore.ConnectionPool:
        return pool(self.ssl_context, httpx.Limits(max_connections=50, max_keepalive_connections=20))

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()
        self._pool.close()

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
            basic = Secret(_basic_authorization(auth[0], reveal(auth[1])), label="basic authorization")
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
              params: Mapping[str, Any] | None, basic: Secret | None, basic_password: Any = None,
              json_body: Mapping[str, Any] | None = None) -> Response:
        origin = _origin(url)
        with self._lock:
            dead = self._dead_origins.get(origin)
        try:
            request = self._built(method, url, headers, data, params, json_body, basic)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise TransportError(bounded_text(f"cannot send a request to {self.redactor.text(url[:200])}: {exc}")) from None
        exchange = self._new_exchange(request)
        endpoint = f"{method} {origin}{request.path}"
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

    def _built(self, method: str, url: str, headers: Mapping[str, Any], data: Mapping[str, Any] | None,
               params: Mapping[str, Any] | None, json_body: Mapping[str, Any] | None,
               basic: Secret | None) -> _Outgoing:
        """The request httpx.Client.build_request (and httpx.BasicAuth) would build, byte for byte, except that
        ``params`` are added to a query the URL already has (httpx 0.28 on replaces it)."""
        url, params = _with_params(url, params)
        plain_url = _plain_url(url)
        parsed, own_query = plain_url if plain_url is not None else (None, None)
        plain, query = _plain_query(params)
        if own_query is not None:
            query = own_query  # params were added to it (_with_params)
        lines = _plain_headers(headers) if parsed is not None and plain else None
        if parsed is None or lines is None or (data is not None and not isinstance(data, Mapping)):
            return self._built_by_httpx(method, url, headers, data, params, json_body, basic)
        # httpx: the client's default headers, those of the call replacing any of the same name at its end; the
        # encoder's Content-Length and Content-Type unless given; Host and an empty body's length first.
        given = {lower for _, lower, _ in lines}
        lines = [line for line in self._default_headers if line[1] not in given] + lines
        given = {lower for _, lower, _ in lines}
        content_type = None
        if data:
            body = _form_body(data)
            content_type = b"application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(_revealed_json(json_body), ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False).encode("utf-8")
            content_type = b"application/json"
        else:
            body = b""
        if content_type is not None:
            if b"content-length" not in given:
                lines.append((b"Content-Length", b"content-length", str(len(body)).encode("ascii")))
            if b"content-type" not in given:
                lines.append((b"Content-Type", b"content-type", content_type))
            given.add(b"content-length")
        first = []
        if b"host" not in given and parsed.host:  # .host, as httpx: it decodes (and may refuse) an IDNA host
            first.append((b"Host", b"host", parsed.netloc))
        if b"content-length" not in given and b"transfer-encoding" not in given and method in ("POST", "PUT", "PATCH"):
            first.append((b"Content-Length", b"content-length", b"0"))
        lines = first + lines
        if basic is not None:
            _set_authorization(lines, basic)
        address = str(parsed)
        target = parsed.raw_path
        if query is not None:  # an empty query of the URL's own keeps its "?", as in httpx; params never give one
            address, target = f"{address}?{query}", target + b"?" + query.encode("ascii")
        return _Outgoing(method, address, parsed.path, parsed.raw_scheme, parsed.raw_host, parsed.port, target,
                         [(name, value) for name, _, value in lines],
                         [(lower.decode("ascii"), value.decode("ascii")) for _, lower, value in lines], body)

    def _built_by_httpx(self, method: str, url: str, headers: Mapping[str, Any], data: Mapping[str, Any] | None,
                        params: Mapping[str, Any] | None, json_body: Mapping[str, Any] | None,
                        basic: Secret | None) -> _Outgoing:
        # httpx validates and normalises what _built does not vouch for (a query or fragment to keep, userinfo,
        # non-ASCII headers, lists and booleans as values), and raises on what it refuses, as it always has.
        request = self._client.build_request(method, url, headers=_revealed(headers), data=_revealed(data),
                                             params=_revealed(params), json=_revealed_json(json_body))
        if basic is not None:
            request.headers["Authorization"] = basic.reveal()  # as httpx.BasicAuth.auth_flow
        address = request.url
        return _Outgoing(request.method, str(address), address.path, address.raw_scheme, address.raw_host,
                         address.port, address.raw_path, request.headers.raw, request.headers.multi_items(),
                         request.content)

    def _read(self, request: _Outgoing, exchange: Exchange) -> Response:
        # Sent straight to the pool: httpx.Client.send would keep the answer's cookies in the one jar every thread's
        # next request is built with, and its transport maps every request and answer to and from httpcore's.
        # httpcore's errors are raised as httpx's, which _send and the evidence's wording know.
        try:
            answer = self._pool.handle_request(httpcore.Request(
                request.method, httpcore.URL(scheme=request.scheme, host=request.host, port=request.port,
                                             target=request.target),
                headers=request.headers, content=request.body, extensions=self._extensions))
        except _HTTPCORE_ERRORS as exc:
            raise _as_httpx(exc) from exc
        try:
            chunks: list[bytes] = []
            size = 0
            tls_version = _tls_version(answer.extensions)
            try:
                for chunk in answer.stream:  # type: ignore[union-attr]  # a sync pool's stream is an Iterable
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        exchange.status = answer.status
                        exchange.error = f"response body larger than {self.max_response_bytes} bytes; stopped reading"
                        raise ResponseTooLarge(
                            f"{request.method} {exchange.url}: {exchange.error}")
                    chunks.append(chunk)
            except _HTTPCORE_ERRORS as exc:
                raise _as_httpx(exc) from exc
            raw = b"".join(chunks)
            headers = AnswerHeaders(_text_lines(answer.headers))
            content = _decode_content(raw, headers, self.max_response_bytes)
            if len(content) > self.max_response_bytes:
                exchange.status = answer.status
                exchange.error = f"decompressed body larger than {self.max_response_bytes} bytes"
                raise ResponseTooLarge(f"{request.method} {exchange.url}: {exchange.error}")
            response = Response(status=answer.status, headers=headers,
                                content=content, url=request.url, exchange=exchange, tls_version=tls_version,
                                received_at=time.time())
            self._register_tokens(response)
            exchange.status = answer.status
            reason = answer.extensions.get("reason_phrase")
            exchange.reason = reason.decode("ascii", errors="ignore") if isinstance(reason, bytes) \
                else httpx.codes.get_reason_phrase(answer.status)
            version = answer.extensions.get("http_version")
            exchange.http_version = version.decode("ascii", errors="ignore") if isinstance(version, bytes) \
                else "HTTP/1.1"
            exchange.tls_version = tls_version
            exchange.response_headers = _header_lines(self.redactor.headers(headers.multi_items()))
            exchange.response_body, exchange.body_truncated = self._evidence_body(
                content, response.content_type)
            return response
        finally:
            answer.close()

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

    def _new_exchange(self, request: _Outgoing) -> Exchange:
        body = request.body.decode("utf-8", errors="replace") if request.body else None
        if body is not None:
            content_type = ", ".join(value for name, value in request.lines if name == "content-type")
            if content_type.startswith("application/x-www-form-urlencoded"):
                body = self.redactor.form(body)
            elif content_type.startswith("application/json"):
                try:
                    body = json.dumps(self.redactor.wire(json.loads(body)))
                except (ValueError, RecursionError):
                    body = self.redactor.text(body)
            else:
                body = self.redactor.text(body)
        return Exchange(
            id=f"{self._id_prefix}{next(self._ids)}",
            method=request.method,
            url=bounded_text(self.redactor.url(request.url), EVIDENCE_URL_LIMIT),
            started=datetime.now(UTC).isoformat(timespec="milliseconds"),
            request_headers=_header_lines(self.redactor.headers(request.lines)),
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


@dataclass(slots=True, repr=False)
class _Outgoing:
    """A request as it goes onto the wire (``headers``, ``body``) and into the evidence (``lines``: names lower case,
    as httpx's ``Headers.multi_items``). ``url`` and ``path`` are httpx's ``str(URL)`` and ``URL.path``."""

    method: str
    url: str
    path: str
    scheme: bytes
    host: bytes
    port: int | None
    target: bytes
    headers: list[tuple[bytes, bytes]]
    lines: list[tuple[str, str]]
    body: bytes

    def __repr__(self) -> str:
        # --showlocals prints it: header values and the query may hold credentials
        return f"<request {self.method} {self.path}>"


class _NotSent(httpx.BaseTransport):
    """The transport of the client that only builds requests."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("HttpClient sends its requests on its own pool")


# Base URLs recur (every token request goes to the same endpoint): httpx parses each once. The key is the URL without
# its query (a query may hold a credential), and never has a fragment or userinfo.
@functools.lru_cache(maxsize=256)
def _parsed_url(url: str) -> httpx.URL:
    return httpx.URL(url)


# A query httpx sends as it is: printable ASCII but for space, '"', '#', '<' and '>' (its query percent-encode set).
_QUERY_AS_IS = re.compile(r"[!$%&'()*+,\-./0-9:;=?@A-Z\[\\\]^_`a-z{|}~]*")


def _plain_url(url: str) -> tuple[httpx.URL, str | None] | None:
    """httpx's parse of ``url`` without its query, and the query (None: none), when httpx would send the query as it
    is; else None."""
    if len(url) > 2000 or not url[:8].lower().startswith(("https://", "http://")) or "#" in url:
        return None
    base, question_mark, query = url.partition("?")
    if "@" in base or (question_mark and not _QUERY_AS_IS.fullmatch(query)):
        return None
    try:
        return _parsed_url(base), (query if question_mark else None)
    except (httpx.InvalidURL, ValueError):
        return None  # httpx raises it again, for the caller


def _with_params(url: str, params: Mapping[str, Any] | None) -> tuple[str, Mapping[str, Any] | None]:
    # RFC 6749 §3.1: an endpoint's own query (a tenant's sign-in policy, say) "MUST be retained when adding
    # additional query parameters"; without it some providers answer for another flow or refuse the request.
    address, hash_mark, fragment = url.partition("#")
    if params is None or "?" not in address:
        return url, params
    added = str(httpx.QueryParams(_revealed(params)))
    if added:
        address += added if address.endswith(("?", "&")) else "&" + added
    return address + hash_mark + fragment, None


def _plain_query(params: Mapping[str, Any] | None) -> tuple[bool, str | None]:
    """httpx's query for ``params`` (None: none), unless (False, None) httpx's encoding is more than urlencode's."""
    if params is None or not isinstance(params, Mapping):
        return params is None, None
    pairs = []
    for key, value in params.items():
        value = reveal(value)
        # bool is an int whose httpx spelling ("true") is not str()'s
        if type(key) is not str or (type(value) is not str and type(value) is not int):
            return False, None
        pairs.append((key, value))
    return True, urllib.parse.urlencode(pairs) if pairs else None


def _plain_headers(headers: Mapping[str, Any]) -> list[tuple[bytes, bytes, bytes]] | None:
    """(name, lower-case name, value) as httpx encodes them, or None where httpx should judge them."""
    lines = []
    for name, value in headers.items():
        value = reveal(value)
        if type(name) is not str or type(value) is not str or not name.isascii() or not value.isascii():
            return None
        raw = name.encode("ascii")
        lines.append((raw, raw.lower(), value.encode("ascii")))
    return lines


def _form_body(data: Mapping[str, Any]) -> bytes:
    # httpx's encode_urlencoded_data, on the revealed values
    pairs: list[tuple[Any, str]] = []
    for key, value in data.items():
        value = reveal(value)
        if isinstance(value, list | tuple):
            pairs.extend((key, _primitive(item)) for item in value)
        else:
            pairs.append((key, _primitive(value)))
    return urllib.parse.urlencode(pairs, doseq=True).encode("utf-8")


def _primitive(value: Any) -> str:
    # httpx's primitive_value_to_str: JSON's spelling of booleans, None as empty
    return "true" if value is True else "false" if value is False else "" if value is None else str(value)


def _basic_authorization(username: str, password: str) -> str:
    # httpx.BasicAuth's header
    return "Basic " + base64.b64encode(username.encode("utf-8") + b":" + password.encode("utf-8")).decode()


def _set_authorization(lines: list[tuple[bytes, bytes, bytes]], basic: Secret) -> None:
    # as httpx.Headers.__setitem__: the first Authorization line takes the value, the others go
    found = [index for index, line in enumerate(lines) if line[1] == b"authorization"]
    for index in reversed(found[1:]):
        del lines[index]
    line = (b"Authorization", b"authorization", basic.reveal().encode("utf-8"))
    if found:
        lines[found[0]] = line
    else:
        lines.append(line)


# httpcore's errors and the httpx ones its transport raises for them (httpx's map_httpcore_exceptions), the most
# specific first.
_AS_HTTPX: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout), (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout), (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError), (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError), (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError), (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.ProxyError, httpx.ProxyError), (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)
_HTTPCORE_ERRORS = tuple(core for core, _ in _AS_HTTPX)


def _as_httpx(exc: Exception) -> Exception:
    return next((error(str(exc)) for core, error in _AS_HTTPX if isinstance(exc, core)), exc)


def _text_lines(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Header lines as httpx's ``Headers.multi_items``: names lower case; all lines ASCII, else all UTF-8, else
    all Latin-1."""
    for encoding in ("ascii", "utf-8"):
        try:
            return [(name.lower().decode(encoding), value.decode(encoding)) for name, value in raw]
        except UnicodeDecodeError:
            pass
    return [(name.lower().decode("iso-8859-1"), value.decode("iso-8859-1")) for name, value in raw]


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


def _tls_version(extensions: Mapping[str, Any]) -> str | None:
    network = extensions.get("network_stream")
    if network is None:
        return None
    ssl_object = network.get_extra_info("ssl_object")
    return ssl_object.version() if ssl_object is not None else None


def _decode_content(raw: bytes, headers: Mapping[str, str], cap: int) -> bytes:
    # Read raw, the size cap stays honest against compression bombs: decode at most cap + 1 bytes.
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
