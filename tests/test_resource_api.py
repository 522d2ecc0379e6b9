"""The resource API test double: the correct instance refuses every forged token, and each defect
switch changes exactly the behaviour it names (compared probe by probe against the correct instance)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.resource_api import DEFECTS, ApiConfig, ResourceApi, ThreadedHttpsServer

AUDIENCE = "https://api.enclii.test"
ROLE_OF = {"ci-viewer": "viewer", "deployer": "developer", "ops": "admin", "founder": "owner"}
READ_KEY = "ek_test_read_0001"
DEPLOY_KEY = "ek_test_deploy_0002"
OLD_KEY = "ek_test_old_0003"
API_KEYS = {
    READ_KEY: {"scopes": ["read"], "name": "read-key"},
    DEPLOY_KEY: {"scopes": ["deploy", "read"], "name": "deploy-key"},
    OLD_KEY: {"scopes": ["read"], "name": "old-key", "revoked": True},
}


# ---------------------------------------------------------------------------------------------------
# PKI, keys and a tiny HTTPS identity provider serving JWKS (+ discovery for a second issuer)


@dataclass
class Pki:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path
    client_ctx: ssl.SSLContext


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("resource-api-pki")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(d / "ca.pem")
    cert.private_key_pem.write_to_path(d / "key.pem")
    cert.cert_chain_pems[0].write_to_path(d / "cert.pem")
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(d / "cert.pem", append=True)
    return Pki(d / "ca.pem", d / "cert.pem", d / "key.pem", ssl.create_default_context(cafile=str(d / "ca.pem")))


@dataclass
class SigningKey:
    kid: str | None
    private: Any
    jwk: dict[str, Any] = field(default_factory=dict)  # public JWK as published


def _public_jwk(private: Any, kid: str, alg: str | None) -> dict[str, Any]:
    if isinstance(private, rsa.RSAPrivateKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    else:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Keys:
    rs: SigningKey  # RSA, alg RS256
    ps: SigningKey  # RSA, alg PS256
    any_rsa: SigningKey  # RSA, no alg in the JWK
    es: SigningKey  # EC P-256, alg ES256
    attacker: SigningKey  # never published
    other_issuer: SigningKey  # published by the *other* issuer, same kid as ``rs``
    rotated: SigningKey  # published later on the rotating JWKS

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.rs.jwk, self.ps.jwk, self.any_rsa.jwk, self.es.jwk]}


@pytest.fixture(scope="module")
def keys() -> Keys:
    def make(kid: str, alg: str | None, private: Any = None) -> SigningKey:
        private = private or _rsa()
        return SigningKey(kid, private, _public_jwk(private, kid, alg))

    return Keys(
        rs=make("rs1", "RS256"),
        ps=make("ps1", "PS256"),
        any_rsa=make("rsa-any", None),
        es=make("ec1", "ES256", ec.generate_private_key(ec.SECP256R1())),
        attacker=make("rs1", "RS256"),
        other_issuer=make("rs1", "RS256"),
        rotated=make("rs2", "RS256"),
    )


@dataclass
class Idp:
    url: str
    issuer: str
    other_issuer: str
    jwks_url: str
    rotating_jwks_url: str
    rotating: dict[str, Any]
    fetches: dict[str, int]


@pytest.fixture(scope="module")
def idp(pki: Pki, keys: Keys) -> Iterator[Idp]:
    rotating: dict[str, Any] = {"keys": [keys.rs.jwk]}
    fetches = {"jwks": 0, "rotating": 0}
    base: dict[str, str] = {}

    async def jwks(request: Request) -> JSONResponse:
        fetches["jwks"] += 1
        return JSONResponse(keys.jwks())

    async def rotating_jwks(request: Request) -> JSONResponse:
        fetches["rotating"] += 1
        return JSONResponse(rotating)

    async def other_discovery(request: Request) -> JSONResponse:
        return JSONResponse({"issuer": base["url"] + "/other", "jwks_uri": base["url"] + "/other/jwks"})

    async def other_jwks(request: Request) -> JSONResponse:
        return JSONResponse({"keys": [keys.other_issuer.jwk]})

    app = Starlette(
        routes=[
            Route("/idp/jwks", jwks),
            Route("/rotating/jwks", rotating_jwks),
            Route("/other/.well-known/openid-configuration", other_discovery),
            Route("/other/jwks", other_jwks),
        ]
    )
    with ThreadedHttpsServer(app, pki.cert_pem, pki.key_pem) as server:
        base["url"] = server.url
        yield Idp(
            url=server.url,
            issuer=server.url + "/idp",
            other_issuer=server.url + "/other",
            jwks_url=server.url + "/idp/jwks",
            rotating_jwks_url=server.url + "/rotating/jwks",
            rotating=rotating,
            fetches=fetches,
        )


def make_config(idp: Idp, pki: Pki, defects: set[str] = frozenset(), **overrides: Any) -> ApiConfig:
    kwargs: dict[str, Any] = dict(
        issuer=idp.issuer,
        jwks_url=idp.jwks_url,
        audience=AUDIENCE,
        ca_pem=pki.ca_pem,
        role_of=ROLE_OF,
        api_keys=API_KEYS,
        defects=set(defects),
    )
    kwargs.update(overrides)
    return ApiConfig(**kwargs)


# ---------------------------------------------------------------------------------------------------
# forging tokens


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


class Forge:
    def __init__(self, idp: Idp, keys: Keys):
        self.idp = idp
        self.keys = keys
        self.now = int(time.time())

    def claims(self, client: str = "ci-viewer", drop: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
        claims = {
            "iss": self.idp.issuer,
            "aud": AUDIENCE,
            "sub": f"user-of-{client}",
            "client_id": client,
            "iat": self.now,
            "exp": self.now + 300,
            "jti": f"jti-{time.monotonic_ns()}",
        }
        claims.update(extra)
        for name in drop:
            claims.pop(name, None)
        return claims

    def signed(self, key: SigningKey | None = None, alg: str = "RS256", kid: Any = "default", **kw: Any) -> str:
        key = key or self.keys.rs
        headers = {"kid": key.kid if kid == "default" else kid}
        if headers["kid"] is None:
            headers = {}
        return jwt.encode(self.claims(**kw), key.private, algorithm=alg, headers=headers)

    def unsigned(self, alg_spelling: str) -> str:
        return f"{b64json({'alg': alg_spelling, 'typ': 'JWT'})}.{b64json(self.claims())}."

    def bad_signature(self) -> str:
        good = self.signed()
        other = self.signed(client="founder")  # a signature valid for a different payload
        return good.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]

    def hmac_token(self, secret: bytes, alg: str = "HS256", kid: str | None = "rs1") -> str:
        header = {"alg": alg, "typ": "JWT"} | ({"kid": kid} if kid else {})
        signing_input = f"{b64json(header)}.{b64json(self.claims())}"
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        return f"{signing_input}.{b64u(hmac.new(secret, signing_input.encode(), digest).digest())}"

    def public_pem(self) -> bytes:
        return self.keys.rs.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


# ---------------------------------------------------------------------------------------------------
# probes: (method, path, headers) and the outcome the correct instance must give


OK = (200, None)
ACCEPTED = (202, None)
NO_CONTENT = (204, None)
NO_CREDENTIAL = (401, "realm")  # WWW-Authenticate: Bearer realm="..." without an error code
INVALID = (401, "invalid_token")
FORBIDDEN_TOKEN = (403, "insufficient_scope")
FORBIDDEN_KEY = (403, None)


@dataclass
class Probe:
    method: str
    path: str
    headers: dict[str, str]
    expect: tuple[int, str | None]


def bearer(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def build_probes(idp: Idp, keys: Keys) -> dict[str, Probe]:
    f = Forge(idp, keys)
    me, services, deploy = "/v1/users/me", "/v1/services", "/v1/services/demo/deploy"
    delete, members = "/v1/services/demo", "/v1/orgs/madfam/members"
    pem = f.public_pem()
    probes = {
        # accepted by the correct instance
        "ok-viewer-me": Probe("GET", me, bearer(f.signed()), OK),
        "ok-scheme-lowercase": Probe("GET", me, bearer(f.signed(), "bearer"), OK),
        "ok-scheme-uppercase": Probe("GET", me, bearer(f.signed(), "BEARER"), OK),
        "ok-es256": Probe("GET", me, bearer(f.signed(keys.es, "ES256")), OK),
        "ok-ps256": Probe("GET", me, bearer(f.signed(keys.ps, "PS256")), OK),
        "ok-no-kid": Probe("GET", me, bearer(f.signed(kid=None)), OK),
        "ok-exp-within-leeway": Probe("GET", me, bearer(f.signed(exp=f.now - 10)), OK),
        "ok-nbf-within-leeway": Probe("GET", me, bearer(f.signed(nbf=f.now + 10)), OK),
        "ok-aud-list": Probe("GET", me, bearer(f.signed(aud=["https://billing.test", AUDIENCE])), OK),
        "ok-viewer-services": Probe("GET", services, bearer(f.signed()), OK),
        "ok-developer-deploy": Probe("POST", deploy, bearer(f.signed(client="deployer")), ACCEPTED),
        "ok-admin-delete": Probe("DELETE", delete, bearer(f.signed(client="ops")), NO_CONTENT),
        "ok-admin-members": Probe("GET", members, bearer(f.signed(client="ops")), OK),
        "ok-owner-members": Probe("GET", members, bearer(f.signed(client="founder")), OK),
        "ok-read-key-me": Probe("GET", me, {"X-API-Key": READ_KEY}, OK),
        "ok-deploy-key-deploy": Probe("POST", deploy, {"X-API-Key": DEPLOY_KEY}, ACCEPTED),
        # no or unusable credential
        "no-credential": Probe("GET", me, {}, NO_CREDENTIAL),
        "basic-scheme": Probe("GET", me, {"Authorization": "Basic dXNlcjpwYXNz"}, NO_CREDENTIAL),
        "bearer-without-token": Probe("GET", me, {"Authorization": "Bearer"}, (400, "invalid_request")),
        "garbage-token": Probe("GET", me, bearer("not-a-jwt"), INVALID),
        # a valid token, only in the URL query (RFC 6750 §2.3): not a credential this API reads
        "token-in-query": Probe("GET", f"{me}?access_token={f.signed()}", {}, NO_CREDENTIAL),
        # forged or unacceptable tokens
        **{f"alg-{s}": Probe("GET", me, bearer(f.unsigned(s)), INVALID) for s in ("none", "None", "NONE", "nOnE")},
        "bad-signature": Probe("GET", me, bearer(f.bad_signature()), INVALID),
        "attacker-key-same-kid": Probe("GET", me, bearer(f.signed(keys.attacker)), INVALID),
        "attacker-key-unknown-kid": Probe("GET", me, bearer(f.signed(keys.attacker, kid="nope")), INVALID),
        "ps256-with-rs256-bound-key": Probe("GET", me, bearer(f.signed(keys.rs, "PS256")), INVALID),
        "rs384-not-allowed": Probe("GET", me, bearer(f.signed(keys.any_rsa, "RS384")), INVALID),
        "hs256-public-pem": Probe("GET", me, bearer(f.hmac_token(pem)), INVALID),
        "hs256-public-jwk": Probe("GET", me, bearer(f.hmac_token(json.dumps(keys.rs.jwk).encode())), INVALID),
        "hs512-public-pem-no-kid": Probe("GET", me, bearer(f.hmac_token(pem, "HS512", kid=None)), INVALID),
        "hs256-random-secret": Probe("GET", me, bearer(f.hmac_token(b"secret")), INVALID),
        "expired": Probe("GET", me, bearer(f.signed(exp=f.now - 300)), INVALID),
        "no-exp": Probe("GET", me, bearer(f.signed(drop=("exp",))), INVALID),
        "nbf-future": Probe("GET", me, bearer(f.signed(nbf=f.now + 300)), INVALID),
        "wrong-aud": Probe("GET", me, bearer(f.signed(aud="https://billing.test")), INVALID),
        "no-aud": Probe("GET", me, bearer(f.signed(drop=("aud",))), INVALID),
        "wrong-iss-our-key": Probe("GET", me, bearer(f.signed(iss="https://evil.test")), INVALID),
        "other-issuer-token": Probe(
            "GET", me, bearer(f.signed(keys.other_issuer, iss=idp.other_issuer)), INVALID
        ),
        # authenticated, not allowed
        "viewer-deploy": Probe("POST", deploy, bearer(f.signed()), FORBIDDEN_TOKEN),
        "developer-delete": Probe("DELETE", delete, bearer(f.signed(client="deployer")), FORBIDDEN_TOKEN),
        "viewer-members": Probe("GET", members, bearer(f.signed()), FORBIDDEN_TOKEN),
        "unmapped-client-me": Probe("GET", me, bearer(f.signed(client="stranger")), FORBIDDEN_TOKEN),
        "read-key-deploy": Probe("POST", deploy, {"X-API-Key": READ_KEY}, FORBIDDEN_KEY),
        "read-key-services": Probe("GET", services, {"X-API-Key": READ_KEY}, FORBIDDEN_KEY),
        # bad API keys
        "unknown-key": Probe("GET", me, {"X-API-Key": "ek_test_nope"}, NO_CREDENTIAL),
        "revoked-key": Probe("GET", me, {"X-API-Key": OLD_KEY}, NO_CREDENTIAL),
    }
    return probes


# what each defect changes relative to the correct instance, probe by probe
FLIPS: dict[str, dict[str, tuple[int, str | None]]] = {
    "accept-alg-none": {f"alg-{s}": OK for s in ("none", "None", "NONE", "nOnE")},
    "skip-signature": {
        "bad-signature": OK,
        "attacker-key-same-kid": OK,
        "attacker-key-unknown-kid": OK,
        "ps256-with-rs256-bound-key": OK,
    },
    "key-confusion": {"hs256-public-pem": OK, "hs256-public-jwk": OK, "hs512-public-pem-no-kid": OK},
    "skip-exp": {"expired": OK, "no-exp": OK},
    "skip-nbf": {"nbf-future": OK},
    "ignore-aud": {"wrong-aud": OK, "no-aud": OK},
    "any-issuer": {"wrong-iss-our-key": OK, "other-issuer-token": OK},
    "viewer-can-deploy": {"viewer-deploy": ACCEPTED},
    "accept-revoked-key": {"revoked-key": OK},
    "query-token": {"token-in-query": OK},
}


def expected_outcomes(probes: dict[str, Probe], defect: str | None) -> dict[str, tuple[int, str | None]]:
    expected = {name: probe.expect for name, probe in probes.items()}
    if defect is None:
        return expected
    expected.update(FLIPS.get(defect, {}))
    for name, (status, challenge) in expected.items():
        if defect == "404-instead-of-403" and status == 403:
            expected[name] = (404, None)
        elif defect == "200-instead-of-403" and status == 403:
            expected[name] = (200, None)
        elif defect == "no-www-authenticate" and challenge is not None:
            expected[name] = (status, None)
    return expected


def challenge_of(response: httpx.Response) -> str | None:
    header = response.headers.get("www-authenticate")
    if header is None:
        return None
    assert header.startswith("Bearer "), header
    assert 'realm="enclii"' in header, header
    for error in ("invalid_token", "insufficient_scope", "invalid_request"):
        if f'error="{error}"' in header:
            return error
    assert "error=" not in header, header
    return "realm"


def observe(api: ResourceApi, probes: dict[str, Probe], ctx: ssl.SSLContext) -> dict[str, tuple[int, str | None]]:
    seen = {}
    with httpx.Client(base_url=api.url, verify=ctx, timeout=10) as client:
        for name, probe in probes.items():
            response = client.request(probe.method, probe.path, headers=probe.headers)
            seen[name] = (response.status_code, challenge_of(response))
    return seen


# ---------------------------------------------------------------------------------------------------
# tests


def test_flips_cover_known_defects() -> None:
    assert set(FLIPS) <= DEFECTS
    assert DEFECTS - set(FLIPS) == {"404-instead-of-403", "200-instead-of-403", "no-www-authenticate"}


@pytest.mark.parametrize("defect", [None, *sorted(DEFECTS)], ids=lambda d: d or "correct")
def test_each_defect_changes_exactly_its_behaviour(defect: str | None, idp: Idp, keys: Keys, pki: Pki) -> None:
    probes = build_probes(idp, keys)
    config = make_config(idp, pki, {defect} if defect else set())
    with ResourceApi(config, pki.cert_pem, pki.key_pem) as api:
        seen = observe(api, probes, pki.client_ctx)
    expected = expected_outcomes(probes, defect)
    diff = {name: (seen[name], expected[name]) for name in probes if seen[name] != expected[name]}
    assert not diff, f"(seen, expected) per probe: {diff}"
    if defect is not None:
        # the switch really did something, seen from outside
        assert seen != expected_outcomes(probes, None)


def test_correct_instance_refuses_every_forged_token(idp: Idp, keys: Keys, pki: Pki) -> None:
    probes = build_probes(idp, keys)
    with ResourceApi(make_config(idp, pki), pki.cert_pem, pki.key_pem) as api:
        seen = observe(api, probes, pki.client_ctx)
        assert api.state.deployments == [("demo", "user-of-deployer"), ("demo", "deploy-key")]
    forged = {name for flips in FLIPS.values() for name in flips}
    assert forged and all(seen[name][0] in (401, 403) for name in forged), seen


def test_response_bodies_and_actions(idp: Idp, keys: Keys, pki: Pki) -> None:
    f = Forge(idp, keys)
    with (
        ResourceApi(make_config(idp, pki), pki.cert_pem, pki.key_pem) as correct,
        ResourceApi(make_config(idp, pki, {"200-instead-of-403"}), pki.cert_pem, pki.key_pem) as lying,
        ResourceApi(make_config(idp, pki, {"viewer-can-deploy"}), pki.cert_pem, pki.key_pem) as lax,
        httpx.Client(verify=pki.client_ctx) as client,
    ):
        me = client.get(correct.url + "/v1/users/me", headers=bearer(f.signed(client="deployer")))
        assert me.json() == {"auth": "bearer", "sub": "user-of-deployer", "client_id": "deployer", "role": "developer"}
        key_me = client.get(correct.url + "/v1/users/me", headers={"X-API-Key": READ_KEY}).json()
        assert key_me == {"auth": "api_key", "name": "read-key", "scopes": ["read"]}
        assert READ_KEY not in json.dumps(key_me)

        viewer = bearer(f.signed())
        refused = client.post(lying.url + "/v1/services/demo/deploy", headers=viewer)
        assert refused.status_code == 200 and refused.json()["error"] == "forbidden"
        assert lying.state.deployments == []  # 200, but nothing was deployed
        done = client.post(lax.url + "/v1/services/demo/deploy", headers=viewer)
        assert done.status_code == 202 and lax.state.deployments == [("demo", "user-of-ci-viewer")]

        expired = client.get(correct.url + "/v1/users/me", headers=bearer(f.signed(exp=f.now - 300)))
        assert expired.json()["error"] == "invalid_token"
        assert 'error_description="token expired"' in expired.headers["www-authenticate"]


def test_unknown_kid_triggers_one_refetch(idp: Idp, keys: Keys, pki: Pki) -> None:
    f = Forge(idp, keys)
    config = make_config(idp, pki, jwks_url=idp.rotating_jwks_url)
    with ResourceApi(config, pki.cert_pem, pki.key_pem) as api, httpx.Client(verify=pki.client_ctx) as client:
        me = api.url + "/v1/users/me"
        assert client.get(me, headers=bearer(f.signed())).status_code == 200
        assert client.get(me, headers=bearer(f.signed())).status_code == 200
        assert api.jwks_fetches == 1  # cached
        new_token = bearer(f.signed(keys.rotated))
        assert client.get(me, headers=new_token).status_code == 401  # not published yet
        idp.rotating["keys"] = [keys.rs.jwk, keys.rotated.jwk]  # the provider rotates
        try:
            assert client.get(me, headers=new_token).status_code == 200
            assert api.jwks_fetches == 3
            assert client.get(me, headers=new_token).status_code == 200
            assert api.jwks_fetches == 3  # the new key is cached now
        finally:
            idp.rotating["keys"] = [keys.rs.jwk]


def test_static_jwks_without_url(idp: Idp, keys: Keys, pki: Pki) -> None:
    f = Forge(idp, keys)
    config = make_config(idp, pki, jwks_url=None, jwks=keys.jwks())
    with ResourceApi(config, pki.cert_pem, pki.key_pem) as api, httpx.Client(verify=pki.client_ctx) as client:
        assert client.get(api.url + "/v1/users/me", headers=bearer(f.signed(keys.es, "ES256"))).status_code == 200
        assert client.get(api.url + "/v1/users/me", headers=bearer(f.signed(keys.attacker, kid="x"))).status_code == 401
        assert api.jwks_fetches == 0


def test_role_of_callable_and_keys_inside_role_of(idp: Idp, keys: Keys, pki: Pki) -> None:
    f = Forge(idp, keys)
    config = make_config(
        idp, pki, api_keys={}, role_of={"ci-viewer": "admin", READ_KEY: {"scopes": ["read"]}}
    )
    with ResourceApi(config, pki.cert_pem, pki.key_pem) as api, httpx.Client(verify=pki.client_ctx) as client:
        assert client.get(api.url + "/v1/orgs/x/members", headers=bearer(f.signed())).status_code == 200
        assert client.get(api.url + "/v1/users/me", headers={"X-API-Key": READ_KEY}).status_code == 200
    config = make_config(idp, pki, role_of=lambda claims: "owner" if claims.get("sub") == "user-of-nobody" else None)
    with ResourceApi(config, pki.cert_pem, pki.key_pem) as api, httpx.Client(verify=pki.client_ctx) as client:
        assert client.delete(api.url + "/v1/services/x", headers=bearer(f.signed(client="nobody"))).status_code == 204
        assert client.delete(api.url + "/v1/services/x", headers=bearer(f.signed())).status_code == 403


def test_jwks_unreachable_is_503_not_acceptance(idp: Idp, keys: Keys, pki: Pki) -> None:
    f = Forge(idp, keys)
    config = make_config(idp, pki, jwks_url=idp.url + "/missing/jwks")
    with ResourceApi(config, pki.cert_pem, pki.key_pem) as api, httpx.Client(verify=pki.client_ctx) as client:
        response = client.get(api.url + "/v1/users/me", headers=bearer(f.signed()))
        assert response.status_code == 503
        assert client.get(api.url + "/v1/users/me", headers=bearer(f.unsigned("none"))).status_code == 401


def test_starts_fast_and_stops(idp: Idp, pki: Pki) -> None:
    started = time.monotonic()
    with ResourceApi(make_config(idp, pki), pki.cert_pem, pki.key_pem) as api:
        assert time.monotonic() - started < 2.0
        assert api.url.startswith("https://127.0.0.1:")
        url = api.url
        assert httpx.get(url + "/v1/services", verify=pki.client_ctx).status_code == 401
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/v1/services", verify=pki.client_ctx, timeout=2)


def test_unknown_defect_is_rejected(idp: Idp, pki: Pki) -> None:
    with pytest.raises(ValueError, match="unknown defects"):
        make_config(idp, pki, {"skip-everything"})


def test_never_logs_tokens(idp: Idp, keys: Keys, pki: Pki, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    probes = build_probes(idp, keys)
    secrets = {v.split(" ", 1)[-1] for p in probes.values() for v in p.headers.values()} - {"Bearer"}
    with caplog.at_level(logging.DEBUG):
        for defects in (set(), {"accept-alg-none", "skip-signature", "key-confusion", "accept-revoked-key"}):
            with ResourceApi(make_config(idp, pki, defects), pki.cert_pem, pki.key_pem) as api:
                observe(api, probes, pki.client_ctx)
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    leaked = [s[:12] + "..." for s in secrets if len(s) > 8 and s in logged]
    assert not leaked
