"""Token lifetimes: what the provider says and what its tokens carry stay within the policy.

Seed symptoms: "Invalid or Expired Token: access token expired (29 days)" (a lifetime far beyond any
sane bound) and "check for clock skew" (tokens dated in the future).
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import DEFAULT_ACCESS_TOKEN_MAX
from pytest_authcheck._duration import format_duration
from pytest_authcheck._lifetimes import assess_access_token, assess_id_token


@check("lifetimes.access-token", title="Access tokens live no longer than the policy allows, and say so truthfully",
       severity="high", area="clients", refs=["RFC 6749 §5.1", "RFC 6750 §5.3", "RFC 9068 §2.2", "RFC 7519 §4.1.4",
                                              "RFC 9700 §4.14"],
       remediation="Set the client's access token lifetime at the provider to at most the policy's access_token_max "
                   "(default 1h) and make expires_in state the real lifetime; synchronise the provider's clock if "
                   "iat or nbf lie in the future.")
def test_access_token_lifetime(active_client, client_provider, client_token, authcheck_record):
    token = client_token.token
    maximum = active_client.duration("access_token_max", client_provider.config) or DEFAULT_ACCESS_TOKEN_MAX
    minimum = active_client.duration("access_token_min")
    if token.is_jwt:
        authcheck_record.jwt(f"access token of {active_client.target}", token.access_token.reveal())
    report = assess_access_token(expires_in=token.expires_in, claims=token.claims, received_at=token.response.received_at,
                                 max_seconds=maximum, min_seconds=minimum, skew=client_provider.max_clock_skew)
    authcheck_record.expect(f"at most {format_duration(maximum)}" + (f", at least {format_duration(minimum)}" if minimum else "")
                            + (", exp - iat = expires_in" if token.is_jwt else ""), report.observed)
    if report.problems:
        authcheck_record.fail(f"access token of {active_client.label}: " + "; ".join(report.problems))


@check("lifetimes.id-token", title="ID tokens are dated correctly and live no longer than the policy allows",
       severity="medium", area="clients", refs=["OIDC Core 1.0 §2", "OIDC Core 1.0 §3.1.3.7", "RFC 7519 §4.1.4"],
       remediation="Issue ID tokens with iat now and a short exp (at most the policy's id_token_max); synchronise the "
                   "provider's clock.")
def test_id_token_lifetime(active_client, client_provider, client_metadata, authcheck_code_flows, authcheck_record):
    if not active_client.uses_login or "openid" not in active_client.scopes:
        pytest.skip(f"{active_client.target} does not log users in with the openid scope")
    tokens = authcheck_code_flows.tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    if tokens.id_claims is None:
        authcheck_record.fail("no readable id_token came back although openid was requested",
                              expected="an id_token", observed=None)
    authcheck_record.jwt(f"id_token of {active_client.target}", tokens.id_token.reveal() if tokens.id_token else "")
    maximum = active_client.duration("id_token_max", None)
    report = assess_id_token(tokens.id_claims or {}, received_at=tokens.token.response.received_at, max_seconds=maximum,
                             skew=client_provider.max_clock_skew)
    authcheck_record.expect(f"at most {format_duration(maximum)}" if maximum else "iat now, exp after iat", report.observed)
    if report.problems:
        authcheck_record.fail(f"id_token of {active_client.label}: " + "; ".join(report.problems))
