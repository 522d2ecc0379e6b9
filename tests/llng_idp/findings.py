"""The hand-checked findings of the strict policy (``policy.llng_policy``) against LemonLDAP::NG 2.16.

``TRUE_FINDINGS`` are what a correct run must fail, and nothing else: each comes with a verification that
shows the violation again with independent requests (``probes.Probe``) and returns the answer it rests on.
``FALSE_FAILURES`` are failures the current suites report that LemonLDAP::NG's answers refute; each has a
refutation that shows the request is refused once the portal judges it (signed in), or a spec argument when
no request can decide. tests/llng_idp/FINDINGS.md explains every entry with the answers quoted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .probes import Answer, Probe, error_code, is_login_page_html, pkce_pair
from .world import DEPLOYER_SECRET, NATIVE_REDIRECT, WEB_PORTAL_SECRET, WEB_REDIRECT

Key = tuple[str, str]  # (check id, target)

#: LemonLDAP::NG portal error numbers (Lemonldap::NG::Portal::Main::Constants) its error pages show
PE_FIRSTACCESS, PE_ERROR, PE_UNKNOWNPARTNER, PE_UNAUTHORIZEDURL = "9", "24", "107", "108"
PLAIN_VERIFIER = "authcheck-plain-verifier-0123456789-0123456789-0123"
OTHER_LOOPBACK_PORT = "http://127.0.0.1:53682/callback"


@dataclass(frozen=True)
class Finding:
    why: str
    verify: Callable[[Probe], str]
    #: True when the current suites do not report it (they pass or skip the check)
    missed: bool = False


def _discovery(probe: Probe) -> dict[str, object]:
    answer = probe.get(probe.llng.discovery_url)
    assert answer.status == 200, answer.quote()
    document = answer.json()
    assert isinstance(document, dict)
    return document


def _refused_page(answer: Answer, number: str) -> str:
    """An HTML error page of the portal (at HTTP 200: LemonLDAP::NG's way) with error ``number``, no code issued."""
    assert answer.status == 200 and answer.location is None, answer.quote()
    assert error_code(answer.body) == number and not is_login_page_html(answer.body), answer.quote(400)
    return f"HTTP 200 HTML error page, portal error {number}"


def _refused_redirect(answer: Answer, redirect_uri: str, error: str) -> str:
    assert answer.status in (302, 303) and answer.location and answer.location.startswith(redirect_uri), answer.quote()
    query = answer.location_query
    assert query.get("error") == error and "code" not in query, answer.quote()
    return f"HTTP {answer.status} Location: {answer.location}"


# ---------------------------------------------------------------------------------------------------
# TRUE: LemonLDAP::NG really does this


def _none_not_advertised(probe: Probe) -> str:
    methods = _discovery(probe).get("token_endpoint_auth_methods_supported")
    assert isinstance(methods, list) and "none" not in methods, methods
    # ...while the token endpoint does take the public client without a secret: a made-up code gets
    # invalid_grant (the client was accepted, the grant examined), not invalid_client.
    answer = probe.token({"grant_type": "authorization_code", "code": "authcheck-made-up-code",
                          "redirect_uri": NATIVE_REDIRECT, "client_id": "enclii-cli", "code_verifier": "x" * 43})
    assert answer.status == 400 and answer.json().get("error") == "invalid_grant", answer.quote()
    return f"token_endpoint_auth_methods_supported = {methods}; public enclii-cli without secret: {answer.quote()}"


def _no_rfc8414(probe: Probe) -> str:
    answer = probe.get(probe.llng.base_url + "/.well-known/oauth-authorization-server",
                       headers={"Accept": "application/json"})
    assert answer.status != 200, answer.quote()
    return answer.quote()


def _plain_advertised(probe: Probe) -> str:
    methods = _discovery(probe).get("code_challenge_methods_supported")
    assert isinstance(methods, list) and "plain" in methods, methods
    return f"code_challenge_methods_supported = {methods}"


def _none_alg_advertised(probe: Probe) -> str:
    algs = _discovery(probe).get("id_token_signing_alg_values_supported")
    assert isinstance(algs, list) and "none" in algs, algs
    return f"id_token_signing_alg_values_supported = {algs}"


def _plain_pkce_works(client: str) -> Callable[[Probe], str]:
    def verify(probe: Probe) -> str:
        if client == "enclii-cli":
            answer = probe.native_code(challenge=PLAIN_VERIFIER, method="plain")
            redirect_uri, auth = NATIVE_REDIRECT, None
        else:
            answer = probe.web_code(challenge=PLAIN_VERIFIER, method="plain")
            redirect_uri, auth = WEB_REDIRECT, True
        code = answer.location_query.get("code")
        assert code, answer.quote()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": PLAIN_VERIFIER}
        tokens = probe.web_token(form) if auth else probe.token({**form, "client_id": client})
        assert tokens.status == 200 and "access_token" in tokens.json(), tokens.quote()
        return (f"signed-in request with code_challenge_method=plain: HTTP {answer.status} with a code; "
                f"the exchange with the plain verifier: HTTP {tokens.status} with tokens")
    return verify


def _refresh_not_rotated(probe: Probe) -> str:
    tokens = probe.native_tokens()
    refresh = tokens["refresh_token"]
    first = probe.token({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "enclii-cli"})
    assert first.status == 200, first.quote()
    assert "refresh_token" not in first.json(), first.quote()
    again = probe.token({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "enclii-cli"})
    assert again.status == 200 and "access_token" in again.json(), again.quote()
    return (f"refresh: HTTP 200 members {sorted(first.json())} (no new refresh_token); "
            f"the same refresh token again: HTTP {again.status} members {sorted(again.json())}")


def _loopback_port_refused(probe: Probe) -> str:
    _, challenge = pkce_pair()
    control = probe.native_code(challenge=challenge)
    assert control.status == 302 and "code" in control.location_query, control.quote()
    answer = probe.native_code(challenge=challenge, redirect_uri=OTHER_LOOPBACK_PORT)
    return f"{OTHER_LOOPBACK_PORT}: " + _refused_page(answer, PE_UNAUTHORIZEDURL)


def _userinfo_without_bearer(probe: Probe) -> str:
    url = str(_discovery(probe)["userinfo_endpoint"])
    seen = []
    for label, headers in (("no token", None), ("a made-up token", {"Authorization": "Bearer authcheck-made-up"})):
        answer = probe.get(url, headers=headers)
        challenge = answer.headers.get("www-authenticate", "")
        assert answer.status == 401 and not challenge.lower().startswith("bearer"), answer.quote()
        seen.append(f"{label}: HTTP {answer.status} WWW-Authenticate: {challenge!r}")
    return "; ".join(seen)


def _userinfo_query_token(client: str) -> Callable[[Probe], str]:
    def verify(probe: Probe) -> str:
        verifier, challenge = pkce_pair()
        if client == "enclii-cli":
            answer = probe.native_code(challenge=challenge, scope="openid")
            form = {"grant_type": "authorization_code", "code": answer.location_query.get("code", ""),
                    "redirect_uri": NATIVE_REDIRECT, "code_verifier": verifier, "client_id": client}
            tokens = probe.token(form)
        else:
            answer = probe.authorize(probe.code_request(client, WEB_REDIRECT, scope="openid", challenge=challenge),
                                     signed_in=True)
            tokens = probe.web_token({"grant_type": "authorization_code", "code": answer.location_query.get("code", ""),
                                      "redirect_uri": WEB_REDIRECT, "code_verifier": verifier})
        assert tokens.status == 200, tokens.quote()
        url = str(_discovery(probe)["userinfo_endpoint"])
        served = Answer.of(probe.http.get(url, params={"access_token": tokens.json()["access_token"]}))
        bare = probe.get(url)
        assert bare.status == 401 and served.status == 200 and "sub" in served.json(), (bare.quote(), served.quote())
        return f"userinfo without a token: HTTP {bare.status}; with ?access_token=: HTTP 200 {sorted(served.json())}"
    return verify


def _prompt_none_login_page(client: str, redirect_uri: str) -> Callable[[Probe], str]:
    def verify(probe: Probe) -> str:
        params = probe.code_request(client, redirect_uri, challenge=pkce_pair()[1], prompt="none")
        answer = probe.authorize(params, signed_in=False)
        assert answer.is_login_page and answer.location is None, answer.quote()
        return "no session, prompt=none: the login page at HTTP 200, no redirect to the client"
    return verify


def _server_error_for_response_type(client: str, redirect_uri: str) -> Callable[[Probe], str]:
    def verify(probe: Probe) -> str:
        answer = probe.authorize(probe.code_request(client, redirect_uri, challenge=pkce_pair()[1],
                                                    response_type="code id_token"), signed_in=True)
        assert answer.status == 302 and answer.location and answer.location.startswith(redirect_uri), answer.quote()
        assert answer.location_query.get("error") == "server_error", answer.quote()
        return ("signed in, response_type=code id_token (not allowed for the client): error=server_error, where "
                "RFC 6749 §4.1.2.1 names unsupported_response_type or unauthorized_client")
    return verify


def _signed_in_code_tokens(probe: Probe, client: str) -> tuple[dict[str, str], dict[str, object]]:
    """(the token request's form, its tokens) of one signed-in code flow of ``client``."""
    verifier, challenge = pkce_pair()
    if client == "enclii-cli":
        answer = probe.native_code(challenge=challenge)
        form = {"grant_type": "authorization_code", "code": answer.location_query.get("code", ""),
                "redirect_uri": NATIVE_REDIRECT, "code_verifier": verifier, "client_id": client}
        tokens = probe.token(form)
    else:
        answer = probe.web_code(challenge=challenge)
        form = {"grant_type": "authorization_code", "code": answer.location_query.get("code", ""),
                "redirect_uri": WEB_REDIRECT, "code_verifier": verifier}
        tokens = probe.web_token(form)
    assert tokens.status == 200, tokens.quote()
    return form, tokens.json()


def _code_replay_keeps_tokens(client: str) -> Callable[[Probe], str]:
    def verify(probe: Probe) -> str:
        form, tokens = _signed_in_code_tokens(probe, client)
        replay = probe.token(form) if client == "enclii-cli" else probe.web_token(form)
        assert replay.status == 400, replay.quote()
        userinfo = probe.get(str(_discovery(probe)["userinfo_endpoint"]),
                             headers={"Authorization": f"Bearer {tokens['access_token']}"})
        refresh_form = {"grant_type": "refresh_token", "refresh_token": str(tokens["refresh_token"])}
        refreshed = (probe.token({**refresh_form, "client_id": client}) if client == "enclii-cli"
                     else probe.web_token(refresh_form))
        assert userinfo.status == 200 and refreshed.status == 200, (userinfo.quote(), refreshed.quote())
        return (f"the replayed code: HTTP {replay.status}; afterwards the first redemption's access token opens "
                f"userinfo (HTTP {userinfo.status}) and its refresh token refreshes (HTTP {refreshed.status})")
    return verify


def _introspects_other(asking: str) -> Callable[[Probe], str]:
    secrets = {"ci-deployer": DEPLOYER_SECRET, "web-portal": WEB_PORTAL_SECRET}

    def verify(probe: Probe) -> str:
        if asking == "web-portal":
            other = probe.token({"grant_type": "client_credentials", "scope": "deploy read"},
                                auth=("ci-deployer", DEPLOYER_SECRET))
            assert other.status == 200, other.quote()
            token = other.json()["access_token"]
        else:
            token = str(_signed_in_code_tokens(probe, "web-portal")[1]["access_token"])
        url = str(_discovery(probe)["introspection_endpoint"])
        answer = Answer.of(probe.http.post(url, data={"token": token}, auth=(asking, secrets[asking])))
        assert answer.status == 200 and answer.json().get("active") is True, answer.quote()
        return f"{asking} introspects another client's token: active, client_id {answer.json().get('client_id')!r}"
    return verify


TRUE_FINDINGS: dict[Key, Finding] = {
    ("discovery.rfc8414", "providers.sso"): Finding(
        "no RFC 8414 metadata at /.well-known/oauth-authorization-server (the policy's default rfc8414 = true)",
        _no_rfc8414),
    ("discovery.pkce-s256", "providers.sso"): Finding(
        "code_challenge_methods_supported advertises plain (RFC 9700 §2.1.1: S256 only)", _plain_advertised),
    ("discovery.signing-algs", "providers.sso"): Finding(
        "'none' (and HS*, RS384, RS512) advertised for ID tokens; the policy allows RS256 only", _none_alg_advertised),
    ("pkce.plain-refused", "clients.portal"): Finding(
        "code_challenge_method=plain is accepted end to end", _plain_pkce_works("web-portal")),
    ("pkce.plain-refused", "clients.cli"): Finding(
        "code_challenge_method=plain is accepted end to end", _plain_pkce_works("enclii-cli")),
    ("refresh.rotation", "clients.cli"): Finding(
        "refresh tokens of the public client are not rotated and stay reusable (RFC 9700 §4.14.2)",
        _refresh_not_rotated),
    ("redirect-uri.loopback-any-port", "clients.cli"): Finding(
        "the loopback redirect URI with another port is refused once signed in (RFC 8252 §7.3 says any port "
        "must be allowed)", _loopback_port_refused),
    ("userinfo.bearer-challenge", "providers.sso"): Finding(
        "userinfo refuses without a token and with a made-up one with 401 and a WWW-Authenticate header that names "
        "no auth scheme (error=invalid_request,...), not a Bearer challenge (RFC 6750 §3)", _userinfo_without_bearer),
    ("tokens.query-refused", "clients.portal"): Finding(
        "userinfo serves an access token sent in the URL query (RFC 6750 §5.3, RFC 9700 §4.3.2)",
        _userinfo_query_token("web-portal")),
    ("tokens.query-refused", "clients.cli"): Finding(
        "userinfo serves an access token sent in the URL query (RFC 6750 §5.3, RFC 9700 §4.3.2)",
        _userinfo_query_token("enclii-cli")),
    ("prompt-none.login-required", "clients.portal"): Finding(
        "prompt=none without a session shows the login page instead of redirecting with login_required "
        "(OIDC Core §3.1.2.6)", _prompt_none_login_page("web-portal", WEB_REDIRECT)),
    ("prompt-none.login-required", "clients.cli"): Finding(
        "prompt=none without a session shows the login page instead of redirecting with login_required "
        "(OIDC Core §3.1.2.6)", _prompt_none_login_page("enclii-cli", NATIVE_REDIRECT)),
    ("errors.rfc6749-format", "clients.portal"): Finding(
        "a response type the client may not use comes back as server_error (RFC 6749 §4.1.2.1)",
        _server_error_for_response_type("web-portal", WEB_REDIRECT)),
    ("errors.rfc6749-format", "clients.cli"): Finding(
        "a response type the client may not use comes back as server_error (RFC 6749 §4.1.2.1)",
        _server_error_for_response_type("enclii-cli", NATIVE_REDIRECT)),
    ("introspection.isolation", "clients.deployer"): Finding(
        "any client with a secret may introspect another client's token (the strict policy allows none)",
        _introspects_other("ci-deployer")),
    ("introspection.isolation", "clients.portal"): Finding(
        "any client with a secret may introspect another client's token (the strict policy allows none)",
        _introspects_other("web-portal")),
    ("code.replay-refused", "clients.portal"): Finding(
        "a replayed code is refused but the first redemption's tokens keep working (RFC 6749 §4.1.2 SHOULD revoke)",
        _code_replay_keeps_tokens("web-portal")),
    ("code.replay-refused", "clients.cli"): Finding(
        "a replayed code is refused but the first redemption's tokens keep working (RFC 6749 §4.1.2 SHOULD revoke)",
        _code_replay_keeps_tokens("enclii-cli")),
}

#: true of LemonLDAP::NG, yet no check's violation under the strict policy: client-auth.auth-method judges what
#: the token endpoint does with the client (it takes the public client without a secret, as declared), and
#: discovery.token-auth-methods judges the advertised list only against methods a policy names
NOTED: dict[Key, Finding] = {
    ("client-auth.auth-method", "clients.cli"): Finding(
        "discovery omits 'none' from token_endpoint_auth_methods_supported although the token endpoint "
        "takes the public client without a secret (RFC 8414 §2: the list names the methods supported)",
        _none_not_advertised),
}

#: (check, target) -> words of the reason a correct run gives for not evaluating it, and nothing else is
#: not evaluated
NOT_EVALUATED: dict[Key, str] = {
    # introspection of a refresh token answers without active and exp (the public client may not introspect),
    # and the token response carries no refresh lifetime
    ("lifetimes.refresh-token", "clients.portal"): "does not show it active with an exp",
    ("lifetimes.refresh-token", "clients.cli"): "does not show it active with an exp",
    ("lifetimes.refresh-token-sliding", "clients.portal"): "does not show it active with an exp",
    ("lifetimes.refresh-token-sliding", "clients.cli"): "does not show it active with an exp",
    # ci-deployer has no redirect URI, so its authorization request is sent without one: LemonLDAP::NG's generic
    # error page (code 24) is what web-portal, which does get codes, also gets without a redirect_uri, so the page
    # says nothing about whether ci-deployer could get a code (verified by hand, 2026-12-05)
    ("grants.undeclared-refused", "clients.deployer"): "the request carries no redirect_uri",
}


# ---------------------------------------------------------------------------------------------------
# FALSE: the suites misread the answer


def _signed_in_page(params: Callable[[Probe], dict[str, str]], number: str) -> Callable[[Probe], str]:
    def refute(probe: Probe) -> str:
        anonymous = probe.authorize(params(probe), signed_in=False)
        assert anonymous.is_login_page, anonymous.quote()
        return "anonymous: login page (HTTP 200); signed in: " + _refused_page(
            probe.authorize(params(probe), signed_in=True), number)
    return refute


def _code(client: str, redirect_uri: str, **extra: str) -> Callable[[Probe], dict[str, str]]:
    def params(probe: Probe) -> dict[str, str]:
        return probe.code_request(client, redirect_uri, challenge=pkce_pair()[1], **extra)
    return params


def _exact_match_refuted(client: str, registered: str, variants: tuple[str, ...]) -> Callable[[Probe], str]:
    def refute(probe: Probe) -> str:
        seen = []
        for variant in variants:
            answer = probe.authorize(_code(client, variant)(probe), signed_in=True)
            _refused_page(answer, PE_UNAUTHORIZEDURL)
            seen.append(variant)
        control = probe.authorize(_code(client, registered)(probe), signed_in=True)
        assert control.status == 302 and "code" in control.location_query, control.quote()
        return f"signed in, all of {len(seen)} variants: HTML error page {PE_UNAUTHORIZEDURL} at HTTP 200"
    return refute


def _response_types_refuted(client: str, redirect_uri: str) -> Callable[[Probe], str]:
    def refute(probe: Probe) -> str:
        out = []
        for response_type in ("token", "id_token", "id_token token", "code id_token", "code token",
                               "code id_token token"):
            answer = probe.authorize(_code(client, redirect_uri, response_type=response_type)(probe), signed_in=True)
            if response_type == "token":
                out.append(f"{response_type!r}: " + _refused_page(answer, PE_ERROR))
            else:
                assert answer.status == 302 and answer.location and "#" in answer.location, answer.quote()
                query = answer.location_query
                assert query.get("error") == "server_error" and "code" not in query and "id_token" not in query, \
                    answer.quote()
                out.append(f"{response_type!r}: error=server_error in the fragment")
        return "; ".join(out)
    return refute


def _pkce_required_refuted(client: str, redirect_uri: str) -> Callable[[Probe], str]:
    def refute(probe: Probe) -> str:
        params = probe.code_request(client, redirect_uri)
        answer = probe.authorize(params, signed_in=True)
        return "signed in, no code_challenge: " + _refused_redirect(answer, redirect_uri, "invalid_request")
    return refute


def _spec_only(reason: str) -> Callable[[Probe], str]:
    def refute(probe: Probe) -> str:
        supported = _discovery(probe).get("scopes_supported")
        return f"scopes_supported = {supported}; {reason}"
    return refute


WEB_VARIANTS = ("https://app.test/auth/callbackx", "https://app.test/auth/callback/authcheck",
                "https://app.test/auth/callback/../authcheck", "https://app.test/auth/callback/",
                "http://app.test/auth/callback", "https://authcheck.invalid/auth/callback",
                "https://app.test.authcheck.invalid/auth/callback", "https://app.test@authcheck.invalid/auth/callback",
                "https://app.test/auth/callback?authcheck=1", "https://app.test/auth/callback#authcheck",
                "https://app.test:444/auth/callback")
NATIVE_VARIANTS = ("http://127.0.0.1/callbackx", "http://127.0.0.1/callback/authcheck",
                   "http://127.0.0.1/callback/../authcheck", "http://127.0.0.1/callback/",
                   "https://127.0.0.1/callback", "http://authcheck.invalid/callback",
                   "http://127.0.0.1.authcheck.invalid/callback", "http://127.0.0.1@authcheck.invalid/callback",
                   "http://127.0.0.1/callback?authcheck=1", "http://127.0.0.1/callback#authcheck",
                   "http://localhost/callback")
UNREGISTERED = "https://authcheck-unregistered.invalid/callback"

FALSE_FAILURES: dict[Key, Finding] = {
    ("client-auth.unknown-client-refused", "clients.portal"): Finding(
        "an unknown client_id gets the login page, then error 107 (unknown partner) once signed in",
        _signed_in_page(_code("web-portal-authcheck-unknown", WEB_REDIRECT), PE_UNKNOWNPARTNER)),
    ("client-auth.unknown-client-refused", "clients.cli"): Finding(
        "an unknown client_id gets the login page, then error 107 (unknown partner) once signed in",
        _signed_in_page(_code("enclii-cli-authcheck-unknown", NATIVE_REDIRECT), PE_UNKNOWNPARTNER)),
    ("client-auth.removed-client-refused", "clients.retired"): Finding(
        "retired-app is unknown to the portal: login page, then error 107 once signed in; token endpoint "
        "invalid_client", _signed_in_page(_code("retired-app", WEB_REDIRECT), PE_UNKNOWNPARTNER)),
    ("discovery.scopes", "providers.sso"): Finding(
        "OIDC Discovery 1.0 §3 lets a server leave supported scopes out of scopes_supported",
        _spec_only("OIDC Discovery 1.0 §3: 'Servers MAY choose not to advertise some supported scope values'")),
    ("grants.response-types", "clients.portal"): Finding(
        "implicit and hybrid response types are refused once signed in", _response_types_refuted("web-portal",
                                                                                                 WEB_REDIRECT)),
    ("grants.response-types", "clients.cli"): Finding(
        "implicit and hybrid response types are refused once signed in", _response_types_refuted("enclii-cli",
                                                                                                 NATIVE_REDIRECT)),
    ("pkce.required", "clients.portal"): Finding(
        "a request without code_challenge is refused with invalid_request once signed in",
        _pkce_required_refuted("web-portal", WEB_REDIRECT)),
    ("pkce.required", "clients.cli"): Finding(
        "a request without code_challenge is refused with invalid_request once signed in",
        _pkce_required_refuted("enclii-cli", NATIVE_REDIRECT)),
    ("redirect-uri.unregistered-refused", "clients.portal"): Finding(
        "the unregistered redirect URI gets error 108 (unauthorised URL) once signed in",
        _signed_in_page(_code("web-portal", UNREGISTERED), PE_UNAUTHORIZEDURL)),
    ("redirect-uri.unregistered-refused", "clients.cli"): Finding(
        "the unregistered redirect URI gets error 108 (unauthorised URL) once signed in",
        _signed_in_page(_code("enclii-cli", UNREGISTERED), PE_UNAUTHORIZEDURL)),
    ("redirect-uri.exact-match", "clients.portal"): Finding(
        "every variant gets error 108 once signed in (exact string comparison)",
        _exact_match_refuted("web-portal", WEB_REDIRECT, WEB_VARIANTS)),
    ("redirect-uri.exact-match", "clients.cli"): Finding(
        "every variant gets error 108 once signed in (exact string comparison)",
        _exact_match_refuted("enclii-cli", NATIVE_REDIRECT, NATIVE_VARIANTS)),
}

__all__ = ["FALSE_FAILURES", "NOTED", "NOT_EVALUATED", "Finding", "Key", "TRUE_FINDINGS"]
