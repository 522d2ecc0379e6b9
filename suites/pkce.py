"""PKCE: required for public clients and wherever the policy says S256; plain refused; the verifier checked."""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._authz import pkce_pair
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._token_answers import error_of, issued_token


def _requires_pkce(client) -> None:
    if not client.requires_pkce:
        pytest.skip(f"{client.target} is confidential and the policy does not say pkce = \"S256\"")


@check("pkce.required", title="An authorization request without code_challenge is refused",
       severity="high", area="clients", refs=["RFC 9700 §2.1.1", "RFC 7636 §4.4.1", "RFC 8252 §8.1"],
       remediation="Require PKCE for this client at the provider (for every public client at least): an "
                   "authorization request without code_challenge must get invalid_request.")
def test_pkce_required(active_client, authz_baseline, authz_probe, authcheck_record):
    _requires_pkce(active_client)
    outcome = authz_probe(code_challenge=None, code_challenge_method=None)
    authcheck_record.expect("refused (invalid_request)", outcome.describe())
    if not outcome.refused:
        authcheck_record.fail(f"PKCE is not required for {active_client.label}: a request without code_challenge "
                              f"gets {outcome.describe()}")


@check("pkce.plain-refused", title="code_challenge_method=plain is refused",
       severity="medium", area="clients", refs=["RFC 7636 §4.2", "RFC 7636 §7.2", "RFC 9700 §2.1.1"],
       remediation="Accept only S256 as code_challenge_method; plain exposes the verifier to whoever sees the "
                   "authorization request. (Set allow_plain_pkce = true on the provider only if you must.)")
def test_pkce_plain_refused(active_client, client_provider, authz_baseline, authz_probe, authcheck_record):
    _requires_pkce(active_client)
    if client_provider.config.get("allow_plain_pkce"):
        pytest.skip(f"providers.{client_provider.name} sets allow_plain_pkce = true")
    verifier, _ = pkce_pair()
    outcome = authz_probe(code_challenge=verifier, code_challenge_method="plain")
    authcheck_record.expect("refused", outcome.describe())
    if not outcome.refused:
        authcheck_record.fail(f"code_challenge_method=plain is accepted for {active_client.label} ({outcome.describe()})")


@check("pkce.verifier-enforced", title="A code cannot be redeemed without its verifier or with a wrong one",
       severity="high", area="clients", refs=["RFC 7636 §4.6", "RFC 9700 §2.1.1", "RFC 9700 §4.8"],
       remediation="Verify code_verifier against the stored code_challenge at the token endpoint and refuse a "
                   "missing or wrong verifier with invalid_grant; otherwise a stolen code is as good as a token.")
def test_pkce_verifier_enforced(active_client, authz_baseline, authcheck_code_flows, authcheck_record):
    _requires_pkce(active_client)
    observed = {}
    accepted = []
    for label, verifier in (("no code_verifier", None), ("a wrong code_verifier", pkce_pair()[0])):
        authorization = authcheck_code_flows.authorize(active_client)
        authcheck_record.attach(*authorization.exchanges)
        response = authcheck_code_flows.redeem(authorization, verifier=verifier)
        authcheck_record.attach(response.exchange)
        observed[label] = "token issued" if issued_token(response) else f"HTTP {response.status} error={error_of(response)!r}"
        if issued_token(response):
            accepted.append(label)
        elif error_of(response) == "invalid_client":
            raise EvaluationError(f"{active_client.label} cannot authenticate at the token endpoint; see the "
                                  "client-auth checks")
    authcheck_record.expect({k: "refused (invalid_grant)" for k in observed}, observed)
    if accepted:
        authcheck_record.fail(f"a code of {active_client.label} was redeemed with " + " and with ".join(accepted))
