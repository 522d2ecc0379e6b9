"""PKCE: required for public clients and wherever the policy says S256; plain refused; the verifier checked."""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._authz import pkce_pair
from pytest_authcheck._clients import PKCE_CODE_FLOW, applies_when, logs_in
from pytest_authcheck.observations import NotEvaluated, observe_token
from pytest_authcheck.probes.variations import PLAIN_PKCE as PLAIN
from pytest_authcheck.probes.variations import WITHOUT_PKCE

PKCE_LOGIN = applies_when(lambda c: c.requires_pkce and c.uses_login,
                          "{target} is confidential and the policy does not say pkce = \"S256\", or it has no login")


@check("pkce.required", title="An authorization request without code_challenge is refused",
       sends="The client's authorization request without code_challenge; signed in as the test user when the pre-login answer cannot tell.",
       severity="high", area="clients", applies=PKCE_CODE_FLOW, refs=["RFC 9700 §2.1.1", "RFC 7636 §4.4.1", "RFC 8252 §8.1"],
       remediation="Require PKCE for this client at the provider (for every public client at least): an "
                   "authorization request without code_challenge must get invalid_request.")
def test_pkce_required(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    _refused(authcheck_authz_probes, active_client, authcheck_record, WITHOUT_PKCE,
             f"PKCE is not required for {active_client.label}: a request without code_challenge gets ")


@check("pkce.plain-refused", title="code_challenge_method=plain is refused",
       sends="The client's authorization request with code_challenge_method=plain; signed in as the test user when the pre-login answer "
             "cannot tell.",
       severity="medium", area="clients", applies=PKCE_CODE_FLOW, refs=["RFC 7636 §4.2", "RFC 7636 §7.2", "RFC 9700 §2.1.1"],
       remediation="Accept only S256 as code_challenge_method; plain exposes the verifier to whoever sees the "
                   "authorization request. (Set allow_plain_pkce = true on the provider only if you must.)")
def test_pkce_plain_refused(client_case, authcheck_authz_probes):
    active_client, client_provider, _, authcheck_record = client_case
    if client_provider.config.get("allow_plain_pkce"):
        pytest.skip(f"providers.{client_provider.name} sets allow_plain_pkce = true")
    _refused(authcheck_authz_probes, active_client, authcheck_record, PLAIN,
             f"code_challenge_method=plain is accepted for {active_client.label}: ")


def _refused(probes, client, record, variation, message: str) -> None:
    answer = probes.decide(client, variation)
    record.attach(*answer.exchanges)
    if not answer.decisive:
        raise NotEvaluated(answer.why_not_evaluable())
    record.expect({variation.name: "refused"}, {variation.name: answer})
    if answer.accepted:
        record.fail(message + answer.summary)


@check("pkce.verifier-enforced", title="A code cannot be redeemed without its verifier or with a wrong one",
       sends="Two fresh logins through the client; one code redeemed without code_verifier, the other with a wrong one.",
       severity="high", area="clients", applies=PKCE_LOGIN, signs_in=logs_in, refs=["RFC 7636 §4.6", "RFC 9700 §2.1.1", "RFC 9700 §4.8"],
       remediation="Verify code_verifier against the stored code_challenge at the token endpoint and refuse a "
                   "missing or wrong verifier with invalid_grant; otherwise a stolen code is as good as a token.")
def test_pkce_verifier_enforced(client_case, authcheck_code_flows):
    active_client, _, _, authcheck_record = client_case
    # the control: the ordinary redemption, with its verifier, works
    control = authcheck_code_flows.tokens(active_client)
    authcheck_record.attach(control.token.response.exchange)
    observed = {}
    undecided = []
    for label, verifier in (("no code_verifier", None), ("a wrong code_verifier", pkce_pair()[0])):
        authorization = authcheck_code_flows.authorize(active_client)
        authcheck_record.attach(*authorization.exchanges)
        response = authcheck_code_flows.redeem(authorization, verifier=verifier)
        authcheck_record.attach(response.exchange)
        answer = observe_token(response)
        if answer.decisive:
            observed[label] = answer
            if answer.accepted:
                authcheck_record.violation(label)
        else:
            undecided.append(f"{label}: {answer.why_not_evaluable()}")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect({k: "refused" for k in observed}, observed)
    authcheck_record.conclude(f"a code of {active_client.label} was redeemed with ")
