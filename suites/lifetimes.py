"""Token lifetimes: what the provider says and what its tokens carry stay within the policy.

Seed symptoms: "Invalid or Expired Token: access token expired (29 days)" (a lifetime far beyond any
sane bound) and "check for clock skew" (tokens dated in the future).
"""

from __future__ import annotations

import time

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import (
    DEFAULT_ACCESS_TOKEN_MAX,
    DEFAULT_ID_TOKEN_MAX,
    DEFAULT_REFRESH_TOKEN_MAX,
    LOGIN_OPENID,
    REFRESH_LOGIN,
    TOKENS,
    logs_in,
    token_by_login,
)
from pytest_authcheck._duration import format_duration
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import AtMost, Quantity
from pytest_authcheck._jwt import decode_unverified
from pytest_authcheck._lifetimes import assess_access_token, assess_id_token
from pytest_authcheck._tokens import _parse
from pytest_authcheck.observations import NotEvaluated, observe_introspection


@check("lifetimes.access-token", title="Access tokens live no longer than the policy allows, and say so truthfully",
       sends="Nothing of its own: reads the client's token of the run (client credentials, else the run's login).",
       severity="high", area="clients", applies=TOKENS, signs_in=token_by_login,
       refs=["RFC 6749 §5.1", "RFC 6750 §5.3", "RFC 9068 §2.2", "RFC 7519 §4.1.4",
                                              "RFC 9700 §4.14"],
       remediation="Set the client's access token lifetime at the provider to at most the policy's access_token_max "
                   "(default 1h) and make expires_in state the real lifetime; synchronise the provider's clock if "
                   "iat or nbf lie in the future.")
def test_access_token_lifetime(client_case, client_token):
    active_client, client_provider, _, authcheck_record = client_case
    token = client_token.token
    maximum = active_client.duration("access_token_max", client_provider.config) or DEFAULT_ACCESS_TOKEN_MAX
    minimum = active_client.duration("access_token_min")
    if token.is_jwt:
        authcheck_record.jwt(f"access token of {active_client.target}", token.access_token.reveal())
    report = assess_access_token(expires_in=token.expires_in, claims=token.claims, received_at=token.response.received_at,
                                 max_seconds=maximum, min_seconds=minimum, skew=client_provider.max_clock_skew)
    authcheck_record.expect(report.expected, report.observed)
    if report.problems:
        authcheck_record.fail(f"access token of {active_client.label}: " + "; ".join(report.problems))


@check("lifetimes.id-token", title="ID tokens are dated correctly and live no longer than the policy allows",
       sends="Nothing of its own: reads the ID token of the run's login through the client.",
       severity="medium", area="clients", applies=LOGIN_OPENID, signs_in=logs_in,
       refs=["OIDC Core 1.0 §2", "OIDC Core 1.0 §3.1.3.7", "RFC 7519 §4.1.4"],
       remediation="Issue ID tokens with iat now and a short exp (at most the policy's id_token_max); synchronise the "
                   "provider's clock.")
def test_id_token_lifetime(client_case, authcheck_code_flows):
    active_client, client_provider, _, authcheck_record = client_case
    tokens = authcheck_code_flows.tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    if tokens.id_claims is None:
        authcheck_record.fail("no readable id_token came back although openid was requested",
                              expected={"id_token": "readable"}, observed={"id_token": "none or unreadable"})
    authcheck_record.jwt(f"id_token of {active_client.target}", tokens.id_token.reveal() if tokens.id_token else "")
    maximum = active_client.duration("id_token_max", client_provider.config) or DEFAULT_ID_TOKEN_MAX
    report = assess_id_token(tokens.id_claims or {}, received_at=tokens.token.response.received_at, max_seconds=maximum,
                             skew=client_provider.max_clock_skew)
    authcheck_record.expect(report.expected, report.observed)
    if report.problems:
        authcheck_record.fail(f"id_token of {active_client.label}: " + "; ".join(report.problems))


def _refresh_span(token, client, introspection, authcheck_run, authcheck_record):
    """(start, end, where it was read) of a refresh token, or (None, None, why not) when the provider does not say."""
    body = token.extra
    received = token.response.received_at
    if _number(body.get("refresh_expires_in")) is not None:
        return received, received + float(body["refresh_expires_in"]), "refresh_expires_in of the token response"
    claims = None
    try:
        claims = decode_unverified(token.refresh_token.reveal())[1]
    except ValueError:
        pass
    if claims and _number(claims.get("exp")) is not None:
        return _number(claims.get("iat")) or received, float(claims["exp"]), "exp - iat of the refresh token (a JWT)"
    if not isinstance(introspection, str):
        return None, None, "the refresh token is opaque, the token response has no refresh_expires_in, and the " \
                           "provider advertises no introspection endpoint"
    form, auth = client.credentials({"token": token.refresh_token, "token_type_hint": "refresh_token"})
    response = authcheck_run.http.post(introspection, data=form, auth=auth)
    authcheck_record.attach(response.exchange)
    answer = observe_introspection(response)
    body = answer.details.get("body") or {}
    if answer.details.get("active") is not True or _number(answer.details.get("exp")) is None:
        return None, None, f"introspection of the refresh token does not show it active with an exp ({answer.summary})"
    return _number(body.get("iat")) or received, float(answer.details["exp"]), "exp - iat from introspection (RFC 7662)"


SLIDE_WAIT = 2.0
SLIDE_TOLERANCE = 1.0


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@check("lifetimes.refresh-token", title="Refresh tokens live no longer than the policy allows",
       sends="Nothing of its own but introspection of the refresh token of the run's login, where the provider advertises an introspection"
             " endpoint.",
       severity="medium", area="clients", applies=REFRESH_LOGIN, signs_in=logs_in, level="SHOULD",
       refs=["RFC 9700 §4.14.2", "RFC 6819 §5.2.2.3", "RFC 7662 §2.2"],
       remediation="Set the client's refresh token (and offline session) lifetime at the provider to at most the "
                   "policy's refresh_token_max: a stolen refresh token mints access tokens for as long as it lives.")
def test_refresh_token_lifetime(client_case, authcheck_run, authcheck_code_flows):
    active_client, client_provider, client_metadata, authcheck_record = client_case
    maximum = active_client.duration("refresh_token_max", client_provider.config) or DEFAULT_REFRESH_TOKEN_MAX
    authcheck_record.fact("refresh_token_max", format_duration(maximum) + (" (the default)" if active_client.duration(
        "refresh_token_max", client_provider.config) is None else ""))
    # The run's shared login tokens: introspection reads them and changes nothing.
    tokens = authcheck_code_flows.tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    if tokens.token.refresh_token is None:
        authcheck_record.fail(f"no refresh token was issued to {active_client.label} although it declares refresh_token",
                              expected={"refresh token": "issued"}, observed={"refresh token": "none"})
    start, end, source = _refresh_span(tokens.token, active_client, client_metadata.get("introspection_endpoint"),
                                       authcheck_run, authcheck_record)
    if start is None:
        raise NotEvaluated(f"the refresh token lifetime of {active_client.target} is not observable: {source}")
    lifetime = end - start
    authcheck_record.fact("refresh token lifetime read from", source)
    authcheck_record.expect(AtMost(maximum + client_provider.max_clock_skew, f"at most {format_duration(maximum)}"),
                            Quantity(lifetime, format_duration(round(lifetime))))
    if lifetime > maximum + client_provider.max_clock_skew:
        authcheck_record.fail(f"refresh tokens of {active_client.label} live {format_duration(round(lifetime))} "
                              f"({source}); the policy allows at most {format_duration(maximum)}")


@check("lifetimes.refresh-token-sliding", title="Using a refresh token does not push back when its grant ends",
       sends="A fresh login through the client, a refresh two seconds later, and introspection of both refresh tokens where offered.",
       severity="low", area="clients", applies=REFRESH_LOGIN, signs_in=logs_in, level="SHOULD",
       refs=["RFC 9700 §4.14.2", "RFC 6819 §5.2.2.3", "OWASP ASVS 5.0 V10.4.8"],
       remediation="Give refresh tokens an absolute lifetime that a refresh does not extend (the end of the first "
                   "login's grant), or, if a sliding window is intended, cap it with an absolute maximum at the provider "
                   "and declare refresh_token_sliding = true: a refresh token used regularly must not live forever.")
def test_refresh_token_sliding(client_case, token_request, authcheck_run, authcheck_code_flows):
    active_client, _, client_metadata, authcheck_record = client_case
    if active_client.config.get("refresh_token_sliding"):
        pytest.skip(f"{active_client.target} declares refresh_token_sliding = true (a capped sliding window is accepted)")
    tokens = authcheck_code_flows.fresh_tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    if tokens.token.refresh_token is None:
        raise NotEvaluated(f"no refresh token was issued to {active_client.label}; see lifetimes.refresh-token")
    introspection = client_metadata.get("introspection_endpoint")
    start, first_end, source = _refresh_span(tokens.token, active_client, introspection, authcheck_run, authcheck_record)
    if start is None:
        raise NotEvaluated(f"the refresh token's end is not observable: {source}")
    # a sliding end moves by the time between issuance and refresh: give it two seconds to show above the
    # one-second resolution of exp and iat
    wait = SLIDE_WAIT - (time.time() - tokens.token.response.received_at)
    if wait > 0:
        time.sleep(wait)
    refreshed = token_request({"grant_type": "refresh_token", "refresh_token": tokens.token.refresh_token})
    try:
        after = _parse(active_client.name, refreshed)
    except EvaluationError as exc:
        raise NotEvaluated(f"the refresh itself does not work ({exc}); see grants.declared-work") from None
    if after.refresh_token is None:
        after.refresh_token = tokens.token.refresh_token  # not rotated: the same token, whose end may have moved
    _, later_end, later_source = _refresh_span(after, active_client, introspection, authcheck_run, authcheck_record)
    if later_end is None:
        raise NotEvaluated(f"the refreshed token's end is not observable: {later_source}")
    moved = later_end - first_end
    authcheck_record.fact("refresh token end read from", f"{source}; after the refresh: {later_source}")
    authcheck_record.expect({"end after a refresh": AtMost(SLIDE_TOLERANCE, "no later than before")},
                            {"end after a refresh": Quantity(moved, "no later than before" if moved <= SLIDE_TOLERANCE
                                                             else f"{moved:.0f}s later")})
    if moved > SLIDE_TOLERANCE:
        authcheck_record.fail(f"refresh tokens of {active_client.label} slide: a refresh moved the end of the grant "
                              f"{moved:.0f}s later, as far as time had passed ({later_source}); used regularly, they never "
                              "expire unless an absolute limit at the provider caps them")
