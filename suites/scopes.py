"""Scopes: a client gets the scopes the policy declares for it and never more (seed: "API key scope too narrow",
"wrong scope")."""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import LOGIN_OPENID, TOKENS, logs_in, token_by_login
from pytest_authcheck._codeflow import AuthorizationRefused
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import OneOf, Satisfies
from pytest_authcheck._login import ConsentWithheld
from pytest_authcheck._tokens import _parse
from pytest_authcheck.observations import Kind, NotEvaluated
from pytest_authcheck.probes.client_auth import declared, with_scope, without_scope
from pytest_authcheck.probes.variations import (
    MADE_UP_SCOPE,
    WITHOUT_SCOPE,
    allowed_scopes,
    scope_candidates,
    scope_request,
    scope_variation,
)


def _control_accepted(token_probes, client, record):
    """A refusal of a scope counts only when the client's ordinary request (its declared scopes) gets a token: that
    token, parsed."""
    control = declared(token_probes, client)
    record.attach(control.response.exchange)
    if not control.observation.accepted:
        raise NotEvaluated(f"the ordinary client-credentials request of {client.label} gets no token "
                           f"({control.observation.describe()}), so refusals of other scopes prove nothing; see "
                           "client-auth.secret-accepted and grants.declared-work", exchange=control.response.exchange)
    return _parse(client.name, control.response)


def granted(token, requested: str | None, *, scoped=None) -> tuple[set[str] | None, str]:
    """The granted scope and where it was read: the response's scope member, else the JWT's scope claim, else (RFC
    6749 §5.1: the member may be left out only when the scope is as requested) the scope requested. With no scope
    requested, a JWT without a scope claim shows nothing granted only beside ``scoped``, the provider's token for the
    declared scopes, carrying one: RFC 9068 §2.2.3 asks for the claim only when scope was requested, and RFC 6749
    §3.3 lets a provider grant default scopes."""
    if token.scope is not None:
        return set(token.scope.split()), "the scope member of the token response"
    claim = (token.claims or {}).get("scope")
    if isinstance(claim, str):
        return set(claim.split()), "the scope claim of the access token"
    if requested is not None:
        return set(requested.split()), "the request (RFC 6749 §5.1: no scope member means as requested)"
    if token.claims is not None and scoped is not None and isinstance((scoped.claims or {}).get("scope"), str):
        return set(), ("the access token, a JWT without a scope claim, where the provider's token for the declared "
                        "scopes carries one")
    if token.claims is not None:
        return None, ("a JWT without a scope claim, and nothing shows the provider writes one (RFC 9068 §2.2.3 asks for "
                      "it only when scope was requested; RFC 6749 §3.3 allows default scopes)")
    return None, "no scope member, no scope claim and no scope requested"


@check("scopes.out-of-policy-refused", title="A scope outside the policy is refused or dropped, never granted",
       sends="Token requests (client credentials) or authorization requests and logins (login clients) that each add one scope beyond the "
             "policy: advertised scopes the policy does not list and a made-up one.",
       severity="high", area="clients", applies=TOKENS, refs=["RFC 6749 §3.3", "RFC 6749 §5.1", "RFC 6749 §5.2", "RFC 9700 §2.3"],
       remediation="Restrict the client's allowed scopes at the provider to the ones the policy declares; a request "
                   "for another scope must get invalid_scope, or a token whose scope member leaves it out.")
def test_out_of_policy_refused(client_case, token_probes, authcheck_authz_probes, authcheck_code_flows):
    active_client, _, client_metadata, authcheck_record = client_case
    extra = scope_candidates(active_client, client_metadata)
    observed: dict[str, str] = {}
    undecided: list[str] = []
    if active_client.mints_own_tokens:
        _control_accepted(token_probes, active_client, authcheck_record)
        for scope in extra:
            probe = with_scope(token_probes, active_client, scope)
            requested = scope_request(active_client, scope)[1]["scope"]
            authcheck_record.attach(probe.response.exchange)
            answer = probe.observation
            if answer.refused and answer.error == "invalid_client":
                raise NotEvaluated(f"{active_client.label} cannot authenticate ({answer.summary}); see "
                                   "client-auth.secret-accepted")
            if answer.refused:
                observed[scope] = "refused"
            elif answer.accepted:
                scopes, where = granted(_parse(active_client.name, probe.response), requested)
                observed[scope] = "granted" if scope in (scopes or ()) else "dropped"
                if observed[scope] == "granted":
                    authcheck_record.violation(f"{scope} (read from {where})")
            else:
                undecided.append(f"{scope}: {answer.why_not_evaluable()}")
    elif active_client.uses_login:
        for scope in extra:
            requested = " ".join([*active_client.scopes, scope])
            # A login step never consents to a real scope beyond the policy (a consent page then ends the probe, not
            # evaluated); a scope that exists nowhere grants nothing, so consent to it is harmless.
            consent = scope == MADE_UP_SCOPE
            answer = authcheck_authz_probes.decide(active_client, scope_variation(active_client, scope), consent=consent)
            authcheck_record.attach(*answer.exchanges)
            if answer.refused:
                observed[scope] = "refused"
                continue
            if not answer.accepted:
                undecided.append(f"{scope}: {answer.why_not_evaluable()}")
                continue
            try:
                tokens = authcheck_code_flows.fresh_tokens(active_client, scope=requested, consent=consent)
            except EvaluationError as exc:
                undecided.append(f"{scope}: the code could not be redeemed ({exc})")
                continue
            authcheck_record.attach(*tokens.exchanges)
            scopes, where = granted(tokens.token, requested)
            observed[scope] = "granted" if scope in (scopes or ()) else "dropped"
            if observed[scope] == "granted":
                authcheck_record.violation(f"{scope} (read from {where})")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect({s: OneOf(("refused", "dropped"), "refused or dropped") for s in observed}, observed)
    authcheck_record.conclude(f"{active_client.label} was granted scope(s) outside the policy "
                              f"(policy: {' '.join(active_client.scopes) or 'none'}): ")


@check("scopes.omitted-scope-bounded", title="A request without scope gets no more than the client's declared scopes",
       sends="A client-credentials request without scope; for a login client, the authorization request without "
             "scope (before and, signed in, after the login), then its code redeemed when one is issued.",
       severity="high", area="clients", applies=TOKENS, refs=["RFC 6749 §3.3", "RFC 9700 §2.3"],
       remediation="Give the client a default scope within what the policy declares (or refuse requests without "
                   "scope with invalid_scope): a client that omits scope must not receive every scope the provider "
                   "knows.")
def test_omitted_scope_bounded(client_case, token_probes, authcheck_code_flows, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    allowed = allowed_scopes(active_client)
    bound = Satisfies(lambda v: v == "refused" or (isinstance(v, list) and set(v) <= allowed),
                      f"refused, or within {' '.join(sorted(allowed))}")
    if active_client.mints_own_tokens:
        scoped = _control_accepted(token_probes, active_client, authcheck_record)
        probe = without_scope(token_probes, active_client)
        authcheck_record.attach(probe.response.exchange)
        answer = probe.observation
        if answer.refused:
            authcheck_record.expect(bound, "refused")
            return
        if not answer.accepted:
            raise NotEvaluated(f"a client-credentials request without scope: {answer.why_not_evaluable()}")
        token = _parse(active_client.name, probe.response)
    elif active_client.uses_login:
        # A provider may refuse the request without scope on an error page of its own: the authorization answer,
        # judged against the ordinary request's, tells that refusal from a login step the walk cannot take.
        answer = authcheck_authz_probes.decide(active_client, WITHOUT_SCOPE, consent=False)
        authcheck_record.attach(*answer.exchanges)
        if answer.refused:
            authcheck_record.fact("a login without scope", answer.summary)
            authcheck_record.expect(bound, "refused")
            return
        if not answer.accepted and answer.kind is not Kind.SENT_TO_LOGIN:
            raise NotEvaluated(f"a login without scope: {answer.summary}")
        # never consented to: what a request without scope grants is exactly what is unknown here
        try:
            tokens = authcheck_code_flows.fresh_tokens(active_client, scope="", consent=False)
        except AuthorizationRefused as refused:
            authcheck_record.fact("a login without scope", str(refused))
            authcheck_record.expect(bound, "refused")
            return
        except ConsentWithheld:
            # consent to whatever the provider grants by default would be consent given blind
            pytest.skip(f"not evaluable for {active_client.target} here: the provider asks the test user to consent "
                        "to what a request without scope grants, and authcheck never consents to scopes it cannot "
                        "see; its client-credentials requests are judged where it declares that grant")
        except EvaluationError as exc:
            raise NotEvaluated(f"a login without scope did not end with tokens: {exc}") from None
        authcheck_record.attach(*tokens.exchanges)
        token = tokens.token
        scoped = authcheck_code_flows.tokens(active_client).token if token.claims is not None else None
    scopes, where = granted(token, None, scoped=scoped)
    if scopes is None:
        raise NotEvaluated(f"the token for a request without scope says nothing about its scope ({where})")
    authcheck_record.fact("granted scope read from", where)
    authcheck_record.expect(bound, sorted(scopes))
    beyond = sorted(scopes - allowed)
    if beyond:
        authcheck_record.fail(f"a request of {active_client.label} without scope was granted {' '.join(beyond)}, beyond "
                              f"the policy's scopes (read from {where})")


@check("scopes.granted-within-policy", title="The granted scope, in the response and the JWT, is within the policy",
       sends="Nothing of its own: reads the client's token of the run.",
       severity="medium", area="clients", applies=TOKENS, signs_in=token_by_login,
       refs=["RFC 6749 §3.3", "RFC 6749 §5.1", "RFC 9068 §2.2.3"],
       remediation="Grant the client only the scopes the policy declares (check default scopes the provider adds "
                   "without being asked), or declare the extra scopes in the policy if they are intended.")
def test_granted_within_policy(client_case, client_token):
    active_client, _, _, authcheck_record = client_case
    token = client_token.token
    allowed = allowed_scopes(active_client)
    requested = client_token.requested_scope
    if token.is_jwt:
        authcheck_record.jwt(f"access token of {active_client.target}", token.access_token.reveal())
    scopes, where = granted(token, requested)
    claim = (token.claims or {}).get("scope")
    if token.scope is not None and isinstance(claim, str):
        scopes = set(token.scope.split()) | set(claim.split())
        where = "the scope member and the access token's scope claim"
    if scopes is None:
        raise NotEvaluated(f"the token of {active_client.label} says nothing about its scope ({where})")
    authcheck_record.fact("granted scope read from", where)
    authcheck_record.expect(Satisfies(lambda s: set(s) <= allowed, f"a subset of {' '.join(sorted(allowed))}"),
                            sorted(scopes))
    beyond = sorted(scopes - allowed)
    if beyond:
        authcheck_record.fail(f"{active_client.label} was granted {', '.join(beyond)} beyond the policy's scopes "
                              f"(read from {where})")


@check("scopes.openid-id-token", title="An openid request returns a valid ID token for the client",
       sends="Nothing of its own: reads the run's login through the client (ID token, state, nonce, iss).",
       severity="medium", area="clients", applies=LOGIN_OPENID, signs_in=logs_in,
       refs=["OIDC Core 1.0 §3.1.3.3", "OIDC Core 1.0 §3.1.3.7", "RFC 6749 §4.1.2",
                                                "RFC 9207 §2.4"],
       remediation="Return an id_token whenever openid is granted, with iss = the issuer, aud containing the client_id, "
                   "the nonce of the request and a sub; echo state unchanged and send iss as the issuer.")
def test_openid_id_token(client_case, authcheck_code_flows):
    active_client, _, _, authcheck_record = client_case
    tokens = authcheck_code_flows.tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    if tokens.id_token is not None:
        authcheck_record.jwt(f"id_token of {active_client.target}", tokens.id_token.reveal())
    problems = list(tokens.problems)
    if tokens.id_token is None:
        problems.append("no id_token although openid was granted")
    authcheck_record.expect({"problems": []}, {"problems": problems})
    if problems:
        authcheck_record.fail(f"the code flow of {active_client.label}: " + "; ".join(problems))
