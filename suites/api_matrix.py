"""API authorization: every principal gets exactly what the policy's rules give it, request by request.

One test per (rule, principal) of every ``[apis.*]`` table, known from the policy alone: the implicit
``anonymous`` principal (no credential) included. Allowed principals must get a 2xx answer; refused ones 403
when their credential is valid and 401 when it is absent or revoked (RFC 9110 §15.5.2, §15.5.4; RFC 6750 §3.1).
Each cell states ``allowed`` / ``refused (401)`` / ``refused (403)`` beside what it observed in the same words; an
answer that says neither (throttled, a server error, a redirect, another 4xx) leaves the cell not evaluated.
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._api import MATRIX_FACT, matrix_finding
from pytest_authcheck._api_answers import ALLOWED_WORD, expected_word, matrix_undecided, word
from pytest_authcheck.observations import NotEvaluated, observe_resource


@check("api.authorization-matrix", title="Each principal is allowed or refused each request exactly as the rules say",
       sends="Each rule's request with each principal's credential: its client-credentials token, a user's login token, a bearer token, an"
             " API key, or nothing (anonymous). Requests with side effects only for rules declared mutating = true, and only with "
             "--authcheck-allow-mutations.",
       severity="high", area="api",
       refs=["RFC 9110 §15.5.2", "RFC 9110 §15.5.4", "RFC 6750 §3.1", "OWASP API Security Top 10 2023 API5"],
       remediation="Enforce the rule at the API: refuse a principal whose role is below min_role, or who is denied, "
                   "with 403 (401 when no valid credential was sent), and let allowed principals through. Do not "
                   "disguise a refusal as 404 or as 200 with an error body.")
def test_authorization_matrix(api_cell, authcheck_record, authcheck_allow_mutations):
    rule, principal, expectation = api_cell.rule, api_cell.principal, api_cell.expectation
    if not rule.safe:
        if not rule.mutating:
            pytest.skip(f"{rule.method} has side effects and the rule does not say mutating = true: not probed")
        if not authcheck_allow_mutations:
            pytest.skip("mutating request: probed only with --authcheck-allow-mutations")
    headers = api_cell.api.credential(principal, authcheck_record)
    response = api_cell.api.send(rule, headers)
    authcheck_record.attach(response.exchange)
    authcheck_record.fact(MATRIX_FACT, api_cell.fact(response.status))
    answer = observe_resource(response)
    undecided = matrix_undecided(expectation, answer)
    if undecided is not None:
        raise NotEvaluated(f"{rule.request} as {principal.name}: {undecided}", exchange=response.exchange)
    authcheck_record.expect(expected_word(expectation), word(answer, accepted=ALLOWED_WORD))
    finding = matrix_finding(expectation, principal.name, response.status)
    if finding is not None:
        authcheck_record.fail(f"{rule.request} as {principal.name}: {finding}")
