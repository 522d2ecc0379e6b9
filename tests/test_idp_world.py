"""Smoke tests of the test IdP world (tests/idp): real oidc-provider processes, good and broken."""

from __future__ import annotations

import base64
import concurrent.futures
import email.utils
import hashlib
import socket
import ssl
import subprocess
import time
import warnings
from pathlib import Path

import httpx
import jwt
import pytest

from tests.idp import world as world_mod
from tests.idp.world import (
    DEFAULT_RESOURCE,
    DEPLOYER_SECRET,
    GOOD_ID_TOKEN_ALGS,
    PRIVATE_JWK_MEMBERS,
    VARIANTS,
    IdpError,
    IdpSpec,
    IdpWorld,
    RunningIdp,
    default_clients,
    default_signing_keys,
    WEB_PORTAL_SECRET,
    public_jwks,
    run_authorization_code_flow,
)

# No skip when the node dependencies are missing: IdpWorld.start() fails with a message
# saying to run `npm ci --prefix tests/idp`, so a CI without that step cannot pass silently.

#: discovery members each variant may change, and nothing else
EXPECTED_METADATA_DIFF = {
    "issuer-mismatch": {"issuer"},
    "alg-none-advertised": {"id_token_signing_alg_values_supported"},
    "http-endpoint": {"token_endpoint"},
    "missing-signing-key": {"id_token_signing_alg_values_supported"},
    "dead-registration-endpoint": {"registration_endpoint"},
    "openid-scopes-unadvertised": {"scopes_supported"},
}
JWKS_VARIANTS = {"weak-rsa-key", "duplicate-kid", "private-key-published", "symmetric-key-published"}


# ---------------------------------------------------------------------------------------
# fixtures and helpers


def _our_node_processes(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "tests/idp/server.js"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if marker in line]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("idp-world")
    with IdpWorld(workdir) as w:
        yield w
    assert _our_node_processes(str(workdir)) == [], "node IdP processes survived stop_all()"


@pytest.fixture(scope="module")
def idps(world: IdpWorld) -> dict[str, RunningIdp]:
    """Every variant, started in parallel."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(world.start, VARIANTS[name]) for name in VARIANTS}
        return {name: f.result() for name, f in futures.items()}


def trust(idp: RunningIdp) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(idp.ca_pem_path))


def client(idp: RunningIdp) -> httpx.Client:
    return httpx.Client(verify=trust(idp), timeout=10)


def get_json(idp: RunningIdp, url: str) -> dict:
    with client(idp) as c:
        r = c.get(url)
    r.raise_for_status()
    return r.json()


def discovery(idp: RunningIdp) -> dict:
    return get_json(idp, idp.discovery_url)


def jwks(idp: RunningIdp) -> dict:
    return get_json(idp, discovery(idp)["jwks_uri"])


def client_credentials(idp: RunningIdp, scope: str = "deploy read", **kw) -> httpx.Response:
    token_endpoint = kw.pop("token_endpoint", None) or discovery(idp)["token_endpoint"]
    auth = kw.pop("auth", ("ci-deployer", DEPLOYER_SECRET))
    with client(idp) as c:
        return c.post(token_endpoint, data={"grant_type": "client_credentials", "scope": scope}, auth=auth)


def verify_access_token(idp: RunningIdp, token: str, issuer: str | None = None) -> dict:
    header = jwt.get_unverified_header(token)
    keys = {k["kid"]: k for k in jwks(idp)["keys"]}
    key = jwt.PyJWK(keys[header["kid"]]).key
    return jwt.decode(
        token,
        key,
        algorithms=[header["alg"]],
        audience=DEFAULT_RESOURCE,
        issuer=issuer or idp.issuer,
        options={"require": ["iss", "aud", "exp", "iat", "sub", "jti"]},
        leeway=5,
    )


def http_date(response: httpx.Response) -> float:
    return email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()


def handshake(idp: RunningIdp, cafile: Path | None = None, server_hostname: str = "127.0.0.1"):
    ctx = ssl.create_default_context(cafile=str(cafile or idp.ca_pem_path))
    with socket.create_connection(("127.0.0.1", idp.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return tls.getpeercert()


def tls10_handshake(idp: RunningIdp) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.create_default_context(cafile=str(idp.ca_pem_path))
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", idp.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version()


def normalized(doc: dict, idp: RunningIdp) -> dict:
    """A discovery document with the IdP's own origin replaced by a placeholder."""
    out = {}
    for k, v in doc.items():
        if isinstance(v, str):
            v = v.replace(idp.base_url, "{base}").replace(f"http://127.0.0.1:{idp.port}", "{http_base}")
        out[k] = v
    return out


# ---------------------------------------------------------------------------------------
# the good IdP


def test_good_discovery(idps):
    idp = idps["good"]
    assert idp.issuer == idp.base_url == f"https://127.0.0.1:{idp.port}"
    with client(idp) as c:
        r = c.get(idp.discovery_url)
    assert r.status_code == 200
    assert abs(http_date(r) - time.time()) < 10
    doc = r.json()
    assert doc["issuer"] == idp.issuer
    for member in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
                   "introspection_endpoint", "revocation_endpoint"):
        assert doc[member].startswith(idp.base_url + "/"), member
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == GOOD_ID_TOKEN_ALGS
    assert doc["response_types_supported"] == ["code"]
    assert "implicit" not in doc["grant_types_supported"]
    assert "client_credentials" in doc["grant_types_supported"]
    assert {"openid", "deploy", "read", "admin"} <= set(doc["scopes_supported"])


def test_good_rfc8414_document_matches_discovery(idps):
    idp = idps["good"]
    assert idp.rfc8414_url == idp.base_url + "/.well-known/oauth-authorization-server"
    assert get_json(idp, idp.rfc8414_url) == discovery(idp)


def test_good_jwks_publishes_two_public_keys(idps):
    keys = jwks(idps["good"])["keys"]
    assert sorted(k["kid"] for k in keys) == ["ec-1", "rsa-1"]
    assert {k["kty"] for k in keys} == {"RSA", "EC"}
    for k in keys:
        assert not set(PRIVATE_JWK_MEMBERS) & set(k), k
    assert jwks(idps["good"]) == public_jwks(default_signing_keys())


def test_good_client_credentials_jwt_access_token(idps):
    idp = idps["good"]
    r = client_credentials(idp)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "deploy read"
    header = jwt.get_unverified_header(body["access_token"])
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}
    claims = verify_access_token(idp, body["access_token"])
    assert claims["iss"] == idp.issuer
    assert claims["aud"] == DEFAULT_RESOURCE
    assert claims["client_id"] == claims["sub"] == "ci-deployer"
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 10


def test_good_client_credentials_rejects_bad_secret_and_foreign_scope(idps):
    idp = idps["good"]
    r = client_credentials(idp, auth=("ci-deployer", "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = client_credentials(idp, scope="deploy admin")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_good_authorization_requires_pkce_s256(idps):
    idp = idps["good"]
    doc = discovery(idp)
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    base = {
        "client_id": "enclii-cli",
        "response_type": "code",
        "scope": "openid profile",
        "redirect_uri": "http://127.0.0.1/callback",
        "state": "s1",
    }
    with client(idp) as c:
        ok = c.get(doc["authorization_endpoint"],
                   params={**base, "code_challenge": challenge, "code_challenge_method": "S256"})
        no_pkce = c.get(doc["authorization_endpoint"], params=base)
        plain = c.get(doc["authorization_endpoint"],
                      params={**base, "code_challenge": verifier, "code_challenge_method": "plain"})
    # devInteractions: a login interaction
    assert ok.status_code == 303 and "/interaction/" in ok.headers["location"]
    for r in (no_pkce, plain):
        assert r.status_code == 303
        assert r.headers["location"].startswith("http://127.0.0.1/callback?")
        assert "error=invalid_request" in r.headers["location"]


def test_good_authorization_code_flow_via_dev_login(idps):
    idp = idps["good"]
    tokens = run_authorization_code_flow(idp, scope="openid profile email offline_access deploy",
                                         extra_params={"prompt": "consent"})
    assert tokens["_callback"]["iss"] == idp.issuer
    assert jwt.get_unverified_header(tokens["id_token"])["kid"] == "rsa-1"
    id_claims = jwt.decode(tokens["id_token"], jwt.PyJWK(jwks(idp)["keys"][0]).key, algorithms=["RS256"],
                           audience="enclii-cli", issuer=idp.issuer)
    assert id_claims["sub"] == "alice" and id_claims["email"] == "alice@example.test"
    assert verify_access_token(idp, tokens["access_token"])["scope"] == "deploy"
    assert tokens["refresh_token"]
    # plain OIDC scopes: opaque access token usable at userinfo; confidential client
    tokens = run_authorization_code_flow(idp, client_id="web-portal", client_secret=WEB_PORTAL_SECRET,
                                         redirect_uri="https://app.test/auth/callback")
    with client(idp) as c:
        me = c.get(tokens["_discovery"]["userinfo_endpoint"],
                   headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["sub"] == "alice"


def test_opaque_resource_server_tokens_can_be_introspected(world):
    spec = IdpSpec(name="opaque-rs", extra_config={
        "resource_servers": {"https://opaque.test": {"scope": "read", "access_token_format": "opaque"}}})
    idp = world.start(spec)
    try:
        doc = discovery(idp)
        with client(idp) as c:
            r = c.post(doc["token_endpoint"], auth=("ci-deployer", DEPLOYER_SECRET),
                       data={"grant_type": "client_credentials", "scope": "read", "resource": "https://opaque.test"})
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            assert token.count(".") == 0
            info = c.post(doc["introspection_endpoint"], data={"token": token},
                          auth=("ci-deployer", DEPLOYER_SECRET)).json()
            assert info["active"] is True and info["aud"] == "https://opaque.test"
            assert c.post(doc["revocation_endpoint"], data={"token": token},
                          auth=("ci-deployer", DEPLOYER_SECRET)).status_code == 200
            info = c.post(doc["introspection_endpoint"], data={"token": token},
                          auth=("ci-deployer", DEPLOYER_SECRET)).json()
            assert info == {"active": False}
    finally:
        idp.stop()


def test_issuer_path_ttl_and_rfc8414_placement(world):
    clients = default_clients()
    clients[0]["access_token_ttl"] = 120
    idp = world.start(IdpSpec(name="with-path", issuer_path="/realms/test", clients=clients))
    try:
        assert idp.issuer == idp.base_url + "/realms/test"
        doc = discovery(idp)
        assert idp.discovery_url == idp.issuer + "/.well-known/openid-configuration"
        assert doc["issuer"] == idp.issuer
        assert doc["token_endpoint"] == idp.issuer + "/token"
        # RFC 8414 section 3: well-known segment inserted before the issuer's path
        assert idp.rfc8414_url == idp.base_url + "/.well-known/oauth-authorization-server/realms/test"
        assert get_json(idp, idp.rfc8414_url) == doc
        r = client_credentials(idp, token_endpoint=doc["token_endpoint"])
        assert r.status_code == 200, r.text
        claims = verify_access_token(idp, r.json()["access_token"])
        assert claims["exp"] - claims["iat"] == 120
        with client(idp) as c:
            assert c.get(idp.base_url + "/.well-known/openid-configuration").status_code == 404
    finally:
        idp.stop()
    assert not idp.running


# ---------------------------------------------------------------------------------------
# broken variants


@pytest.mark.parametrize("name", [n for n in VARIANTS if n != "good" and not n.endswith("-cert")])
def test_variant_differs_from_good_only_in_its_defect(idps, name):
    good, bad = idps["good"], idps[name]
    good_doc, bad_doc = normalized(discovery(good), good), normalized(discovery(bad), bad)
    changed = {k for k in good_doc.keys() | bad_doc.keys() if good_doc.get(k) != bad_doc.get(k)}
    assert changed == EXPECTED_METADATA_DIFF.get(name, set())
    if name not in JWKS_VARIANTS:
        assert jwks(bad) == jwks(good)


def test_issuer_mismatch(idps):
    idp = idps["issuer-mismatch"]
    assert idp.issuer == idp.base_url + "/other"
    assert idp.discovery_url == idp.base_url + "/.well-known/openid-configuration"
    doc = discovery(idp)
    assert doc["issuer"] == idp.base_url + "/other" != idp.served_issuer
    assert doc["token_endpoint"] == idp.base_url + "/token"  # still served at the real URL
    r = client_credentials(idp, token_endpoint=doc["token_endpoint"])
    assert r.status_code == 200, r.text
    assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["iss"] == doc["issuer"]


def test_dead_registration_endpoint(idps):
    doc = discovery(idps["dead-registration-endpoint"])
    assert doc["registration_endpoint"] == idps["dead-registration-endpoint"].base_url + "/reg"
    with client(idps["dead-registration-endpoint"]) as c:
        assert c.post(doc["registration_endpoint"], json={}).status_code == 404
        assert c.get(doc["registration_endpoint"]).status_code == 404


def test_weak_rsa_key(idps):
    keys = jwks(idps["weak-rsa-key"])["keys"]
    weak = [k for k in keys if k["kty"] == "RSA" and jwt.PyJWK(k).key.key_size < 2048]
    assert [k["kid"] for k in weak] == ["rsa-weak"]
    assert weak[0]["n"] and jwt.PyJWK(weak[0]).key.key_size == 1024
    assert keys[:2] == jwks(idps["good"])["keys"]


def test_duplicate_kid(idps):
    keys = jwks(idps["duplicate-kid"])["keys"]
    same = [k for k in keys if k["kid"] == "rsa-1"]
    assert len(same) == 2 and same[0]["n"] != same[1]["n"]


def test_private_key_published(idps):
    keys = jwks(idps["private-key-published"])["keys"]
    rsa_key = next(k for k in keys if k["kty"] == "RSA")
    ec_key = next(k for k in keys if k["kty"] == "EC")
    assert {"d", "p", "q", "dp", "dq", "qi"} <= set(rsa_key)
    assert "d" in ec_key
    # and it is the provider's real signing key
    r = client_credentials(idps["private-key-published"])
    assert jwt.get_unverified_header(r.json()["access_token"])["kid"] == rsa_key["kid"]


def test_symmetric_key_published(idps):
    keys = jwks(idps["symmetric-key-published"])["keys"]
    assert [k["kty"] for k in keys].count("oct") == 1
    assert next(k for k in keys if k["kty"] == "oct")["k"]


def test_alg_none_advertised(idps):
    assert "none" in discovery(idps["alg-none-advertised"])["id_token_signing_alg_values_supported"]


def test_http_endpoint(idps):
    idp = idps["http-endpoint"]
    assert discovery(idp)["token_endpoint"] == f"http://127.0.0.1:{idp.port}/token"


def test_missing_signing_key(idps):
    idp = idps["missing-signing-key"]
    algs = discovery(idp)["id_token_signing_alg_values_supported"]
    assert {"ES384", "PS512"} <= set(algs)
    keys = jwks(idp)["keys"]
    assert not [k for k in keys if k.get("alg") in ("ES384", "PS512") or k.get("crv") == "P-384"]


def test_skewed_clock(idps):
    idp = idps["skewed-clock"]
    with client(idp) as c:
        r = c.get(idp.discovery_url)
    assert abs(http_date(r) - time.time() - 600) < 10
    token = client_credentials(idp).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert abs(claims["iat"] - time.time() - 600) < 10
    assert claims["exp"] - claims["iat"] == 600


def test_good_cert_verifies(idps):
    cert = handshake(idps["good"])
    assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]


def test_expired_cert(idps):
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        handshake(idps["expired-cert"])


def test_expiring_cert(idps):
    cert = handshake(idps["expiring-cert"])  # still valid
    not_after = ssl.cert_time_to_seconds(cert["notAfter"])
    assert 4 * 86400 < not_after - time.time() <= 5 * 86400 + 60


def test_untrusted_cert(world, idps):
    with pytest.raises(ssl.SSLCertVerificationError, match="local issuer"):
        handshake(idps["untrusted-cert"])
    assert handshake(idps["untrusted-cert"], cafile=world.other_ca_pem_path)


def test_wrong_host_cert(idps):
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(idps["wrong-host-cert"])
    assert handshake(idps["wrong-host-cert"], server_hostname="idp.invalid")


def test_legacy_tls(idps):
    assert tls10_handshake(idps["legacy-tls"]) == "TLSv1"
    with pytest.raises(ssl.SSLError):
        tls10_handshake(idps["good"])
    # modern clients still work
    assert discovery(idps["legacy-tls"])["issuer"] == idps["legacy-tls"].issuer


# ---------------------------------------------------------------------------------------
# launcher behaviour


def test_startup_failure_reports_log_tail(tmp_path):
    spec = IdpSpec(name="broken-config", extra_config={"tls": {"cert": "/nonexistent.pem", "key": "/nonexistent.key"}})
    with IdpWorld(tmp_path) as w:
        with pytest.raises(IdpError, match=r"exited \(code \d+\).*\n(.|\n)*ENOENT"):
            w.start(spec, timeout=15)
    assert _our_node_processes(str(tmp_path)) == []


def test_missing_node_modules_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(world_mod, "NODE_MODULES", tmp_path / "nope")
    with pytest.raises(IdpError, match="npm ci --prefix tests/idp"):
        IdpWorld(tmp_path).start(IdpSpec())


def test_stop_all_leaves_no_node_process(tmp_path):
    with IdpWorld(tmp_path) as w:
        idp = w.start(IdpSpec(name="short-lived"))
        assert _our_node_processes(str(tmp_path))
    assert not idp.running
    assert _our_node_processes(str(tmp_path)) == []
