"""Error answers in RFC 6749's format: what clients read to tell a wrong secret from a wrong code.

A refusal in any format is still a refusal for the other checks; this one judges the format alone, on the
refusals the run's probes already got (each request is sent once per run): token endpoint errors against RFC
6749 §5.2 and error redirects of the authorization endpoint against §4.1.2.1.
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import SECRET_METHODS
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck.observations.authorization import callback_parameters
from pytest_authcheck.probes.client_auth import unknown_client, unknown_public, wrong_secret
from pytest_authcheck.probes.variations import UNKNOWN_RESPONSE_TYPE, response_type_variations

# RFC 6749 §5.2 and §4.1.2.1, and codes registered for the token endpoint since (RFC 8628, RFC 8693, RFC 8707, RFC 9449)
TOKEN_ERRORS = frozenset({"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                          "unsupported_grant_type", "invalid_scope", "invalid_target", "authorization_pending",
                          "slow_down", "access_denied", "expired_token", "invalid_dpop_proof", "use_dpop_nonce",
                          "invalid_authorization_details"})
AUTHORIZATION_ERRORS = frozenset({"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
                                  "invalid_scope", "server_error", "temporarily_unavailable", "interaction_required",
                                  "login_required", "account_selection_required", "consent_required",
                                  "invalid_request_uri", "invalid_request_object", "request_not_supported",
                                  "request_uri_not_supported", "registration_not_supported", "invalid_target"})
CONFORMS = "RFC 6749 format"


@check("errors.rfc6749-format", title="Token and authorization errors follow RFC 6749",
       sends="Nothing of its own: reads the refusals the run's probes got (wrong secret, unknown client_id, unknown and undeclared "
             "response types).",
       severity="low", area="clients", refs=["RFC 6749 §5.2", "RFC 6749 §4.1.2.1", "RFC 6749 §8.5"],
       remediation="Answer token endpoint errors with HTTP 400 (401 with WWW-Authenticate when the client used HTTP "
                   "Basic) and a JSON body whose error member is a registered code string; send authorization errors "
                   "to the redirect URI with a registered error code and the request's state. Clients and monitoring "
                   "read these to tell a wrong secret from an expired code.")
def test_error_format(client_case, token_probes, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    probes = []
    if active_client.auth_method in SECRET_METHODS:
        probes.append(("a wrong secret", wrong_secret(token_probes, active_client)))
        probes.append(("an unknown client_id", unknown_client(token_probes, active_client)))
    elif active_client.redirect_uris:
        probes.append(("an unknown client_id without a secret", unknown_public(token_probes, active_client)))
    observed: dict[str, str] = {}
    for name, probe in probes:
        answer = probe.observation
        authcheck_record.attach(probe.response.exchange)
        if not answer.refused:
            continue  # an acceptance or an unreadable answer is other checks' business
        problems = list(answer.format_problems)
        if answer.error is not None and answer.error not in TOKEN_ERRORS:
            problems.append(f"error {answer.error!r} is not a registered token endpoint error code")
        observed[f"token endpoint, {name}"] = "; ".join(problems) or CONFORMS
    if active_client.declares("authorization_code") and active_client.redirect_uris:
        # the unknown response type authz-response.iss sends, before a login only; the response types
        # grants.response-types probes, before a login or signed in as it already did
        for variation in [UNKNOWN_RESPONSE_TYPE, *response_type_variations(active_client)]:
            try:
                answer = (authcheck_authz_probes.pre_login(active_client, variation) if variation == UNKNOWN_RESPONSE_TYPE
                          else authcheck_authz_probes.decide(active_client, variation))
            except (EvaluationError, pytest.skip.Exception):
                continue
            params = callback_parameters(answer.location or "")
            if not (answer.refused and "error" in params):
                continue
            authcheck_record.attach(*answer.exchanges)
            problems = []
            if params["error"] not in AUTHORIZATION_ERRORS:
                problems.append(f"error {params['error'][:60]!r} is not a registered authorization error code")
            elif params["error"] == "server_error":
                # "an unexpected condition" for a request it simply does not allow misleads clients and monitoring
                problems.append("server_error for a response type it does not allow, where RFC 6749 §4.1.2.1 says "
                                "unsupported_response_type or unauthorized_client")
            if params.get("state") != authcheck_authz_probes.state_of(active_client):
                problems.append("the request's state is not sent back unchanged")
            observed[f"authorization error redirect, {variation.name}"] = "; ".join(problems) or CONFORMS
    if not observed:
        pytest.skip(f"no refusal of {active_client.target} was seen to judge the format of")
    authcheck_record.expect({name: CONFORMS for name in observed}, observed)
    departures = [f"{name}: {value}" for name, value in observed.items() if value != CONFORMS]
    if departures:
        authcheck_record.fail(f"error answers for {active_client.label} depart from RFC 6749: " + "; ".join(departures))
