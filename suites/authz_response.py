"""What the authorization endpoint sends back to the client: the issuer (RFC 9207), and silent authentication.

Both read answers the run already has where it can: the redirect with the code comes from the run's login of
the client (``authcheck_code_flows.tokens``), error redirects from the pre-login probes (an unknown response
type, ``prompt=none``; each sent once per run through ``authcheck_authz_probes``). ``prompt=none`` is sent
before any login, with no session: the answer must go back to the client, never to a login page.
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import LOGIN
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import OneOf
from pytest_authcheck.observations import Kind, NotEvaluated
from pytest_authcheck.observations.authorization import callback_parameters, same_target
from pytest_authcheck.probes.variations import PROMPT_NONE, UNKNOWN_RESPONSE_TYPE

SILENT_ERRORS = ("login_required", "interaction_required", "consent_required", "account_selection_required")


@check("authz-response.iss", title="Authorization responses carry iss, equal to the issuer",
       sends="Nothing of its own: reads the redirect with the code from the run's login through the client and the error redirects of two "
             "pre-login authorization requests (an unknown response_type, prompt=none).",
       severity="medium", area="clients", applies=LOGIN, refs=["RFC 9207 §2", "RFC 9207 §2.4", "RFC 9207 §3", "RFC 9700 §4.4"],
       remediation="Send the iss parameter with every authorization response, success and error alike, set to the "
                   "issuer identifier (RFC 9207), and advertise authorization_response_iss_parameter_supported: it is "
                   "how clients of more than one provider detect a mix-up attack (RFC 9700 §4.4).")
def test_authorization_response_iss(client_case, authcheck_code_flows, authcheck_authz_probes):
    active_client, client_provider, client_metadata, authcheck_record = client_case
    advertised = client_metadata.get("authorization_response_iss_parameter_supported") is True
    required = "iss_parameter" in (client_provider.config.get("features") or ())
    if not (advertised or required):
        pytest.skip(f"{client_provider.target} does not advertise authorization_response_iss_parameter_supported and "
                    "the policy's features do not list iss_parameter")
    authcheck_record.fact("why iss is due", "advertised in the metadata" if advertised else
                          "providers." + client_provider.name + ".features lists iss_parameter")
    responses: dict[str, dict[str, str]] = {}
    skipped = None
    failed: EvaluationError | None = None
    try:
        tokens = authcheck_code_flows.tokens(active_client)
        authcheck_record.attach(*tokens.authorization.exchanges)
        responses["the redirect with the code"] = tokens.authorization.callback
    except pytest.skip.Exception as exc:  # no test user: the error redirects can still be read
        skipped = exc
    except EvaluationError as exc:
        failed = exc
        authcheck_record.fact("the redirect with the code", f"not obtained: {exc}")
    redirect_uri = active_client.redirect_uris[0]
    for variation in (UNKNOWN_RESPONSE_TYPE, PROMPT_NONE):
        try:
            answer = authcheck_authz_probes.pre_login(active_client, variation)
        except EvaluationError:
            continue
        if answer.refused and answer.location and same_target(answer.location, redirect_uri):
            authcheck_record.attach(answer.exchange)
            responses[f"the error redirect for {variation.name}"] = callback_parameters(answer.location)
    if not responses:
        if skipped is not None:
            raise skipped
        raise NotEvaluated(f"no authorization response of {active_client.target} came back to the client to read iss "
                           "from: no probe got an error redirect, and the login did not end in a code"
                           + (f" ({failed})" if failed is not None else ""))
    issuer = client_provider.issuer
    observed = {name: params.get("iss", "no iss") for name, params in responses.items()}
    authcheck_record.expect({name: issuer for name in observed}, observed)
    wrong = [f"{name} has {'no iss' if value == 'no iss' else f'iss {value[:200]!r}'}" for name, value in observed.items()
             if value != issuer]
    if wrong:
        authcheck_record.fail(f"authorization responses of {active_client.label} do not carry iss = {issuer!r} "
                              f"(RFC 9207, the mix-up defence): " + "; ".join(wrong))


@check("prompt-none.login-required", title="prompt=none without a session comes back to the client with an error",
       sends="The client's ordinary authorization request (the control) and the same with prompt=none, with no session; answers are read, "
             "never followed.",
       severity="medium", area="clients", applies=LOGIN, refs=["OIDC Core 1.0 §3.1.2.6", "OIDC Core 1.0 §3.1.2.1", "OIDC Core 1.0 §15.1"],
       remediation="With prompt=none and no signed-in user, redirect to the client's redirect URI with "
                   "error=login_required (or interaction_required, consent_required, account_selection_required) and "
                   "the request's state; never show a login or consent page and never fail with a server error. "
                   "Clients use it to check silently whether the user is still signed in.")
def test_prompt_none(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    control = authcheck_authz_probes.usable_control(active_client)
    answer = authcheck_authz_probes.pre_login(active_client, PROMPT_NONE)
    authcheck_record.attach(control.exchange, answer.exchange)
    redirect_uri = active_client.redirect_uris[0]
    to_client = answer.location is not None and same_target(answer.location, redirect_uri)
    if answer.kind is Kind.REFUSED and to_client:
        observed = f"error redirect ({answer.error})"
    elif answer.kind is Kind.REFUSED:
        observed = f"no redirect to the client: {answer.summary}"
    elif answer.kind is Kind.SENT_TO_LOGIN:
        observed = f"sent to login: {answer.summary}"
    elif answer.kind is Kind.ACCEPTED:
        observed = f"a code without a session: {answer.summary}"
    elif answer.kind is Kind.UNREADABLE and (answer.status or 0) >= 500:
        observed = f"a server error: HTTP {answer.status}"
    else:
        raise NotEvaluated(f"prompt=none gets {answer.describe()}: " + answer.why_not_evaluable(), exchange=answer.exchange)
    authcheck_record.expect(OneOf(tuple(f"error redirect ({code})" for code in SILENT_ERRORS),
                                  "an error redirect to the client with " + ", ".join(SILENT_ERRORS)), observed)
    if not observed.startswith("error redirect (") or answer.error not in SILENT_ERRORS:
        authcheck_record.fail(f"prompt=none without a session, {active_client.label} gets {observed}; due: an error "
                              f"redirect to {redirect_uri} with login_required or interaction_required")
