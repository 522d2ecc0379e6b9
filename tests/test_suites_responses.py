"""Checks of what providers and APIs answer beyond the client registration (issue 11), against real servers.

userinfo.bearer-challenge, tokens.query-refused, tokens.iss-exact, id-token.auth-time, authz-response.iss and
prompt-none.login-required pass on the good oidc-provider and fail, with the message that says why, where a real
server breaks them: django-oauth-toolkit serves userinfo to a token in the URL query, answers prompt=none with a
server error and sends no iss; LemonLDAP::NG's userinfo challenge names no scheme, it serves query tokens and
shows its login page to prompt=none; oidc-provider's own issuer-mismatch variant puts another issuer in its
tokens and authorization responses. No server here misstates auth_time, so that defect is emulated for one
client each (tests/idp/server.js); the resource API's query-token defect is the API side. discovery.endpoints-answer
has its negative in tests/test_suites_oidc.py (the dead-registration-endpoint variant).
"""

from __future__ import annotations

import httpcore  # noqa: F401  (pins one httpcore for pytester's in-process runs; see test_suites_oidc)

import json
import os
import re
import ssl
import textwrap
import urllib.request

import pytest

from tests.conftest import oidc_policy
from tests.idp.world import WEB_PORTAL_SECRET, IdpSpec, _variant_of, default_clients
from tests.resource_api import ApiConfig, ResourceApi

NEW_CHECKS = ("userinfo.bearer-challenge", "tokens.query-refused", "tokens.iss-exact", "id-token.auth-time",
              "authz-response.iss", "prompt-none.login-required", "discovery.endpoints-answer")
SELECT = ("-m", "clients or discovery", "-k",
          "bearer_challenge or query_refused or iss_exact or auth_time or authorization_response or prompt_none "
          "or endpoints_answer")
LOGIN_CHECKS = {"tokens.query-refused", "tokens.iss-exact", "id-token.auth-time", "authz-response.iss",
                "prompt-none.login-required"}
TEST_USER = 'test_user = { username = "alice", password = "${SSO_TEST_PASSWORD}" }'
PORTAL = """
    [clients.portal]
    provider = "sso"
    client_id = "web-portal"
    client_secret = "${WEB_PORTAL_SECRET}"
    type = "confidential"
    application = "web"
    grant_types = ["authorization_code"]
    redirect_uris = ["https://app.test/auth/callback"]
    scopes = ["openid", "profile", "email", "read"]
    """
ENV = {"WEB_PORTAL_SECRET": WEB_PORTAL_SECRET, "SSO_TEST_PASSWORD": "alice-responses-pw-5521"}


def native(name: str, client_id: str) -> str:
    return textwrap.dedent(f"""
        [clients.{name}]
        provider = "sso"
        client_id = "{client_id}"
        type = "public"
        application = "native"
        grant_types = ["authorization_code"]
        redirect_uris = ["http://127.0.0.1/callback"]
        scopes = ["openid", "profile", "email"]
        """)


def results(run) -> dict[tuple[str, str], dict]:
    """(check, target) -> result, for the checks of this file."""
    return {(r["check"], r["target"]): r for r in run.report["results"] if r["check"] in NEW_CHECKS}


def statuses(run) -> dict[tuple[str, str], str]:
    return {key: r["status"] for key, r in results(run).items()}


def failed(run) -> dict[tuple[str, str], str]:
    return {key: r["message"] for key, r in results(run).items() if r["status"] == "failed"}


@pytest.fixture(scope="module")
def auth_time_idp(idp_world):
    """The good IdP with two more copies of the native client whose ID tokens misstate auth_time."""
    clients = [*default_clients(), _variant_of("enclii-cli", "cli-no-auth-time", authcheck_defects=["no-auth-time"]),
               _variant_of("enclii-cli", "cli-stale-auth-time", authcheck_defects=["stale-auth-time"])]
    idp = idp_world.start(IdpSpec(name="auth-time", clients=clients))
    yield idp
    idp.stop()


def test_good_idp_passes_and_misstated_auth_time_fails(auth_time_idp, run_authcheck):
    policy = oidc_policy(auth_time_idp, provider=TEST_USER, extra=PORTAL + native("cli-no-auth-time", "cli-no-auth-time")
                         + native("cli-stale-auth-time", "cli-stale-auth-time"))
    run = run_authcheck(policy, *SELECT, clients=True, env=ENV)
    seen = statuses(run)
    for check_id in LOGIN_CHECKS:
        for target in ("clients.cli", "clients.portal"):
            assert seen[(check_id, target)] == "passed", (check_id, target, results(run)[(check_id, target)])
    assert seen[("tokens.iss-exact", "clients.deployer")] == "passed"
    assert seen[("userinfo.bearer-challenge", "providers.sso")] == "passed"
    assert seen[("discovery.endpoints-answer", "providers.sso")] == "passed"
    assert {key for key, s in seen.items() if s not in ("passed", "skipped")} == {
        ("id-token.auth-time", "clients.cli-no-auth-time"), ("id-token.auth-time", "clients.cli-stale-auth-time")}
    messages = failed(run)
    assert re.fullmatch(r"the ID token of clients\.cli-no-auth-time \(cli-no-auth-time\) \(max_age=3600\) has no "
                        r"auth_time", messages[("id-token.auth-time", "clients.cli-no-auth-time")])
    assert re.fullmatch(r"the ID token of clients\.cli-stale-auth-time \(cli-stale-auth-time\) \(max_age=3600\) says the "
                        r"user authenticated at \S+Z, 17\d{4}s earlier than the run's session began \(the test user "
                        r"signed in at \S+Z\)", messages[("id-token.auth-time", "clients.cli-stale-auth-time")])
    # what the checks looked at is in the report, in the words of the check
    by = results(run)
    assert by[("userinfo.bearer-challenge", "providers.sso")]["observed"] == {"no token": "a Bearer challenge",
                                                                            "a made-up token": "a Bearer challenge"}
    assert by[("prompt-none.login-required", "clients.cli")]["observed"] == "error redirect (login_required)"
    assert by[("tokens.query-refused", "clients.cli")]["observed"] == {
        "the access token only in the URL query": "refused: HTTP 400 invalid_request"}
    assert set(by[("authz-response.iss", "clients.cli")]["observed"]) == {
        "the redirect with the code", "the error redirect for an unknown response_type",
        "the error redirect for prompt=none"}
    assert by[("id-token.auth-time", "clients.cli-no-auth-time")]["observed"] == {"auth_time": "missing"}


def test_issuer_mismatch_fails_iss_exact_and_the_response_iss(idp, run_authcheck):
    mismatch = idp("issuer-mismatch")
    run = run_authcheck(oidc_policy(mismatch, provider=TEST_USER, extra=PORTAL), *SELECT, clients=True, env=ENV)
    other = re.escape(mismatch.base_url + "/other")
    issuer = re.escape(mismatch.served_issuer)
    messages = failed(run)
    assert set(messages) == {("tokens.iss-exact", t) for t in ("clients.deployer", "clients.cli", "clients.portal")} | {
        ("authz-response.iss", t) for t in ("clients.cli", "clients.portal")}, run.output()[-3000:]
    assert re.fullmatch(rf"tokens of clients\.deployer \(ci-deployer\) do not name the policy's issuer '{issuer}' byte "
                        rf"for byte: the access token's iss is '{other}' \(the path differs\)",
                        messages[("tokens.iss-exact", "clients.deployer")])
    assert re.search(rf"the ID token's iss is '{other}'", messages[("tokens.iss-exact", "clients.cli")])
    assert re.match(rf"authorization responses of clients\.cli \(enclii-cli\) do not carry iss = '{issuer}' \(RFC 9207, "
                    rf"the mix-up defence\): the redirect with the code has iss '{other}'",
                    messages[("authz-response.iss", "clients.cli")])


def test_django_oauth_toolkit(dot_idp, run_authcheck):
    from tests.dot_idp.policy import POLICY_ENV, dot_policy

    # the strict policy, and a team that wants RFC 9207's iss parameter (DOT does not send it)
    policy = dot_policy(dot_idp).replace('features = ["revocation", "introspection"]',
                                         'features = ["revocation", "introspection", "iss_parameter"]')
    assert "iss_parameter" in policy
    run = run_authcheck(policy, *SELECT, clients=True, env=POLICY_ENV)
    messages = failed(run)
    login = ("clients.portal", "clients.cli")
    assert set(messages) == {(c, t) for c in ("tokens.query-refused", "prompt-none.login-required",
                                             "authz-response.iss") for t in login}, run.output()[-3000:]
    assert not {k for k, s in statuses(run).items() if s == "error"}, results(run)
    assert re.fullmatch(r"the userinfo endpoint of providers\.dot serves the access token of clients\.cli \(enclii-cli\) "
                        r"sent in the URL query \(\?access_token=\.\.\.\): HTTP 200 \(served\)",
                        messages[("tokens.query-refused", "clients.cli")])
    assert re.fullmatch(r"prompt=none without a session, clients\.portal \(web-portal\) gets a server error: HTTP 500; "
                        r"due: an error redirect to https://app\.test/auth/callback with login_required or "
                        r"interaction_required", messages[("prompt-none.login-required", "clients.portal")])
    assert messages[("authz-response.iss", "clients.cli")].endswith(": the redirect with the code has no iss")
    seen = statuses(run)
    for key in [("userinfo.bearer-challenge", "providers.dot"), ("discovery.endpoints-answer", "providers.dot"),
                *((c, t) for c in ("tokens.iss-exact", "id-token.auth-time") for t in login)]:
        assert seen[key] == "passed", (key, results(run)[key])


def _llng_missing() -> list[str]:
    from tests.llng_idp import world

    return world.missing()


@pytest.mark.skipif(bool(_llng_missing()) and not os.environ.get("CI"),
                    reason="LemonLDAP::NG is not installed (scripts/setup installs it as root)")
def test_lemonldap_ng(tmp_path_factory, run_authcheck):
    from tests.llng_idp import world
    from tests.llng_idp.policy import ENV as LLNG_ENV
    from tests.llng_idp.policy import llng_policy

    portal = world.start(tmp_path_factory.mktemp("llng-responses"))
    try:
        policy = llng_policy(portal).replace('signing_algs = ["RS256"]', 'signing_algs = ["RS256"]\nfeatures = ["iss_parameter"]')
        run = run_authcheck(policy, *SELECT, clients=True, env=LLNG_ENV)
    finally:
        portal.stop()
    messages = failed(run)
    login = ("clients.portal", "clients.cli")
    assert set(messages) == {("userinfo.bearer-challenge", "providers.sso")} | {
        (c, t) for c in ("tokens.query-refused", "prompt-none.login-required", "authz-response.iss") for t in login}, \
        run.output()[-3000:]
    assert re.fullmatch(r"the userinfo endpoint of providers\.sso: with no token it refuses with HTTP 401 and a "
                        r"WWW-Authenticate header with no auth scheme \(a parameter \(error\) before any auth scheme\): "
                        r"'error=invalid_request,error_description=Access token not found in request'; with a made-up "
                        r"token it refuses with HTTP 401 and a WWW-Authenticate header with no auth scheme .*",
                        messages[("userinfo.bearer-challenge", "providers.sso")])
    assert re.fullmatch(r"prompt=none without a session, clients\.cli \(enclii-cli\) gets sent to login: the provider's "
                        r"login page \(HTTP 200\); due: an error redirect to http://127\.0\.0\.1/callback with "
                        r"login_required or interaction_required", messages[("prompt-none.login-required", "clients.cli")])
    assert re.search(r"serves the access token of clients\.portal \(web-portal\) sent in the URL query",
                     messages[("tokens.query-refused", "clients.portal")])
    seen = statuses(run)
    for key in [("discovery.endpoints-answer", "providers.sso"),
                *((c, t) for c in ("tokens.iss-exact", "id-token.auth-time") for t in login)]:
        assert seen[key] == "passed", (key, results(run)[key])


# ---------------------------------------------------------------------------------------------------------------
# tokens.query-refused at a policy's API


@pytest.fixture(scope="module")
def api_parts(idp_world, tmp_path_factory):
    sso = idp_world.start(IdpSpec(name="query-api"))
    ctx = ssl.create_default_context(cafile=str(sso.ca_pem_path))
    with urllib.request.urlopen(sso.discovery_url, context=ctx) as response:  # noqa: S310 (loopback https)
        jwks_url = json.load(response)["jwks_uri"]
    folder = tmp_path_factory.mktemp("query-api-tls")
    leaf = idp_world.ca.issue_cert("127.0.0.1")
    leaf.private_key_pem.write_to_path(str(folder / "key.pem"))
    (folder / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    yield sso, jwks_url, folder
    sso.stop()


def platform_policy(sso, api_url: str) -> str:
    """The IdP's policy with one API whose GET rule the deployer may call as a viewer."""
    return oidc_policy(sso, extra=f"""
        [apis.platform]
        base_url = "{api_url}"
        provider = "sso"
        audience = "https://api.test"
        roles = ["viewer"]

        [apis.platform.principals]
        deployer = {{ client = "deployer", role = "viewer" }}

        [[apis.platform.rules]]
        request = "GET /v1/users/me"
        min_role = "viewer"
        """)


@pytest.mark.parametrize("defects", [(), ("query-token",)], ids=["correct", "query-token"])
def test_query_token_at_the_api(api_parts, run_authcheck, defects):
    sso, jwks_url, folder = api_parts
    config = ApiConfig(issuer=sso.issuer, jwks_url=jwks_url, audience="https://api.test", ca_pem=sso.ca_pem_path,
                       role_of={"ci-deployer": "viewer"}, defects=set(defects))
    with ResourceApi(config, folder / "cert.pem", folder / "key.pem") as api:
        policy = platform_policy(sso, api.url)
        run = run_authcheck(policy, "-m", "clients", "-k", "query_refused_at_api", clients=True)
    result = results(run)[("tokens.query-refused", "apis.platform")]
    assert result["expected"] == {"the access token only in the URL query": "refused"}
    if not defects:
        assert result["status"] == "passed", result
        assert result["observed"] == {"the access token only in the URL query": "refused: HTTP 401 unauthorized"}
    else:
        assert result["status"] == "failed", result
        assert result["message"] == ("apis.platform serves GET /v1/users/me to the access token of deployer sent in "
                                     "the URL query (?access_token=...): HTTP 200 (served)")
        assert result["evidence"]["exchanges"]
        assert "eyJ" not in json.dumps(run.report), "the token in the query reached the report"


def test_a_request_without_credential_is_sent_once_per_run(api_parts, run_authcheck):
    """api.no-credential, the matrix's anonymous cell and tokens.query-refused (is the resource served to anybody?)
    ask the API one same question: the real API receives it once, and every check reads that answer."""
    sso, jwks_url, folder = api_parts
    config = ApiConfig(issuer=sso.issuer, jwks_url=jwks_url, audience="https://api.test", ca_pem=sso.ca_pem_path,
                       role_of={"ci-deployer": "viewer"}, defects={"query-token"})
    with ResourceApi(config, folder / "cert.pem", folder / "key.pem") as api:
        policy = platform_policy(sso, api.url)
        run = run_authcheck(policy, "-m", "clients or api", "-k", "query_refused_at_api or no_credential or matrix",
                            clients=True)
        asked = dict(api.state.without_credential)
    checks = {(r["check"], r["nodeid"].rsplit("[", 1)[-1]): r for r in run.report["results"]}
    assert checks[("api.no-credential", "platform]")]["status"] == "passed", run.output()
    assert checks[("api.authorization-matrix", "platform|GET /v1/users/me|anonymous]")]["status"] == "passed", sorted(checks)
    query = checks[("tokens.query-refused", "platform]")]
    assert query["status"] == "failed", query  # served to the query token: the bare request was asked, and refused
    assert asked == {"GET /v1/users/me": 1}, asked
