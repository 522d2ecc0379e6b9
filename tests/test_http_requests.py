"""HttpClient builds its common requests itself and sends them on httpcore's pool: every request must be the one
httpx.Client.build_request (with httpx.BasicAuth) builds, on the wire and in the evidence, and every URL httpx refuses
must be refused with httpx's words."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from pytest_authcheck import __version__
from pytest_authcheck._bounds import bounded_text
from pytest_authcheck._errors import TransportError
from pytest_authcheck._http import HttpClient, _basic_authorization
from pytest_authcheck._redact import Redactor, Secret, reveal

CLIENT_SECRET = "s3cr3t:+/ü=&%41"
PASSWORD = "pä ss&word=%zz"


def revealed_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: revealed_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [revealed_json(v) for v in value]
    return reveal(value)


def by_httpx(method: str, url: str, *, headers: Mapping[str, Any] | None = None, data: Any = None,
             params: Any = None, json: Any = None, auth: tuple[str, Any] | None = None) -> httpx.Request:
    """What HttpClient sent before it built requests itself: httpx's request, with httpx's Basic auth."""
    client = httpx.Client(headers={"User-Agent": f"pytest-authcheck/{__version__}", "Accept-Encoding": "gzip"},
                          trust_env=False, follow_redirects=False)
    request = client.build_request(
        method, url, headers={k: reveal(v) for k, v in (headers or {}).items()},
        data={k: reveal(v) for k, v in data.items()} if data is not None else None,
        params={k: reveal(v) for k, v in params.items()} if params is not None else None,
        json=revealed_json(json))
    if auth is not None:
        request = next(httpx.BasicAuth(auth[0], reveal(auth[1])).auth_flow(request))
    return request


# (id, sent by HttpClient without httpx, method, url, keyword arguments)
CASES: list[tuple[str, bool, str, str, dict[str, Any]]] = [
    ("get-params", True, "GET", "https://idp.example/authorize", {"params": {
        "client_id": "app 1", "redirect_uri": "http://127.0.0.1/cb?x=1&y=2", "scope": "openid profile",
        "state": Secret("st@te/+~", label="state"), "max_age": 5, "ünï": "cödé"}}),
    ("get-query-no-params", False, "GET", "https://idp.example/cb?code=abc&state=x#frag", {}),
    # a login's redirects and a probe's own authorization URL carry their query already
    ("get-query", True, "GET", "https://idp.example/auth?client_id=a&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb"
                               "&scope=openid+profile&state=%7Ex", {}),
    ("get-query-empty", True, "GET", "https://idp.example/auth?", {}),
    ("get-query-odd-but-kept", True, "GET", "https://IDP.example:443/a?b=%zz&c=[1]|{x}~'!$@:/?&d=%41%", {}),
    ("get-query-space", False, "GET", "https://idp.example/auth?a=b c", {}),
    ("get-query-quote-angle", False, "GET", 'https://idp.example/auth?a="<b>"', {}),
    ("get-query-unicode", False, "GET", "https://idp.example/auth?a=é", {}),
    ("get-query-userinfo", False, "GET", "https://u:p@idp.example/auth?a=b", {}),
    ("get-params-bool-list-none", False, "GET", "https://idp.example/x", {"params": {
        "a": True, "b": ["1", "2"], "c": None, "d": 1.5}}),
    ("post-form-basic", True, "POST", "https://idp.example:8443/token", {
        "data": {"grant_type": "password", "username": "alice", "password": Secret(PASSWORD, label="password"),
                 "scope": ["openid", "email"], "flag": False, "empty": None, "n": 3},
        "auth": ("client id:ü", Secret(CLIENT_SECRET, label="client_secret"))}),
    ("post-json-nested", True, "POST", "https://127.0.0.1:9443/api/v1/login", {"json": {
        "user": {"name": "bob", "password": Secret(PASSWORD, label="pw"), "keys": [Secret("k1"), {"k": Secret("é")}]},
        "n": 1.5, "t": True, "u": "ü\u2028", "none": None, "list": [1, "two", [3]]}}),
    ("put-json-empty", True, "PUT", "https://idp.example/x", {"json": {}}),
    ("post-empty", True, "POST", "https://idp.example/revoke", {}),
    ("post-empty-data", True, "POST", "https://idp.example/revoke", {"data": {}}),
    ("delete", True, "DELETE", "https://idp.example/clients/1", {}),
    ("custom-headers", True, "GET", "https://idp.example/userinfo", {"headers": {
        "authorization": Secret("Bearer abc.def.ghi", label="token"), "X-Trace": "1", "accept": "application/json",
        "user-agent": "custom/1", "Accept-Encoding": "identity"}}),
    ("authorization-and-basic", True, "POST", "https://idp.example/token", {
        "headers": {"X-First": "1", "Authorization": "Bearer x", "X-Last": "2"}, "data": {"grant_type": "x"},
        "auth": ("c", Secret("s"))}),
    ("host-and-content-type-given", True, "POST", "https://idp.example/token", {
        "headers": {"Host": "other.example", "Content-Type": "application/json; charset=utf-8"},
        "data": {"a": "b"}}),
    ("content-length-given", True, "POST", "https://idp.example/token", {"headers": {"content-length": "0"}}),
    ("default-port", True, "GET", "https://idp.example:443/x", {}),
    ("http-default-port", True, "GET", "http://idp.example:80/x", {}),
    ("upper-case-host-scheme", True, "GET", "HTTPS://IdP.EXAMPLE.com:8443/Path/To", {"params": {"a": "b"}}),
    ("percent-escapes", True, "GET", "https://idp.example/a%2Fb/c%7ed/%zz/%", {}),
    ("dot-segments", True, "GET", "https://idp.example/.well-known/../a/./b/", {}),
    ("no-path", True, "GET", "https://idp.example", {"params": {"q": "1"}}),
    ("idn", True, "GET", "https://bücher.example/p", {}),
    ("idn-encoded", True, "GET", "https://xn--bcher-kva.example/p", {}),
    ("ipv6", True, "GET", "http://[::1]:8080/p", {"params": {"a": "1"}}),
    ("unusual-characters", True, "GET", "https://idp.example/a b/{c}|d`e\"f<g>^h", {}),
    ("unicode-path", True, "GET", "https://idp.example/pfad/ärger", {}),
    ("userinfo", False, "GET", "https://user:pw@idp.example/x", {}),
    ("long-unicode-path", False, "GET", "https://idp.example/" + "é" * 3000, {}),
    ("space-in-host", True, "GET", "https://exa mple.com/x", {}),
    ("large-port", True, "GET", "https://idp.example:99999/x", {}),
]


@pytest.fixture
def http() -> Iterator[HttpClient]:
    client = HttpClient(redactor=Redactor([CLIENT_SECRET, PASSWORD]), timeout=5)
    yield client
    client.close()


def built(http: HttpClient, method: str, url: str, kwargs: dict[str, Any], fast: bool) -> Any:
    auth = kwargs.get("auth")
    basic = Secret(_basic_authorization(auth[0], reveal(auth[1]))) if auth else None
    by_httpx_calls = []
    original = http._built_by_httpx

    def counted(*args: Any) -> Any:
        by_httpx_calls.append(args[1])
        return original(*args)

    http._built_by_httpx = counted  # type: ignore[method-assign]
    request = http._built(method, url, kwargs.get("headers") or {}, kwargs.get("data"), kwargs.get("params"),
                          kwargs.get("json"), basic)
    assert by_httpx_calls == ([] if fast else [url]), "built by httpx" if by_httpx_calls else "built without httpx"
    return request


@pytest.mark.parametrize(("fast", "method", "url", "kwargs"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_each_request_is_the_one_httpx_builds(http: HttpClient, fast: bool, method: str, url: str,
                                              kwargs: dict[str, Any]) -> None:
    expected = by_httpx(method, url, **kwargs)
    request = built(http, method, url, kwargs, fast)

    assert (request.method, request.url, request.path) == (expected.method, str(expected.url), expected.url.path)
    assert (request.scheme, request.host, request.port, request.target) == (
        expected.url.raw_scheme, expected.url.raw_host, expected.url.port, expected.url.raw_path)
    assert request.headers == expected.headers.raw
    assert request.lines == expected.headers.multi_items()
    assert request.body == expected.content


@pytest.mark.parametrize(("fast", "method", "url", "kwargs"), [case[1:] for case in CASES if case[1]],
                         ids=[case[0] for case in CASES if case[1]])
def test_the_evidence_of_a_request_built_without_httpx_is_the_same(http: HttpClient, fast: bool, method: str,
                                                                    url: str, kwargs: dict[str, Any]) -> None:
    auth = kwargs.get("auth")
    basic = Secret(_basic_authorization(auth[0], reveal(auth[1]))) if auth else None
    args = (method, url, kwargs.get("headers") or {}, kwargs.get("data"), kwargs.get("params"), kwargs.get("json"),
            basic)
    ours, theirs = http._new_exchange(http._built(*args)), http._new_exchange(http._built_by_httpx(*args))

    assert (ours.method, ours.url, ours.request_headers, ours.request_body) == (
        theirs.method, theirs.url, theirs.request_headers, theirs.request_body)
    shown = repr(ours.to_dict()) + repr(http._built(*args))
    assert CLIENT_SECRET not in shown and PASSWORD not in shown and "abc.def.ghi" not in shown


@pytest.mark.parametrize("url", [
    "https://[::1/x", "https://idp.example:port/x",
    "https://999.1.1.1/x", "https://idp.example/\x00x", "https://idp.example/x\r\nX-Injected: 1",
    "https://xn--/x", "https://" + "a" * 70000, "https://[::1]x/",
])
def test_a_url_httpx_refuses_is_refused_in_httpx_words(http: HttpClient, url: str) -> None:
    with pytest.raises((httpx.InvalidURL, ValueError)) as refused:  # ValueError: idna's refusal of a host
        by_httpx("GET", url)
    with pytest.raises(TransportError) as raised:
        http.get(url)
    assert str(raised.value) == bounded_text(f"cannot send a request to {url[:200]}: {refused.value}")


def test_a_header_httpx_cannot_encode_is_refused_in_httpx_words(http: HttpClient) -> None:
    with pytest.raises(UnicodeEncodeError) as refused:
        by_httpx("GET", "https://idp.example/x", headers={"X-Name": "ü"})
    with pytest.raises(TransportError) as raised:
        http.get("https://idp.example/x", headers={"X-Name": Secret("ü")})
    assert str(raised.value) == f"cannot send a request to https://idp.example/x: {refused.value}"


def test_a_scheme_httpcore_cannot_send_is_an_exchange_failure_as_before(http: HttpClient) -> None:
    with pytest.raises(TransportError) as raised:
        http.get("ftp://idp.example/x")
    assert str(raised.value) == \
        "exchange with ftp://idp.example:0 failed: Request URL has an unsupported protocol 'ftp://'."
    assert raised.value.exchange.error == str(raised.value)  # type: ignore[attr-defined]


class RecordingServer:
    """An HTTP/1.1 server on 127.0.0.1 that keeps the bytes of every request it reads and answers 204."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                               if line.lower().startswith(b"content-length:")), 0)
                while len(rest) < length:
                    rest += connection.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                connection.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    def close(self) -> None:
        self._socket.close()


@pytest.mark.parametrize("case", ["get-params", "post-form-basic", "post-json-nested", "custom-headers",
                                  "authorization-and-basic", "post-empty"])
def test_the_bytes_on_the_wire_are_those_httpx_sent(http: HttpClient, case: str) -> None:
    _, _, method, url, kwargs = next(c for c in CASES if c[0] == case)
    server = RecordingServer()
    try:
        url = url.replace("https://idp.example:8443", "https://idp.example").replace(
            "https://127.0.0.1:9443", "https://idp.example").replace("https://idp.example", f"http://127.0.0.1:{server.port}")
        with httpx.Client(trust_env=False) as client:
            client.send(by_httpx(method, url, **kwargs)).read()
        http.request(method, url, **kwargs)
    finally:
        server.close()
    assert len(server.requests) == 2 and server.requests[1] == server.requests[0]


@pytest.mark.parametrize(("url", "params", "target"), [
    ("/authorize?p=B2C_1_signin", {"client_id": "app", "scope": "openid profile"},
     b"/authorize?p=B2C_1_signin&client_id=app&scope=openid+profile"),
    ("/authorize?p=1&", {"state": Secret("s t")}, b"/authorize?p=1&state=s+t"),
    ("/authorize?p=1", {}, b"/authorize?p=1"),
    ("/authorize?p=1#frag", {"a": True, "b": ["1", "2"]}, b"/authorize?p=1&a=true&b=1&b=2"),
    ("/authorize", {"a": "1"}, b"/authorize?a=1"),
])
def test_params_are_added_to_the_query_an_endpoint_has(http: HttpClient, url: str, params: dict[str, Any],
                                                      target: bytes) -> None:
    # RFC 6749 §3.1: the endpoint's own query must be retained when parameters are added (httpx >= 0.28 drops it)
    server = RecordingServer()
    try:
        response = http.get(f"http://127.0.0.1:{server.port}{url}", params=params)
    finally:
        server.close()
    assert server.requests[0].split(b"\r\n", 1)[0] == b"GET " + target + b" HTTP/1.1"
    # the evidence names the URL as given, its fragment too (never sent)
    assert response.exchange.url.split("#")[0] == f"http://127.0.0.1:{server.port}{target.decode()}"
