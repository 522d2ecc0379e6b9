"""A world of hostile issuers: one ``HostileIdp`` (or worse) per class of hostile answer, in one policy.

``HostileWorld(ca)`` starts about fifty issuers on 127.0.0.1, each faulty in one way the issue that
measured 951 s and 6.6 GB named (malformed, huge, slow, trickling, redirecting, 5xx/429, broken JWKS,
hostile token answers, hostile strings, TLS faults), plus issuers that are correct except for the
size or the strings of their answers. ``policy()`` declares every issuer as a provider with one
client-credentials client (whose secret the world is given), so ``pytest --authcheck`` meets all of them in
one run.

Each ``Issuer`` says what a sound run must make of it: ``may_pass`` lists the checks (id prefixes)
that may pass on it (everything else must fail, error or be skipped: the issuer is broken there),
and ``expect`` names results that must come out exactly so (status and words of the message).

The token endpoints are real enough to judge: client credentials with the declared secret over HTTP
Basic get an RS256 JWT signed with the key the JWKS publishes; anything else gets invalid_client or
unsupported_grant_type. The signing key is made once per process.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.hostile_idp import (
    Answer,
    Blackhole,
    Dribble,
    HostileIdp,
    Request,
    gzip_bomb,
    json_answer,
    nested_json,
    streamed,
    unused_port,
)

DISCOVERY = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"
CLIENT_ID = "svc"
SECRET_ENV = "DEPLOYER_SECRET"
TIMEOUT = 1.5
RETRIES = 1
CAP = 2 * 1024 * 1024
MIB = 1024 * 1024
# Every control character the outputs must show escaped: NUL, ESC (a terminal colour), C1 CSI, NEL,
# right-to-left override and isolate, BOM-less zero-width, DEL.
HOSTILE_CHARS = "\x00\x1b[31mRED\x07\x08\x9b2J\x85\u202eEVIL\u2066\u2069\u202a\x7f"
TLS_ONLY = ("tls.",)
# Results that read only the discovery *response* (any answer): its Date header.
DATE = ("clock.date-header",)


@dataclass
class Issuer:
    """One hostile issuer of the world and what a sound run makes of it."""

    name: str
    fault: str
    url: str
    may_pass: tuple[str, ...] = ()
    expect: dict[str, tuple[str, str]] = field(default_factory=dict)
    idp: WorldIdp | None = None

    def may(self, check: str) -> bool:
        """Whether ``check`` may pass on this issuer."""
        return any(check.startswith(prefix) for prefix in self.may_pass)


# ---- keys and tokens --------------------------------------------------------------------------------

@cache
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey, kid: str = "k1") -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64u(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64u(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))}


@cache
def certificate_der(key: rsa.RSAPrivateKey) -> bytes:
    """A self-signed certificate of ``key`` (what an ``x5c`` carries)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile signing key")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def with_x5c(jwk: dict[str, Any], der: bytes, *, x5t256: str | None = None) -> dict[str, Any]:
    return {**jwk, "x5c": [base64.b64encode(der).decode()],
            "x5t#S256": x5t256 if x5t256 is not None else b64u(hashlib.sha256(der).digest())}


@cache
def many_keys(count: int) -> tuple[dict[str, Any], ...]:
    """The signing key, then ``count - 1`` EC keys with distinct kids (one real point: the point is the count,
    not 10,000 key generations; small keys keep the set under the response size cap)."""
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    point = {"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
             "x": b64u(numbers.x.to_bytes(32, "big")), "y": b64u(numbers.y.to_bytes(32, "big"))}
    return (public_jwk(signing_key()), *({**point, "kid": f"e{i}"} for i in range(2, count + 1)))


class WorldIdp(HostileIdp):
    """A hostile IdP that knows the secret of the world's client ``svc``."""

    def __init__(self, *args: Any, secret: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secret = secret


def token_endpoint(issuer: Callable[[], str], secret: str, *, claims: dict[str, Any] | None = None,
                   header: dict[str, Any] | None = None, body: dict[str, Any] | None = None,
                   algorithm: str = "RS256") -> Callable[[Request], Answer]:
    """A token endpoint that authenticates ``svc`` with its secret over Basic and issues signed JWTs."""
    expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()

    def answer(request: Request) -> Answer:
        form = dict(pair.split("=", 1) for pair in request.body.decode("latin-1").split("&") if "=" in pair)
        if request.header("Authorization") != expected:
            return json_answer({"error": "invalid_client"}, status=401, headers={"WWW-Authenticate": "Basic"})
        if form.get("grant_type") != "client_credentials":
            return json_answer({"error": "unsupported_grant_type"}, status=400)
        now = int(time.time())
        payload = {"iss": issuer(), "sub": CLIENT_ID, "aud": "https://api.hostile.test", "client_id": CLIENT_ID,
                   "iat": now, "exp": now + 600, "jti": f"{now}-{time.monotonic_ns()}", **(claims or {})}
        if algorithm == "none":
            token = jwt.encode(payload, None, algorithm="none", headers=header)
        else:
            token = jwt.encode(payload, signing_key(), algorithm=algorithm, headers={"kid": "k1", **(header or {})})
        return json_answer({"access_token": token, "token_type": "Bearer",
                            "expires_in": payload["exp"] - payload["iat"], **(body or {})})

    return answer


def metadata(url: str, **changes: Any) -> dict[str, Any]:
    document = {
        "issuer": url, "authorization_endpoint": f"{url}/authorize", "token_endpoint": f"{url}/token",
        "jwks_uri": f"{url}/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["client_credentials"], "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": ["openid"],
    }
    document.update(changes)
    return document


# ---- the issuers ------------------------------------------------------------------------------------

Build = Callable[[WorldIdp], dict[str, Answer | list[Answer]]]


def good(idp: WorldIdp, *, jwks: Any = None, token: Answer | None = None, **changes: Any) -> dict[str, Any]:
    """The routes of a correct issuer, with ``changes`` to its metadata, JWKS or token endpoint."""
    document = metadata(idp.url, **changes)
    return {DISCOVERY: json_answer(document), RFC8414: json_answer(document),
            "/jwks": json_answer(jwks if jwks is not None else {"keys": [public_jwk(signing_key())]}),
            "/token": token or token_answer(idp)}


def token_answer(idp: WorldIdp, **kwargs: Any) -> Answer:
    return Answer(body=token_endpoint(lambda: idp.url, idp.secret, **kwargs))


def discovery_only(answer: Answer | list[Answer]) -> Build:
    def build(idp: WorldIdp) -> dict[str, Any]:
        return {**good(idp), DISCOVERY: answer}
    return build


def hostile_strings(idp: WorldIdp) -> dict[str, Any]:
    dirty = f"{idp.url}/{HOSTILE_CHARS}"
    routes = good(idp, issuer=dirty, scopes_supported=["openid", HOSTILE_CHARS],
                  response_types_supported=["code", f"code {HOSTILE_CHARS}"],
                  service_documentation=HOSTILE_CHARS, op_policy_uri=dirty, **{HOSTILE_CHARS: HOSTILE_CHARS},
                  jwks={"keys": [{**public_jwk(signing_key(), kid=f"k1{HOSTILE_CHARS}")}]},
                  token=token_answer(idp, claims={"sub": HOSTILE_CHARS, "scope": HOSTILE_CHARS},
                                     header={"kid": f"k1{HOSTILE_CHARS}"},
                                     body={"scope": HOSTILE_CHARS, "note": HOSTILE_CHARS}))
    routes["/jwks"] = json_answer({"keys": [public_jwk(signing_key(), kid=f"k1{HOSTILE_CHARS}")]},
                                  headers={"X-Note": "\x9b31m\x85latin-1 controls"})
    return routes


def huge_strings(idp: WorldIdp) -> dict[str, Any]:
    big = "B" * 100_000
    return good(idp, service_documentation=big, scopes_supported=["openid", big], **{"x_" + big[:50]: big})


def token_error(idp: WorldIdp) -> dict[str, Any]:
    routes = good(idp)
    routes["/token"] = json_answer({"error": f"invalid_client{HOSTILE_CHARS}",
                                    "error_description": HOSTILE_CHARS * 100}, status=401)
    return routes


SLOW = TIMEOUT + 1.0
ALL_BUT_TLS = TLS_ONLY + DATE


def scenarios(other: str) -> list[tuple[str, str, Build | str, tuple[str, ...], dict[str, tuple[str, str]]]]:
    """(name, fault class, routes builder or server kind, may_pass, expect) of every issuer."""
    doc = lambda a: discovery_only(a)  # noqa: E731
    s: list[tuple[str, str, Build | str, tuple[str, ...], dict[str, tuple[str, str]]]] = [
        # -- the control: a correct issuer (its checks pass for the right reasons)
        ("good", "control", lambda i: good(i), ("",), {"discovery.reachable": ("passed", ""),
                                                     "jwks.token-signature": ("passed", ""),
                                                     "lifetimes.access-token": ("passed", "")}),
        # -- malformed and hostile discovery answers
        ("truncated-json", "malformed", doc(Answer(body=b'{"issuer": "https://x", "jwks_u')), ALL_BUT_TLS,
         {"discovery.schema": ("error", "not JSON")}),
        ("html-page", "malformed", doc(Answer(body=b"<html><script>alert(1)</script>Sign in</html>",
                                              content_type="text/html")), ALL_BUT_TLS, {}),
        ("nested-json", "malformed", doc(Answer(body=nested_json(100_000))), ALL_BUT_TLS, {}),
        ("json-array", "malformed", doc(json_answer([1, 2, 3])), ALL_BUT_TLS, {}),
        ("non-utf8", "malformed", doc(Answer(body=b'{"issuer": "\xff\xfe\xc3"}')), ALL_BUT_TLS, {}),
        ("arbitrary-bytes", "malformed", doc(Answer(body=bytes(range(256)) * 64, content_type="application/json")),
         ALL_BUT_TLS, {}),
        ("huge-body", "huge", doc(Answer(body=streamed(CAP * 4))), TLS_ONLY, {}),
        ("huge-declared", "huge", doc(Answer(body=streamed(CAP * 2), length=CAP * 2)), TLS_ONLY, {}),
        ("gzip-bomb", "huge", doc(Answer(body=gzip_bomb(CAP * 16), headers={"Content-Encoding": "gzip"})), TLS_ONLY, {}),
        ("huge-strings", "huge", huge_strings, ("",), {}),
        ("slow", "slow", doc(Answer(body=b"{}", delay=SLOW)), TLS_ONLY, {}),
        ("trickle-body", "slow", doc(Answer(body=b"{" + b" " * 3000 + b"}", chunks=30, chunk_delay=TIMEOUT / 6)),
         TLS_ONLY, {}),
        ("trickle-headers", "slow", doc(Answer(body=b"{}", header_delay=0.2)), TLS_ONLY, {}),
        ("closed-mid-body", "slow", doc(Answer(body=b'{"issuer": "' + b"x" * 4000 + b'"}', close_early=True)),
         TLS_ONLY, {}),
        ("redirect-loop", "redirect", doc(Answer(status=302, headers={"Location": DISCOVERY})), ALL_BUT_TLS,
         {"discovery.reachable": ("failed", "redirects")}),
        ("redirect-off-host", "redirect", doc(Answer(status=307, headers={"Location": other + DISCOVERY})),
         ALL_BUT_TLS, {"discovery.reachable": ("failed", "redirects")}),
        ("http-500", "5xx", doc(Answer(status=500, body=b'{"error":"boom"}')), ALL_BUT_TLS,
         {"discovery.reachable": ("failed", "HTTP 500")}),
        ("http-502-html", "5xx", doc(Answer(status=502, body=b"<h1>Bad gateway</h1>", content_type="text/html")),
         ALL_BUT_TLS, {}),
        ("503-forever", "429/503", doc(Answer(status=503, body=b"{}", headers={"Retry-After": "0"})), ALL_BUT_TLS,
         {"discovery.reachable": ("error", "Retry-After")}),
        ("429-hour", "429/503", doc(Answer(status=429, body=b"{}", headers={"Retry-After": "3600"})), ALL_BUT_TLS,
         {"discovery.reachable": ("error", "wait 3600 s (Retry-After)")}),
        ("503-hour-date", "429/503", doc(Answer(status=503, body=b"{}", headers={
            "Retry-After": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")})),
         ALL_BUT_TLS, {"discovery.reachable": ("error", "(Retry-After)")}),
        ("429-then-ok", "429/503", lambda i: {**good(i), DISCOVERY: [Answer(status=429, body=b"{}",
                                                                            headers={"Retry-After": "1"}),
                                                                     json_answer(metadata(i.url))]},
         ("",), {"discovery.reachable": ("passed", "")}),
        ("hostile-strings", "strings", hostile_strings, ("",), {"discovery.issuer-match": ("failed", "")}),
        ("wrong-types", "malformed", lambda i: good(i, issuer=7, jwks_uri=None, grant_types_supported="all",
                                                   token_endpoint={"a": 1}), ("",),
         {"discovery.schema": ("failed", ""), "discovery.issuer-match": ("failed", "int"),
          "discovery.grant-types": ("failed", "not an array of strings"), "jwks.reachable": ("error", "no jwks_uri")}),
        # -- TLS and connection faults
        ("nothing-listening", "tls", "refused", (), {}),
        ("blackhole", "tls", "blackhole", (), {}),
        ("tls-dribble", "tls", "dribble", (), {}),
        ("expired-cert", "tls", "expired", ("tls.hostname", "tls.protocol-version", "tls.chain-trusted"),
         {"tls.cert-lifetime": ("failed", "")}),
        ("wrong-host-cert", "tls", "wrong-host", ("tls.cert-lifetime", "tls.protocol-version", "tls.chain-trusted"),
         {"tls.hostname": ("failed", "")}),
        ("untrusted-ca", "tls", "untrusted", ("tls.hostname", "tls.protocol-version", "tls.cert-lifetime"),
         {"tls.chain-trusted": ("failed", "")}),
        ("plain-http", "tls", "plain", (), {}),
        # -- JWK Sets
        ("jwks-10000-keys", "jwks", lambda i: good(i, jwks={"keys": list(many_keys(10_000))}),
         ("", ), {"jwks.structure": ("failed", "10000 keys"),
                  "jwks.key-strength": ("error", "only the first 100 were judged"),
                  "jwks.no-private-material": ("error", "only the first 100 were judged"),
                  "jwks.token-signature": ("passed", "")}),
        ("x5c-garbage", "jwks", lambda i: good(i, jwks={"keys": [{**public_jwk(signing_key()),
                                                                   "x5c": ["!!garbage!!", "AAAA"]}]}),
         ("",), {"jwks.structure": ("failed", "x5c")}),
        ("x5c-other-key", "jwks", lambda i: good(i, jwks={"keys": [with_x5c(public_jwk(signing_key()),
                                                                              certificate_der(other_key()))]}),
         ("",), {"jwks.structure": ("failed", "x5c")}),
        ("x5t-mismatch", "jwks", lambda i: good(i, jwks={"keys": [with_x5c(public_jwk(signing_key()),
                                                                             certificate_der(signing_key()),
                                                                             x5t256=b64u(b"\0" * 32))]}),
         ("",), {"jwks.structure": ("failed", "x5t#S256")}),
        ("x5c-good", "jwks", lambda i: good(i, jwks={"keys": [with_x5c(public_jwk(signing_key()),
                                                                         certificate_der(signing_key()))]}),
         ("",), {"jwks.structure": ("passed", "")}),
        ("jwks-truncated", "jwks", lambda i: {**good(i), "/jwks": Answer(body=b'{"keys": [{"kty": "RS')},
         ("discovery", "tls", "clock", "client-auth", "grants", "scopes", "lifetimes", "errors", "tokens"), {}),
        ("jwks-huge", "jwks", lambda i: {**good(i), "/jwks": Answer(body=streamed(CAP * 3))},
         ("discovery", "tls", "clock", "client-auth", "grants", "scopes", "lifetimes", "errors", "tokens"), {}),
        ("jwks-slow", "jwks", lambda i: {**good(i), "/jwks": Answer(body=b"{}", delay=SLOW)},
         ("discovery", "tls", "clock", "client-auth", "grants", "scopes", "lifetimes", "errors", "tokens"), {}),
        ("jwks-keys-object", "jwks", lambda i: good(i, jwks={"keys": {"kty": "RSA"}}),
         ("discovery", "tls", "clock", "client-auth", "grants", "scopes", "lifetimes", "errors", "tokens"), {}),
        # -- token answers
        ("claim-1mib", "token", lambda i: good(i, token=token_answer(i, claims={"blob": "C" * MIB})), ("",),
         {"jwks.token-signature": ("passed", ""), "lifetimes.access-token": ("passed", "")}),
        ("claims-1mib-nested", "token", lambda i: good(i, token=token_answer(i, claims={
            "groups": [{"id": n, "name": f"group-{n}", "path": f"/org/unit-{n % 97}/group-{n}"} for n in range(16_000)]})),
         ("",), {"jwks.token-signature": ("passed", "")}),
        ("header-1mib", "token", lambda i: good(i, token=token_answer(i, header={"x-pad": "H" * MIB})), ("",),
         {"jwks.token-signature": ("passed", "")}),
        ("body-member-1mib", "token", lambda i: good(i, token=token_answer(i, body={"note": "N" * MIB})), ("",), {}),
        ("token-truncated", "token", lambda i: {**good(i), "/token": Answer(body=b'{"access_token": "ey')},
         ("discovery", "tls", "clock", "jwks."), {"jwks.token-signature": ("error", "not JSON")}),
        ("token-slow", "token", lambda i: {**good(i), "/token": Answer(body=b"{}", delay=SLOW)},
         ("discovery", "tls", "clock", "jwks."), {}),
        ("token-trickle", "token", lambda i: {**good(i), "/token": Answer(body=b"{" + b" " * 600 + b"}", chunks=20,
                                                                         chunk_delay=TIMEOUT / 4)},
         ("discovery", "tls", "clock", "jwks."), {}),
        ("token-429-hour", "429/503", lambda i: {**good(i), "/token": Answer(status=429, body=b'{"error":"slow_down"}',
                                                                              headers={"Retry-After": "3600"})},
         ("discovery", "tls", "clock", "jwks."), {"jwks.token-signature": ("error", "wait 3600 s (Retry-After)")}),
        ("token-500", "5xx", lambda i: {**good(i), "/token": Answer(status=500, body=b"<h1>oops</h1>",
                                                                    content_type="text/html")},
         ("discovery", "tls", "clock", "jwks."), {}),
        ("token-error-strings", "strings", token_error, ("discovery", "tls", "clock", "jwks."), {}),
        ("expired-at-issuance", "token", lambda i: good(i, token=token_answer(i, claims={"exp": int(time.time()) - 120})),
         ("",), {"lifetimes.access-token": ("failed", "exp")}),
        ("long-lived", "token", lambda i: good(i, token=token_answer(i, claims={"exp": int(time.time()) + 29 * 86400},
                                                                     body={"expires_in": 29 * 86400})),
         ("",), {"lifetimes.access-token": ("failed", "exceeds")}),
        ("alg-none", "token", lambda i: good(i, token=token_answer(i, algorithm="none")),
         ("",), {"jwks.token-signature": ("failed", "not signed")}),
    ]
    return s


class HostileWorld:
    """Every issuer of ``scenarios()`` started, each on its own port; a context manager that stops them all."""

    def __init__(self, ca: trustme.CA, secret: str) -> None:
        self.ca = ca
        self.secret = secret
        self.issuers: list[Issuer] = []
        self._stack = contextlib.ExitStack()
        self.other: HostileIdp | None = None

    def __enter__(self) -> HostileWorld:
        try:
            self.other = self._stack.enter_context(HostileIdp({}, ca=self.ca))
            for index, (name, fault, build, may_pass, expect) in enumerate(scenarios(self.other.url)):
                issuer = self._start(f"h{index:02d}_{name.replace('-', '_')}", fault, build)
                issuer.may_pass, issuer.expect = may_pass, expect
                self.issuers.append(issuer)
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self, name: str, fault: str, build: Build | str) -> Issuer:
        if build == "refused":
            return Issuer(name, fault, f"https://127.0.0.1:{unused_port()}")
        if build == "blackhole":
            return Issuer(name, fault, self._stack.enter_context(Blackhole()).url)
        if build == "dribble":
            return Issuer(name, fault, self._stack.enter_context(Dribble(interval=0.2)).url)
        options: dict[str, Any] = {}
        if build == "expired":
            options["not_after"] = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        elif build == "wrong-host":
            options["cert_hosts"] = ("elsewhere.invalid",)
        elif build == "untrusted":
            options["cert_ca"] = trustme.CA(organization_name="a CA nobody trusts")
        elif build == "plain":
            options["tls"] = False
        idp = self._stack.enter_context(WorldIdp(ca=self.ca, secret=self.secret, **options))
        routes = good(idp) if isinstance(build, str) else build(idp)
        idp.routes.update(routes)
        return Issuer(name, fault, idp.url, idp=idp)

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def policy(self, ca_pem: Path, *, reports: str = "reports") -> str:
        """One provider and one client-credentials client per issuer."""
        text = textwrap.dedent(f"""\
            [settings]
            ca_bundle = "{ca_pem}"
            timeout = "{TIMEOUT:g}s"
            retries = {RETRIES}
            reports = "{reports}"
            """)
        for issuer in self.issuers:
            text += textwrap.dedent(f"""
                [providers.{issuer.name}]
                kind = "oidc"
                issuer = "{issuer.url}"
                rfc8414 = false

                [clients.{issuer.name}_svc]
                provider = "{issuer.name}"
                client_id = "{CLIENT_ID}"
                client_secret = "${{{SECRET_ENV}}}"
                type = "confidential"
                grant_types = ["client_credentials"]
                """)
        return text

    def by_target(self) -> dict[str, Issuer]:
        """Issuers by the targets their results carry (``providers.NAME``, ``clients.NAME_svc``)."""
        out = {}
        for issuer in self.issuers:
            out[f"providers.{issuer.name}"] = issuer
            out[f"clients.{issuer.name}_svc"] = issuer
        return out
