"""Scopes: a client gets the scopes the policy declares for it and never more (seed: "API key scope too narrow",
"wrong scope")."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_authcheck import check
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._token_answers import body_of, error_of, issued_token

MADE_UP_SCOPE = "authcheck-undeclared-scope"
STANDARD_OIDC_SCOPES = {"openid", "profile", "email", "address", "phone", "offline_access"}
MAX_CANDIDATES = 3


def allowed_scopes(client) -> set[str]:
    """The policy's scopes, plus offline_access for a client that declares refresh_token (OIDC Core §11)."""
    return set(client.scopes) | ({"offline_access"} if client.declares("refresh_token") else set())


def candidates(client, metadata: dict[str, Any]) -> list[str]:
    """Scopes the provider knows but the policy does not give this client, and one nobody knows."""
    supported = metadata.get("scopes_supported")
    known = [s for s in supported if isinstance(s, str)] if isinstance(supported, list) else []
    extra = [s for s in known if s not in allowed_scopes(client) and s not in STANDARD_OIDC_SCOPES][:MAX_CANDIDATES]
    return [*extra, MADE_UP_SCOPE]


def granted(token) -> set[str] | None:
    """The granted scope: the response's ``scope`` member, else the JWT's ``scope`` claim, else None."""
    if token.scope is not None:
        return set(token.scope.split())
    claim = (token.claims or {}).get("scope")
    return set(claim.split()) if isinstance(claim, str) else None


@check("scopes.out-of-policy-refused", title="A scope outside the policy is refused or dropped, never granted",
       severity="high", area="clients", refs=["RFC 6749 §3.3", "RFC 6749 §5.1", "RFC 6749 §5.2", "RFC 9700 §2.3"],
       remediation="Restrict the client's allowed scopes at the provider to the ones the policy declares; a request "
                   "for another scope must get invalid_scope, or a token whose scope member leaves it out.")
def test_out_of_policy_refused(active_client, client_metadata, token_request, authz_probe, authcheck_code_flows,
                               authcheck_record):
    extra = candidates(active_client, client_metadata)
    observed: dict[str, str] = {}
    escalated = []
    base = [s for s in active_client.scopes if s != "openid"]
    if active_client.declares("client_credentials") and active_client.secret is not None:
        for scope in extra:
            response = token_request({"grant_type": "client_credentials", "scope": " ".join([*base, scope])})
            body = body_of(response)
            if error_of(response) == "invalid_client":
                raise EvaluationError(f"{active_client.label} cannot authenticate; see client-auth.secret-accepted")
            if not issued_token(response):
                observed[scope] = f"refused ({error_of(response)})"
                continue
            member = body.get("scope")
            scopes = set(member.split()) if isinstance(member, str) else None
            observed[scope] = f"granted scope {member!r}" if scopes is not None else "token without a scope member"
            if scopes is None or scope in scopes:
                escalated.append(scope)
    elif active_client.uses_login:
        for scope in extra:
            outcome = authz_probe(scope=" ".join([*active_client.scopes, scope]))
            if outcome.refused:
                observed[scope] = outcome.describe()
                continue
            tokens = authcheck_code_flows.fresh_tokens(active_client, scope=" ".join([*active_client.scopes, scope]))
            authcheck_record.attach(*tokens.exchanges)
            scopes = granted(tokens.token)
            observed[scope] = f"granted scope {' '.join(sorted(scopes))!r}" if scopes is not None else "no scope member"
            if scopes is None or scope in scopes:
                escalated.append(scope)
    else:
        pytest.skip(f"{active_client.target} declares neither client_credentials nor authorization_code with redirect_uris")
    authcheck_record.expect({s: "refused or dropped" for s in extra}, observed)
    if escalated:
        authcheck_record.fail(f"{active_client.label} was granted scope(s) outside the policy: " + ", ".join(escalated)
                              + f" (policy: {' '.join(active_client.scopes) or 'none'})")


@check("scopes.granted-within-policy", title="The granted scope, in the response and the JWT, is within the policy",
       severity="medium", area="clients", refs=["RFC 6749 §3.3", "RFC 6749 §5.1", "RFC 9068 §2.2.3"],
       remediation="Grant the client only the scopes the policy declares (check default scopes the provider adds "
                   "without being asked), or declare the extra scopes in the policy if they are intended.")
def test_granted_within_policy(active_client, client_token, authcheck_record):
    token = client_token.token
    allowed = allowed_scopes(active_client)
    member = set(token.scope.split()) if token.scope is not None else None
    claim = (token.claims or {}).get("scope")
    in_jwt = set(claim.split()) if isinstance(claim, str) else None
    if token.is_jwt:
        authcheck_record.jwt(f"access token of {active_client.target}", token.access_token.reveal())
    observed = {"response scope": " ".join(sorted(member)) if member is not None else None,
                "JWT scope": " ".join(sorted(in_jwt)) if in_jwt is not None else None}
    authcheck_record.expect(f"a subset of {' '.join(sorted(allowed))}", observed)
    beyond = sorted(((member or set()) | (in_jwt or set())) - allowed)
    if beyond:
        authcheck_record.fail(f"{active_client.label} was granted {', '.join(beyond)} beyond the policy's scopes")


@check("scopes.openid-id-token", title="An openid request returns a valid ID token for the client",
       severity="medium", area="clients", refs=["OIDC Core 1.0 §3.1.3.3", "OIDC Core 1.0 §3.1.3.7", "RFC 6749 §4.1.2",
                                                "RFC 9207 §2.4"],
       remediation="Return an id_token whenever openid is granted, with iss = the issuer, aud containing the client_id, "
                   "the nonce of the request and a sub; echo state unchanged and send iss as the issuer.")
def test_openid_id_token(active_client, client_metadata, authcheck_code_flows, authcheck_record):
    if not active_client.uses_login or "openid" not in active_client.scopes:
        pytest.skip(f"{active_client.target} does not log users in with the openid scope")
    tokens = authcheck_code_flows.tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    if tokens.id_token is not None:
        authcheck_record.jwt(f"id_token of {active_client.target}", tokens.id_token.reveal())
    problems = list(tokens.problems)
    if tokens.id_token is None:
        problems.append("no id_token although openid was granted")
    authcheck_record.expect("id_token with iss, aud, nonce and sub; state and iss echoed", problems or "as expected")
    if problems:
        authcheck_record.fail(f"the code flow of {active_client.label}: " + "; ".join(problems))
