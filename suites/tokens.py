"""Bearer tokens where RFC 6750 allows them, and the issuer in them byte for byte.

``tokens.query-refused`` sends a token that works in the ``Authorization`` header once more, only in the URL
query (``?access_token=``), to the provider's userinfo endpoint (per client) and to each API of the policy (at its
first GET rule): URLs end up in logs, browser history and Referer headers (RFC 6750 §5.3, RFC 9700 §4.3.2).
``tokens.iss-exact`` reads the tokens the run already holds.
"""

from __future__ import annotations

import urllib.parse

import pytest

from pytest_authcheck import check
from pytest_authcheck._api import ALLOW, ANONYMOUS
from pytest_authcheck._clients import LOGIN_OPENID, TOKENS, PolicyClient, logs_in, token_by_login
from pytest_authcheck.observations import NotEvaluated, observe_resource

IN_QUERY = "the access token only in the URL query"



def _openid_login(target: object) -> str | None:
    # the userinfo side needs a client that logs users in with openid; an API target always applies
    return LOGIN_OPENID(target) if isinstance(target, PolicyClient) else None


# One check, two targets: the userinfo endpoint (per client) and the policy's APIs (per API, named in messages).
query_refused = check(
    "tokens.query-refused", title="Bearer tokens in the URL query are refused", severity="medium", area="clients",
    applies=_openid_login, signs_in=lambda target: isinstance(target, PolicyClient) and logs_in(target),
    sends="The access token of the run's OpenID login to userinfo in the Authorization header (the control) and only in ?access_token=; at"
          " each API, its accepted token in the query of its first GET rule.",
    level="SHOULD",
    refs=["RFC 6750 §2.3", "RFC 6750 §5.3", "RFC 9700 §4.3.2", "FAPI 2.0 Security Profile §5.3.4"],
    remediation="Accept access tokens only in the Authorization header (and, where needed, the form body): turn off "
                "the access_token query parameter at the provider's userinfo endpoint and at the APIs (for example "
                "oidc-provider's acceptQueryParamAccessTokens, or a resource server that reads request.GET). Tokens in "
                "URLs end up in server and proxy logs, browser history and Referer headers.")


@query_refused
def test_query_refused_at_userinfo(client_case, authcheck_userinfo_probes, authcheck_openid_logins):
    active_client, client_provider, _, authcheck_record = client_case
    probes, provider = authcheck_userinfo_probes, client_provider.name
    probes.endpoint(provider)  # skipped or not evaluated before any login when it cannot be asked
    for renew in (False, True):
        login = authcheck_openid_logins.login(active_client, renew=renew)
        authcheck_record.attach(*login.tokens.exchanges)
        token = login.tokens.token.access_token
        control = probes.in_header(provider, active_client.name, token)
        authcheck_record.attach(control.exchange)
        if not control.refused:
            break  # a token revoked since the run's login (by another check) is refused: log in once more
    if not control.accepted:
        raise NotEvaluated(f"the userinfo endpoint does not serve the access token of {active_client.label} even in the "
                           f"Authorization header ({control.describe()}), so a refusal in the query proves nothing",
                           exchange=control.exchange)
    probe = probes.in_query(provider, active_client.name, token)
    authcheck_record.attach(probe.exchange)
    _judge(authcheck_record, probe, lambda: probes.without_token(provider), "see userinfo.bearer-challenge",
           f"the userinfo endpoint of {client_provider.target} serves the access token of {active_client.label} sent "
           "in the URL query (?access_token=...)")


@query_refused
def test_query_refused_at_api(api, api_baseline, authcheck_run, authcheck_record):
    rule, principal = api_baseline.rule, api_baseline.principal
    if api.spec.expectation(rule, api.spec.principals[ANONYMOUS]).outcome == ALLOW:
        pytest.skip(f"apis.{api.name} allows {rule.request} without a credential, so a token in the query proves nothing")
    response = authcheck_run.http.get(api.spec.url(rule.path), params={"access_token": api_baseline.token})
    authcheck_record.attach(response.exchange)
    probe = observe_resource(response)

    def bare():
        answer = observe_resource(api.send(rule, {}))
        authcheck_record.attach(answer.exchange)
        return answer

    _judge(authcheck_record, probe, bare, "see api.no-credential",
           f"apis.{api.name} serves {rule.request} to the access token of {principal.name} sent in the URL query "
           "(?access_token=...)")


def _judge(record, probe, without_token, pointer: str, message: str) -> None:
    if probe.accepted:
        # served: by the token in the query, unless the resource serves anybody
        bare = without_token()
        record.attach(bare.exchange)
        if bare.accepted:
            raise NotEvaluated(f"it is served even without any token ({bare.summary}), so the query token proves nothing; "
                               + pointer, exchange=bare.exchange)
    if not probe.decisive:
        raise NotEvaluated(probe.why_not_evaluable(), exchange=probe.exchange)
    record.expect({IN_QUERY: "refused"}, {IN_QUERY: probe})
    if probe.accepted:
        record.fail(f"{message}: {probe.summary}")


@check("tokens.iss-exact", title="Issued tokens name the policy's issuer exactly",
       sends="Nothing of its own: reads iss in the run's ID token and JWT access tokens.",
       severity="high", area="clients", applies=TOKENS, signs_in=token_by_login,
       refs=["OIDC Core 1.0 §2", "OIDC Core 1.0 §3.1.3.7", "RFC 9068 §2.2", "RFC 9068 §4", "RFC 8414 §3.3",
             "RFC 9700 §4.4"],
       remediation="Configure the provider's issuer identifier to be exactly the issuer clients and APIs are given "
                   "(scheme, host, port and path, with or without the trailing slash, as the policy writes it): relying "
                   "parties compare iss as a string, and a token they cannot match is refused or, worse, accepted "
                   "from the wrong issuer when they stop comparing.")
def test_iss_exact(client_case, client_token):
    active_client, client_provider, _, authcheck_record = client_case
    issuer = client_provider.issuer
    read: dict[str, object] = {}
    token = client_token.token
    if token.is_jwt:
        authcheck_record.jwt(f"access token of {active_client.target}", token.access_token.reveal())
        read["access token"] = (token.claims or {}).get("iss")
    user = client_token.user
    if user is not None and user.id_token is not None and user.id_claims is not None:
        authcheck_record.jwt(f"ID token of {active_client.target}", user.id_token.reveal())
        read["ID token"] = user.id_claims.get("iss")
    if not read:
        pytest.skip(f"the run's tokens of {active_client.target} are an opaque access token and no ID token: no iss to read")
    observed = {name: value if isinstance(value, str) else f"no iss string ({type(value).__name__})"
                for name, value in read.items()}
    authcheck_record.expect({name: issuer for name in observed}, observed)
    wrong = [f"the {name}'s iss is {value[:200]!r}{_difference(value, issuer)}" for name, value in observed.items()
             if value != issuer]
    if wrong:
        authcheck_record.fail(f"tokens of {active_client.label} do not name the policy's issuer {issuer!r} byte for "
                              "byte: " + "; ".join(wrong))


def _difference(value: str, issuer: str) -> str:
    """How an iss differs from the issuer, when it is a near miss a reader could overlook."""
    if value.rstrip("/") == issuer.rstrip("/"):
        return " (a trailing slash differs)"
    if value.lower() == issuer.lower():
        return " (letter case differs)"
    try:
        a, b = urllib.parse.urlsplit(value), urllib.parse.urlsplit(issuer)
        if (a.scheme, a.hostname, a.path) == (b.scheme, b.hostname, b.path) and a.port != b.port:
            return " (the port is written differently)"
        if (a.scheme, a.netloc) == (b.scheme, b.netloc):
            return " (the path differs)"
    except ValueError:
        pass
    return ""
