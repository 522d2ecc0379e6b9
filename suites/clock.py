"""Clock: the provider's clock agrees with ours, or tokens look expired or not yet valid (seed: clock skew)."""

from __future__ import annotations

import email.utils

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import token_clients
from pytest_authcheck._duration import format_duration
from pytest_authcheck._expect import AtMost, Quantity, Satisfies


@check("clock.date-header", title="The provider's Date header agrees with this machine's clock",
       sends="For an OIDC provider nothing of its own: reads the Date header of the discovery response; for a Jamf Pro "
             "server, a GET of its URL without credentials (once per run).",
       severity="medium", area="clock", level="SHOULD", refs=["RFC 9110 §6.6.1", "RFC 7519 §4.1.4", "OIDC Core 1.0 §3.1.3.7"],
       remediation="Synchronise the provider's clock with NTP; a skewed clock makes fresh tokens look expired or "
                   "not yet valid to every API that checks them.")
def test_date_header(any_provider, provider_home, authcheck_record):
    response = provider_home.response
    header = response.headers.get("date")
    if not header:
        pytest.skip(f"the {provider_home.name} carries no Date header")
    try:
        stamp = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        authcheck_record.fail(f"the Date header {header!r} is not an HTTP date")
    skew = stamp - response.received_at
    limit = any_provider.max_clock_skew
    # The header has one-second resolution and is written before the body is sent: allow 1 s + elapsed.
    slack = 1.0 + (response.exchange.elapsed_ms or 0) / 1000
    authcheck_record.expect(Satisfies(lambda s: abs(s) <= limit + slack, f"within ±{format_duration(limit)}"),
                            Quantity(skew, f"{skew:+.0f}s (Date: {header})"))
    if abs(skew) > limit + slack:
        direction = "ahead of" if skew > 0 else "behind"
        authcheck_record.fail(f"the provider's clock is {abs(skew):.0f}s {direction} this machine's "
                              f"(max_clock_skew {format_duration(limit)})")


@check("clock.token-iat", title="Issued tokens are not dated in the future",
       sends="A client-credentials token request for the provider's first active client_credentials client with a secret (once per client "
             "per run).",
       severity="medium", area="clock", refs=["RFC 7519 §4.1.5", "RFC 7519 §4.1.6", "RFC 9068 §2.2"],
       remediation="Synchronise the provider's clock; tokens whose iat or nbf lie in the future are refused by "
                   "resource servers until the clocks agree.")
def test_token_issued_at(oidc_provider, oidc_metadata, authcheck_policy, authcheck_token, authcheck_record):
    clients = token_clients(authcheck_policy, oidc_provider.name)
    if not clients:
        pytest.skip("the policy declares no active client_credentials client with a secret for this provider")
    token = authcheck_token(clients[0])
    if not token.is_jwt:
        pytest.skip(f"clients.{clients[0]} gets an opaque access token; iat cannot be read")
    authcheck_record.jwt(f"access token of clients.{clients[0]}", token.access_token.reveal())
    claims = token.claims or {}
    limit = oidc_provider.max_clock_skew
    received = token.response.received_at
    problems = []
    observed = {}
    for claim in ("iat", "nbf"):
        value = claims.get(claim)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            ahead = value - received
            observed[claim] = Quantity(ahead, f"{ahead:+.0f}s")
            if ahead > limit + 1:
                problems.append(f"{claim} is {ahead:.0f}s in the future")
    if not observed:
        pytest.skip(f"the access token of clients.{clients[0]} carries neither iat nor nbf: no date to compare")
    # Seconds: iat has one-second resolution.
    authcheck_record.expect({claim: AtMost(limit + 1, f"at most {format_duration(limit)} ahead") for claim in observed},
                            observed)
    if problems:
        authcheck_record.fail("; ".join(problems) + f" (max_clock_skew {format_duration(limit)})")
