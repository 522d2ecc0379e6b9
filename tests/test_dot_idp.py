"""pytest-authcheck against a real django-oauth-toolkit (DOT) OpenID Provider with the library's defaults.

tests/dot_idp/ holds the provider (Django + DOT behind uvicorn over TLS, login by Django's form) and the strict
policy; tests/dot_idp/FINDINGS.md is the hand-made analysis of every result the suites gave against it. Here:
the provider answers at all (smoke), each TRUE finding and each refusal behind a FALSE one holds when asked
directly (independent requests, no pytest_authcheck code), and one ``pytest --authcheck`` run fails exactly
the TRUE findings.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable

import httpcore  # noqa: F401  (pins one httpcore for pytester's in-process runs; see test_suites_oidc)
import jwt

from tests.dot_idp import flows
from tests.dot_idp.findings import NOT_EVALUATED, TRUE_FINDINGS, TRUE_NOT_OBSERVABLE
from tests.dot_idp.policy import POLICY_ENV, dot_policy
from tests.dot_idp.world import (
    DEPLOYER_SECRET,
    NATIVE_REDIRECT_URI,
    TEST_PASSWORD,
    TEST_USERNAME,
    WEB_PORTAL_SECRET,
    WEB_REDIRECT_URI,
    RunningDot,
)

LOGIN_CLIENTS = {"clients.portal": ("web-portal", WEB_REDIRECT_URI, "openid profile email read"),
                 "clients.cli": ("enclii-cli", NATIVE_REDIRECT_URI, "openid profile email")}
POLICY_SECONDS = {"clients.deployer": 15 * 60, "clients.portal": 3600, "clients.cli": 3600}



def test_dot_provider_answers(dot_idp: RunningDot) -> None:
    """Discovery, JWKS and the token endpoint of the DOT provider, asked directly."""
    assert dot_idp.startup_seconds < 30
    with flows.http(dot_idp) as http:
        metadata = http.get(dot_idp.discovery_url).raise_for_status().json()
        assert metadata["issuer"] == dot_idp.issuer
        assert metadata["token_endpoint"] == dot_idp.issuer + "/token/"
        keys = http.get(metadata["jwks_uri"]).raise_for_status().json()["keys"]
        assert [(k["kty"], k["alg"]) for k in keys] == [("RSA", "RS256")]
        token = http.post(metadata["token_endpoint"], data={"grant_type": "client_credentials", "scope": "read"},
                          auth=("ci-deployer", DEPLOYER_SECRET))
        assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
        wrong = http.post(metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                          auth=("ci-deployer", "not-the-secret"))
        assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")


# ---------------------------------------------------------------------------------------------------------------
# re-verifying the TRUE findings by independent requests


def _discovery(dot: RunningDot) -> tuple[dict, dict]:
    with flows.http(dot) as http:
        oidc = http.get(dot.discovery_url).raise_for_status().json()
        rfc8414 = http.get(dot.base_url + "/.well-known/oauth-authorization-server/o").raise_for_status().json()
    return oidc, rfc8414


def _verify_pkce_plain(dot: RunningDot, target: str) -> str:
    client_id, redirect_uri, scope = LOGIN_CLIENTS[target]
    with flows.signed_in(dot) as http:
        query, verifier = flows.code_flow(http, dot, client_id, redirect_uri, scope=scope, method="plain")
    assert "code" in query, f"plain PKCE refused: {query}"
    tokens = flows.exchange(dot, client_id, redirect_uri, query, verifier)
    return f"code_challenge_method=plain: code issued and exchanged for tokens ({sorted(tokens)})"


def _verify_lifetimes(dot: RunningDot, target: str, *, id_token: bool) -> str:
    if target == "clients.deployer":
        with flows.http(dot) as http:
            body = http.post(dot.issuer + "/token/", data={"grant_type": "client_credentials", "scope": "deploy read"},
                             auth=("ci-deployer", DEPLOYER_SECRET)).raise_for_status().json()
    else:
        client_id, redirect_uri, scope = LOGIN_CLIENTS[target]
        with flows.signed_in(dot) as http:
            query, verifier = flows.code_flow(http, dot, client_id, redirect_uri, scope=scope)
        body = flows.exchange(dot, client_id, redirect_uri, query, verifier)
    if id_token:
        claims = jwt.decode(body["id_token"], options={"verify_signature": False})
        lifetime = claims["exp"] - claims["iat"]
    else:
        lifetime = body["expires_in"]
    assert lifetime > POLICY_SECONDS[target], f"{target}: {lifetime}s is within the policy"
    return f"{'id_token exp - iat' if id_token else 'expires_in'} = {lifetime}s > {POLICY_SECONDS[target]}s"


def _verify_scope_escalation(dot: RunningDot, target: str) -> str:
    if target == "clients.deployer":
        with flows.http(dot) as http:
            body = http.post(dot.issuer + "/token/", data={"grant_type": "client_credentials",
                                                           "scope": "deploy read write"},
                             auth=("ci-deployer", DEPLOYER_SECRET)).raise_for_status().json()
    else:
        client_id, redirect_uri, scope = LOGIN_CLIENTS[target]
        with flows.signed_in(dot) as http:
            query, verifier = flows.code_flow(http, dot, client_id, redirect_uri, scope=scope + " write")
        body = flows.exchange(dot, client_id, redirect_uri, query, verifier)
    assert "write" in body["scope"].split(), body["scope"]
    return f"asked for write (outside the policy): granted scope {body['scope']!r}"


def _verify_query_token(dot: RunningDot, target: str) -> str:
    client_id, redirect_uri, _ = LOGIN_CLIENTS[target]
    with flows.signed_in(dot) as http:
        query, verifier = flows.code_flow(http, dot, client_id, redirect_uri, scope="openid")
    token = flows.exchange(dot, client_id, redirect_uri, query, verifier)["access_token"]
    with flows.http(dot) as http:
        bare = http.get(dot.issuer + "/userinfo/")
        answer = http.get(dot.issuer + "/userinfo/", params={"access_token": token})
    assert bare.status_code == 401, bare.text[:200]
    assert answer.status_code == 200 and "sub" in answer.json(), (answer.status_code, answer.text[:200])
    return f"userinfo without a token: HTTP {bare.status_code}; with ?access_token=: HTTP 200 {sorted(answer.json())}"


def _verify_prompt_none(dot: RunningDot, target: str) -> str:
    client_id, redirect_uri, scope = LOGIN_CLIENTS[target]
    _, challenge = flows.pkce_pair()
    with flows.http(dot) as http:
        params = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri, "scope": scope,
                  "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
        control = http.get(dot.issuer + "/authorize/", params=params)
        answer = http.get(dot.issuer + "/authorize/", params={**params, "prompt": "none"})
    assert control.status_code == 302 and "/accounts/login/" in control.headers["location"], control.status_code
    assert answer.status_code == 500 and "location" not in answer.headers, (answer.status_code, answer.headers)
    return (f"no session: the ordinary request gets HTTP 302 to the login page, with prompt=none HTTP "
            f"{answer.status_code} (oauthlib's validate_silent_login is not implemented by DOT)")


def _token_request(dot: RunningDot, client_id: str, form: dict[str, str]):
    """One token endpoint request as the client sends it (Basic for the confidential ones, client_id if public)."""
    secrets = {"ci-deployer": DEPLOYER_SECRET, "web-portal": WEB_PORTAL_SECRET}
    with flows.http(dot) as http:
        if client_id in secrets:
            return http.post(dot.issuer + "/token/", data=form, auth=(client_id, secrets[client_id]))
        return http.post(dot.issuer + "/token/", data={**form, "client_id": client_id})


def _signed_in_tokens(dot: RunningDot, target: str) -> tuple[dict, dict[str, str]]:
    client_id, redirect_uri, scope = LOGIN_CLIENTS[target]
    with flows.signed_in(dot) as http:
        query, verifier = flows.code_flow(http, dot, client_id, redirect_uri, scope=scope)
    form = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": redirect_uri,
            "code_verifier": verifier}
    first = _token_request(dot, client_id, form)
    assert first.status_code == 200, first.text[:200]
    return first.json(), form


def _works(dot: RunningDot, target: str, tokens: dict) -> tuple[bool, bool]:
    """Whether the access token still opens userinfo and the refresh token still refreshes."""
    with flows.http(dot) as http:
        userinfo = http.get(dot.issuer + "/userinfo/", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    refresh = _token_request(dot, LOGIN_CLIENTS[target][0], {"grant_type": "refresh_token",
                                                             "refresh_token": tokens["refresh_token"]})
    return userinfo.status_code == 200, refresh.status_code == 200


def _verify_code_replay(dot: RunningDot, target: str) -> str:
    tokens, form = _signed_in_tokens(dot, target)
    replay = _token_request(dot, LOGIN_CLIENTS[target][0], form)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text[:200]
    access_works, refresh_works = _works(dot, target, tokens)
    assert access_works and refresh_works, (access_works, refresh_works)
    return ("the replayed code is refused (invalid_grant), yet the first redemption's access token still opens "
            "userinfo and its refresh token still refreshes")


def _verify_refresh_reuse(dot: RunningDot, target: str) -> str:
    client_id = LOGIN_CLIENTS[target][0]
    tokens, _ = _signed_in_tokens(dot, target)
    rotated = _token_request(dot, client_id, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != tokens["refresh_token"], rotated.text[:200]
    replay = _token_request(dot, client_id, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    current = _token_request(dot, client_id, {"grant_type": "refresh_token",
                                              "refresh_token": rotated.json()["refresh_token"]})
    assert current.status_code == 200, current.text[:200]
    return (f"refresh rotates; replaying the rotated-out token: HTTP {replay.status_code}; the current refresh "
            f"token still refreshes afterwards (HTTP {current.status_code})")


def _verify_basic_challenge(dot: RunningDot, target: str) -> str:
    client_id = {"clients.deployer": "ci-deployer", "clients.portal": "web-portal"}[target]
    with flows.http(dot) as http:
        answer = http.post(dot.issuer + "/token/", data={"grant_type": "client_credentials"},
                           auth=(client_id, "not-the-secret"))
    challenge = answer.headers.get("www-authenticate", "")
    assert answer.status_code == 401 and challenge.split()[0].lower() == "bearer", (answer.status_code, challenge)
    return f"HTTP Basic with a wrong secret: 401 with WWW-Authenticate {challenge.split()[0]!r}, not Basic"


def _verify_introspection_isolation(dot: RunningDot, target: str) -> str:
    deployer = _token_request(dot, "ci-deployer", {"grant_type": "client_credentials", "scope": "deploy read"})
    others = {"clients.deployer": ("web-portal", _signed_in_tokens(dot, "clients.portal")[0]["access_token"]),
              "clients.portal": ("ci-deployer", deployer.json()["access_token"])}
    secrets = {"ci-deployer": DEPLOYER_SECRET, "web-portal": WEB_PORTAL_SECRET}
    asking = {"clients.deployer": "ci-deployer", "clients.portal": "web-portal"}[target]
    owner, token = others[target]
    with flows.http(dot) as http:
        answer = http.post(dot.issuer + "/introspect/", data={"token": token}, auth=(asking, secrets[asking]))
    assert answer.status_code == 200 and answer.json().get("active") is True, (answer.status_code, answer.text[:200])
    return f"{asking} introspects a token of {owner}: active, client_id {answer.json().get('client_id')!r}"


def _verify_omitted_scope(dot: RunningDot) -> str:
    body = _token_request(dot, "ci-deployer", {"grant_type": "client_credentials"}).raise_for_status().json()
    assert "write" in body["scope"].split(), body["scope"]
    return f"client_credentials without scope: granted {body['scope']!r} (policy: deploy read)"


def _verifiers(dot: RunningDot) -> dict[tuple[str, str], Callable[[], str]]:
    oidc, rfc8414 = _discovery(dot)

    def pkce_s256() -> str:
        assert "plain" in oidc["code_challenge_methods_supported"]
        return f"code_challenge_methods_supported = {oidc['code_challenge_methods_supported']}"

    def grant_types() -> str:
        # the OIDC document omits grant_types_supported (default: authorization_code and implicit); the RFC 8414
        # one lists them: both advertise grants no client of the policy declares
        assert "grant_types_supported" not in oidc
        undeclared = {"implicit", "password"} & set(rfc8414["grant_types_supported"])
        assert undeclared == {"implicit", "password"}, rfc8414["grant_types_supported"]
        return f"RFC 8414 grant_types_supported = {rfc8414['grant_types_supported']}"

    def response_types() -> str:
        front_channel = [r for r in oidc["response_types_supported"] if "token" in r.split()]
        assert front_channel
        return f"response_types_supported includes {front_channel}"

    def signing_algs() -> str:
        assert "HS256" in oidc["id_token_signing_alg_values_supported"]
        return f"id_token_signing_alg_values_supported = {oidc['id_token_signing_alg_values_supported']}"

    checks: dict[tuple[str, str], Callable[[], str]] = {
        ("discovery.pkce-s256", "providers.dot"): pkce_s256,
        ("discovery.grant-types", "providers.dot"): grant_types,
        ("discovery.response-types", "providers.dot"): response_types,
        ("discovery.signing-algs", "providers.dot"): signing_algs,
    }
    for target in LOGIN_CLIENTS:
        checks[("pkce.plain-refused", target)] = lambda t=target: _verify_pkce_plain(dot, t)
        checks[("lifetimes.id-token", target)] = lambda t=target: _verify_lifetimes(dot, t, id_token=True)
        checks[("tokens.query-refused", target)] = lambda t=target: _verify_query_token(dot, t)
        checks[("prompt-none.login-required", target)] = lambda t=target: _verify_prompt_none(dot, t)
        checks[("code.replay-refused", target)] = lambda t=target: _verify_code_replay(dot, t)
        checks[("refresh.reuse-revokes-family", target)] = lambda t=target: _verify_refresh_reuse(dot, t)
    for target in ("clients.deployer", "clients.portal"):
        checks[("errors.rfc6749-format", target)] = lambda t=target: _verify_basic_challenge(dot, t)
        checks[("introspection.isolation", target)] = lambda t=target: _verify_introspection_isolation(dot, t)
    checks[("scopes.omitted-scope-bounded", "clients.deployer")] = lambda: _verify_omitted_scope(dot)
    for target in ("clients.deployer", *LOGIN_CLIENTS):
        checks[("lifetimes.access-token", target)] = lambda t=target: _verify_lifetimes(dot, t, id_token=False)
        checks[("scopes.out-of-policy-refused", target)] = lambda t=target: _verify_scope_escalation(dot, t)
    return checks


def verify_true_findings(dot: RunningDot) -> dict[tuple[str, str], str]:
    """Each TRUE finding, confirmed by its own requests: (check, target) -> what DOT answered."""
    verifiers = _verifiers(dot)
    assert set(verifiers) == TRUE_FINDINGS | TRUE_NOT_OBSERVABLE
    return {finding: verify() for finding, verify in verifiers.items()}


def test_true_findings_hold(dot_idp: RunningDot) -> None:
    evidence = verify_true_findings(dot_idp)
    assert set(evidence) == TRUE_FINDINGS | TRUE_NOT_OBSERVABLE


# ---------------------------------------------------------------------------------------------------------------
# the refusals behind the FALSE verdicts: what the suites read as "accepted" is refused once a user is signed in

_ERROR_PAGE = re.compile(r"<h2>Error: ([^<]*)</h2>")


def test_false_findings_are_refusals(dot_idp: RunningDot) -> None:
    _, challenge = flows.pkce_pair()
    with flows.signed_in(dot_idp) as http:
        def authorize(**params: str) -> tuple[int, str, str | None]:
            answer = http.get(dot_idp.issuer + "/authorize/", params={
                "response_type": "code", "scope": "openid", "state": "s", "code_challenge": challenge,
                "code_challenge_method": "S256", **params})
            page_error = _ERROR_PAGE.search(answer.text)
            return answer.status_code, answer.headers.get("location", ""), page_error and page_error.group(1)

        # client-auth.unknown-client-refused / removed-client-refused: an error page on DOT, never a redirect
        for client_id in ("web-portal-authcheck-unknown", "retired-app"):
            assert authorize(client_id=client_id, redirect_uri=WEB_REDIRECT_URI) == (400, "", "invalid_request")
        for client_id, registered in (("web-portal", WEB_REDIRECT_URI), ("enclii-cli", NATIVE_REDIRECT_URI)):
            # control: the registered redirect URI gets DOT's consent page
            status, _, error = authorize(client_id=client_id, redirect_uri=registered)
            assert (status, error) == (200, None)
            # redirect-uri.unregistered-refused / exact-match: every variant the suites sent is an error page
            for variant in ("https://authcheck-unregistered.invalid/callback", registered + "x", registered + "/",
                            registered + "?authcheck=1", registered + "#authcheck", registered.replace("app.test", "a.invalid")
                            if registered.startswith("https") else "http://localhost/callback"):
                assert authorize(client_id=client_id, redirect_uri=variant) == (400, "", "invalid_request"), variant
            # grants.response-types: implicit and hybrid response types come back as unauthorized_client
            for response_type in ("token", "id_token", "id_token token", "code id_token", "code token",
                                  "code id_token token"):
                status, location, _ = authorize(client_id=client_id, redirect_uri=registered,
                                                response_type=response_type, nonce="n")
                assert status == 302 and location == f"{registered}?error=unauthorized_client&state=s", location
            # pkce.required: a request without code_challenge comes back as invalid_request
            answer = http.get(dot_idp.issuer + "/authorize/", params={
                "client_id": client_id, "response_type": "code", "redirect_uri": registered, "scope": "openid",
                "state": "s"})
            assert answer.headers["location"].startswith(f"{registered}?error=invalid_request"), answer.headers

    # grants.undeclared-refused: the password grant is refused as unauthorized_client with the real test user;
    # the made-up user the suites send gets invalid_grant only because DOT checks the user before the grant
    with flows.http(dot_idp) as http:
        for auth, extra in ((("ci-deployer", DEPLOYER_SECRET), {}), (("web-portal", WEB_PORTAL_SECRET), {}),
                            (None, {"client_id": "enclii-cli"})):
            real = http.post(dot_idp.issuer + "/token/", auth=auth, data={
                "grant_type": "password", "username": TEST_USERNAME, "password": TEST_PASSWORD, **extra})
            made_up = http.post(dot_idp.issuer + "/token/", auth=auth, data={
                "grant_type": "password", "username": "authcheck-nobody", "password": "nope", **extra})
            assert (real.status_code, real.json()["error"]) == (400, "unauthorized_client")
            assert (made_up.status_code, made_up.json()["error"]) == (400, "invalid_grant")


# ---------------------------------------------------------------------------------------------------------------
# the run itself


def test_authcheck_fails_exactly_the_true_findings(dot_idp: RunningDot, run_authcheck) -> None:
    evidence = verify_true_findings(dot_idp)
    run = run_authcheck(dot_policy(dot_idp), clients=True, env=POLICY_ENV)
    results = run.report["results"]
    failed = {(r["check"], r["target"]) for r in results if r["status"] == "failed"}
    errors = {(r["check"], r["target"]): r["message"] for r in results if r["status"] == "error"}
    assert failed == set(evidence) - TRUE_NOT_OBSERVABLE, (
        f"false failures: {sorted(failed - set(evidence))}; missed: {sorted(set(evidence) - failed - TRUE_NOT_OBSERVABLE)}")
    assert set(errors) == set(NOT_EVALUATED), f"not evaluated: {errors}"
    for key, words in NOT_EVALUATED.items():
        assert errors[key].startswith("not evaluated: ") and words in errors[key], errors[key]


def test_a_client_still_registered_is_not_read_as_removed(dot_idp: RunningDot, run_authcheck) -> None:
    """web-portal is registered; a policy that says it was removed (and lists an old redirect URI) must fail: signed
    in, DOT answers its request with "Mismatching redirect URI", unlike a made-up client_id's "Invalid client_id"
    page, where a refusal alone used to read as "unknown" and pass. The truly removed retired-app still passes."""
    head = dot_policy(dot_idp)
    policy = head[:head.index("[clients.deployer]")] + textwrap.dedent("""
        [clients.still-there]
        provider = "dot"
        client_id = "web-portal"
        state = "removed"
        redirect_uris = ["https://old.app.test/callback"]

        [clients.retired]
        provider = "dot"
        client_id = "retired-app"
        state = "removed"
        redirect_uris = ["https://app.test/auth/callback"]
        """)
    run = run_authcheck(policy, "-m", "clients", "-k", "removed_client", clients=True, env=POLICY_ENV)
    results = {r["target"]: r for r in run.report["results"] if r["check"] == "client-auth.removed-client-refused"}
    assert results["clients.still-there"]["status"] == "failed", results["clients.still-there"]
    assert "where a made-up client_id gets" in results["clients.still-there"]["message"], \
        results["clients.still-there"]["message"]
    assert results["clients.retired"]["status"] == "passed", results["clients.retired"]
