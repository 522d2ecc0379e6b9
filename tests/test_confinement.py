"""Credentials go only to the issuer's origin, its allowed_hosts and the policy's APIs: a canary on 127.0.0.2.

A real oidc-provider whose discovery sends clients to a canary server on another loopback address (a
spoofed or compromised metadata document), and a scripted issuer that redirects its authorization and token
endpoints there: after a whole ``pytest --authcheck`` run with confidential, public and logged-in clients,
the canary has seen requests, and not one of them carried a secret, a password, a code or a token.
"""

from __future__ import annotations

import re
import textwrap
import urllib.parse

import pytest

from pytest_authcheck._confine import Confinement, Destinations
from pytest_authcheck._errors import CredentialsWithheld
from pytest_authcheck._redact import Secret
from tests.conftest import oidc_policy
from tests.hostile_idp import Answer, HostileIdp, json_answer
from tests.html_report import readable
from tests.idp.world import DEPLOYER_SECRET, WEB_PORTAL_SECRET, IdpSpec

CANARY_HOST = "127.0.0.2"
TEST_PASSWORD = "canary-test-password-4821"
SECRETS = (DEPLOYER_SECRET, WEB_PORTAL_SECRET, TEST_PASSWORD)
CREDENTIAL_MEMBERS = {"client_secret", "password", "code", "code_verifier", "refresh_token", "access_token", "token",
                      "assertion", "client_assertion", "subject_token", "device_code", "id_token_hint"}
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "revocation_endpoint",
             "introspection_endpoint", "registration_endpoint", "device_authorization_endpoint",
             "pushed_authorization_request_endpoint", "end_session_endpoint", "jwks_uri")
LOGIN_PAGE = ('<html><body><form method="post" action="/login"><input name="username">'
              '<input type="password" name="password"><button type="submit" name="go" value="1">Sign in</button>'
              '</form></body></html>')


def canary_routes() -> dict[str, Answer]:
    """Answers that invite every next step: a login form, a token, an active introspection."""
    token = json_answer({"access_token": "canary-access-token-0001", "token_type": "Bearer", "expires_in": 300,
                         "refresh_token": "canary-refresh-token-0001"})
    return {"/authorize": Answer(body=LOGIN_PAGE, content_type="text/html"),
            "/login": Answer(status=302, body=b"", headers={"Location": "https://127.0.0.2/next"}),
            "/token": token, "/introspect": json_answer({"active": True}), "/userinfo": json_answer({"sub": "x"}),
            "/revoke": Answer(body=b""), "/jwks": json_answer({"keys": []})}


def credentials_in(request) -> list[str]:
    """What in one request the canary received is a credential."""
    found = []
    for name, value in request.headers:
        if name.lower() in ("authorization", "cookie", "proxy-authorization"):
            found.append(f"{name} header")
    body = request.body.decode("utf-8", errors="replace")
    for text in (request.query, body):
        for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
            if key.lower() in CREDENTIAL_MEMBERS and value:
                found.append(f"member {key}")
    everything = " ".join([request.path, request.query, body, *(v for _, v in request.headers)])
    found += [f"secret {s[:4]}..." for s in SECRETS if s in everything or urllib.parse.quote(s, safe="") in everything]
    return found


def client_block(name: str, client_id: str, **keys: object) -> str:
    lines = [f"[clients.{name}]", 'provider = "sso"', f'client_id = "{client_id}"']
    for key, value in keys.items():
        rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]" if isinstance(value, list) else \
            str(value).lower() if isinstance(value, bool) else f'"{value}"'
        lines.append(f"{key} = {rendered}")
    return "\n".join(lines) + "\n\n"


CLIENTS = (client_block("deployer", "ci-deployer", client_secret="${DEPLOYER_SECRET}", type="confidential",
                        application="service", grant_types=["client_credentials"], scopes=["deploy", "read"])
           + client_block("cli", "enclii-cli", type="public", application="native",
                          grant_types=["authorization_code", "refresh_token"], redirect_uris=["http://127.0.0.1/callback"],
                          scopes=["openid", "profile", "email"], pkce="S256", refresh_token_rotation=True)
           + client_block("portal", "web-portal", client_secret="${WEB_PORTAL_SECRET}", type="confidential",
                          application="web", grant_types=["authorization_code"],
                          redirect_uris=["https://app.test/auth/callback"], scopes=["openid", "profile", "email"]))


def policy_for(idp) -> str:
    head = oidc_policy(idp, provider='test_user = { username = "alice", password = "${SSO_TEST_PASSWORD}" }')
    return head[:head.index("[clients.deployer]")] + textwrap.dedent(CLIENTS)


ENV = {"WEB_PORTAL_SECRET": WEB_PORTAL_SECRET, "SSO_TEST_PASSWORD": TEST_PASSWORD, "DEPLOYER_SECRET": DEPLOYER_SECRET}


@pytest.fixture
def canary(idp_world):
    with HostileIdp(canary_routes(), ca=idp_world.ca, host=CANARY_HOST) as server:
        yield server


def assert_no_credential_reached(canary) -> None:
    leaked = {f"{r.method} {r.path}": credentials_in(r) for r in canary.requests if credentials_in(r)}
    assert not leaked, f"credentials reached the undeclared host {CANARY_HOST}: {leaked}"


# Every endpoint moved (nothing can be obtained), or only those that consume tokens the real token endpoint
# issued (userinfo, revocation, introspection, ...): then the run holds real tokens it must not hand over.
MOVED = {"every endpoint": ENDPOINTS,
         "token consumers": ("userinfo_endpoint", "revocation_endpoint", "introspection_endpoint",
                             "registration_endpoint", "end_session_endpoint", "device_authorization_endpoint",
                             "pushed_authorization_request_endpoint")}
WITHHELD = {"every endpoint": ("client-auth.secret-accepted", "clients.deployer", "HTTP Basic credentials"),
            "token consumers": ("revocation.revoked-inactive", "clients.cli", "the form member token")}


@pytest.mark.parametrize("moved", list(MOVED))
def test_endpoints_on_an_undeclared_host_never_receive_credentials(idp_world, canary, run_authcheck, moved):
    paths = {"authorization_endpoint": "/authorize", "token_endpoint": "/token", "userinfo_endpoint": "/userinfo",
             "revocation_endpoint": "/revoke", "introspection_endpoint": "/introspect", "jwks_uri": "/jwks"}
    overrides = {name: canary.url + paths.get(name, "/" + name) for name in MOVED[moved]}
    idp = idp_world.start(IdpSpec(name="spoofed-endpoints", metadata_overrides=overrides))
    run = run_authcheck(policy_for(idp), env=ENV, clients=True)
    assert run.report.get("results"), run.output()

    # Requests without credentials (authorization probes, JWKS) may go there: they show the canary was used.
    assert canary.requests or moved == "token consumers", "the probes never reached the canary"
    assert_no_credential_reached(canary)
    # What needed the withheld credentials failed with the reason, and the cause is its own finding.
    results = {(r["check"], r["target"]): r for r in run.report["results"]}
    check, target, what = WITHHELD[moved]
    withheld = results[(check, target)]
    assert withheld["status"] == "failed", withheld
    assert re.search(rf"POST https://{re.escape(CANARY_HOST)}:\d+ was not sent: it would carry {what} "
                     r"of providers\.sso to an origin that is not theirs", withheld["message"]), withheld["message"]
    assert results[("discovery.endpoints-on-issuer-host", "providers.sso")]["status"] == "failed"
    assert CANARY_HOST in results[("discovery.endpoints-on-issuer-host", "providers.sso")]["message"]
    for secret in SECRETS:
        for name in ("authcheck.json", "authcheck.html", "authcheck.sarif", "authcheck.md"):
            path = run.reports_dir / name
            assert secret not in (readable(path) if name.endswith(".html") else path.read_text())


def test_redirects_to_an_undeclared_host_never_carry_credentials(idp_world, canary, run_authcheck, tmp_path):
    with HostileIdp(ca=idp_world.ca) as issuer:
        metadata = {"issuer": issuer.url, "authorization_endpoint": issuer.url + "/authorize",
                    "token_endpoint": issuer.url + "/token", "jwks_uri": issuer.url + "/jwks",
                    "response_types_supported": ["code"], "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"]}
        issuer.routes.update({
            "/.well-known/openid-configuration": json_answer(metadata),
            "/jwks": json_answer({"keys": []}),
            "/authorize": Answer(status=302, body=b"", headers={"Location": canary.url + "/authorize"}),
            "/token": Answer(status=307, body=b"", headers={"Location": canary.url + "/token"}),
        })
        head = textwrap.dedent(f"""\
            [settings]
            ca_bundle = "{idp_world.ca_pem_path}"
            timeout = "3s"

            [providers.sso]
            kind = "oidc"
            issuer = "{issuer.url}"
            signing_algs = ["RS256"]
            rfc8414 = false
            test_user = {{ username = "alice", password = "${{SSO_TEST_PASSWORD}}" }}

            """)
        run = run_authcheck(head + textwrap.dedent(CLIENTS), env=ENV, clients=True)
        assert run.report.get("results"), run.output()
        assert issuer.hits["/token"] and issuer.hits["/authorize"], "the suites never tried the redirecting endpoints"
    assert_no_credential_reached(canary)


# ---- the rule itself -------------------------------------------------------------------------------------

def confinement() -> Confinement:
    scopes = {"providers.sso": Destinations("providers.sso", frozenset({"https://idp.test:443"}),
                                            frozenset({"login.idp.test"})),
              "providers.other": Destinations("providers.other", frozenset({"https://other.test:443"})),
              "apis.platform": Destinations("apis.platform", frozenset({"https://api.test:443"}))}
    return Confinement(scopes, [Secret("sso-client-secret", label="clients.cli.client_secret"),
                                Secret("api-key-value-1", label="apis.platform.principals.key.value")],
                       owners={"clients.cli": "providers.sso"})


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://idp.test/token", True), ("https://login.idp.test:8443/token", True),
    ("http://idp.test/token", False), ("https://idp.test:444/token", False), ("https://other.test/token", False),
    ("https://api.test/v1", False), ("https://evil.test/token", False),
])
def test_a_policy_secret_goes_only_to_its_provider(url, allowed):
    check = confinement().check
    if allowed:
        check("POST", url, data={"client_secret": Secret("sso-client-secret")})
    else:
        with pytest.raises(CredentialsWithheld, match="clients|providers.sso"):
            check("POST", url, data={"client_secret": Secret("sso-client-secret")})


def test_received_tokens_go_back_to_their_issuer_and_to_apis_only():
    rules = confinement()
    rules.learn(["token-from-sso-1234"], "https://idp.test/token")
    rules.check("GET", "https://api.test/v1", headers={"Authorization": "Bearer token-from-sso-1234"})
    rules.check("POST", "https://idp.test/introspect", data={"token": "token-from-sso-1234"})
    with pytest.raises(CredentialsWithheld, match="providers.sso"):
        rules.check("POST", "https://other.test/introspect", data={"token": "token-from-sso-1234"})
    with pytest.raises(CredentialsWithheld):
        rules.check("GET", "https://idp.test/userinfo", headers={"X-API-Key": Secret("api-key-value-1")})


def test_requests_without_credentials_go_anywhere_and_made_up_ones_only_to_declared_hosts():
    rules = confinement()
    rules.check("GET", "https://evil.test/authorize", params={"client_id": "cli", "state": "x"})
    rules.check("POST", "https://other.test/token", data={"client_secret": "authcheck-wrong-secret"})
    with pytest.raises(CredentialsWithheld):
        rules.check("POST", "https://evil.test/token", data={"client_secret": "authcheck-wrong-secret"})
    with pytest.raises(CredentialsWithheld):
        rules.check("GET", "https://evil.test/", headers={"Cookie": "sid=1"})


def test_a_json_body_is_read_to_its_leaves():
    # A login step of the user's own may post JSON with the credential nested (``{"auth": {"password": ...}}``).
    rules = confinement()
    rules.check("POST", "https://idp.test/api/login", json_body={"auth": {"password": Secret("sso-client-secret")}})
    with pytest.raises(CredentialsWithheld, match="the JSON member auth.password"):
        rules.check("POST", "https://evil.test/api/login", json_body={"auth": {"password": Secret("sso-client-secret")}})
    with pytest.raises(CredentialsWithheld, match="the JSON member steps.0.secret"):
        rules.check("POST", "https://evil.test/api/login", json_body={"steps": [{"secret": "sso-client-secret"}]})
    rules.check("POST", "https://evil.test/api/search", json_body={"query": {"name": "alice"}})
