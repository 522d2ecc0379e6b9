"""Refresh-token rotation and revocation (at the provider and at the policy's APIs), probed only with tokens
these checks mint for themselves.

Seed symptom: "Invalid or Expired Token: token revoked"; "refresh token if available". A rotated refresh
token must die when used (RFC 9700 §4.14), and a revoked token must be reported inactive (RFC 7009, RFC 7662).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_authcheck import check
from pytest_authcheck._api import ALLOW, api_spec
from pytest_authcheck._duration import format_duration
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._redact import Secret
from pytest_authcheck._token_answers import body_of, error_of, issued_token
from pytest_authcheck._tokens import _parse


def _needs_refresh(client) -> None:
    if not client.declares("refresh_token") or not client.uses_login:
        pytest.skip(f"{client.target} declares no refresh_token grant with an authorization_code login")


@check("refresh.rotation", title="A refresh brings a new refresh token, and the old one is then refused",
       severity="high", area="clients", refs=["RFC 9700 §4.14.2", "RFC 9700 §2.2.2", "RFC 6749 §6", "RFC 6749 §10.4"],
       remediation="Turn on refresh token rotation for the client (each refresh returns a new refresh token and "
                   "invalidates the old one, and reuse of an old one revokes the grant), or bind refresh tokens to "
                   "the client (sender-constrained) and set refresh_token_rotation = false in the policy.")
def test_refresh_rotation(active_client, token_request, authcheck_code_flows, authcheck_record):
    _needs_refresh(active_client)
    if active_client.refresh_token_rotation is not True:
        pytest.skip(f"{active_client.target} does not declare refresh_token_rotation = true")
    tokens = authcheck_code_flows.fresh_tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    old = tokens.token.refresh_token
    if old is None:
        authcheck_record.fail(f"no refresh token was issued to {active_client.label} although it declares refresh_token",
                              expected="a refresh_token", observed=None)
    first = token_request({"grant_type": "refresh_token", "refresh_token": old})
    body = body_of(first)
    if not issued_token(first):
        raise EvaluationError(f"the refresh of {active_client.label} failed (HTTP {first.status} error={error_of(first)!r}); "
                              "rotation cannot be judged")
    new = body.get("refresh_token")
    observed: dict[str, Any] = {"refresh": "new refresh token" if isinstance(new, str) and new != old.reveal()
                                else "same refresh token" if new == old.reveal() else "no refresh token"}
    replay = token_request({"grant_type": "refresh_token", "refresh_token": old})
    observed["replay of the old refresh token"] = "token issued" if issued_token(replay) else \
        f"HTTP {replay.status} error={error_of(replay)!r}"
    authcheck_record.expect({"refresh": "new refresh token", "replay of the old refresh token": "refused (invalid_grant)"},
                            observed)
    problems = []
    if observed["refresh"] != "new refresh token":
        problems.append(f"the refresh returned {observed['refresh']}")
    if issued_token(replay):
        problems.append("the old refresh token still works after it was used")
    if problems:
        authcheck_record.fail(f"refresh tokens of {active_client.label} are not rotated: " + "; ".join(problems))


@check("revocation.revoked-inactive", title="A revoked token is reported inactive and can no longer be used",
       severity="high", area="clients", refs=["RFC 7009 §2", "RFC 7009 §2.1", "RFC 7662 §2.2", "RFC 6749 §6"],
       remediation="Make the revocation endpoint invalidate the token it is given (a refresh token together with its "
                   "grant): introspection must then answer {\"active\": false} and a refresh with it must fail.")
def test_revoked_inactive(active_client, client_provider, client_metadata, token_request, authcheck_run,
                          authcheck_code_flows, authcheck_record):
    if not active_client.uses_login:
        pytest.skip(f"{active_client.target} has no authorization_code login: its tokens are the run's shared "
                    "client-credentials tokens (and JWT access tokens are self-contained)")
    revocation = client_metadata.get("revocation_endpoint")
    introspection = client_metadata.get("introspection_endpoint")
    if not isinstance(revocation, str) or not isinstance(introspection, str):
        pytest.skip(f"providers.{client_provider.name} does not advertise both a revocation and an introspection endpoint")
    tokens = authcheck_code_flows.fresh_tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    token, hint = (tokens.token.refresh_token, "refresh_token") if tokens.token.refresh_token is not None \
        else (tokens.token.access_token, "access_token")

    def introspect(value: Secret) -> Any:
        form, auth = active_client.credentials({"token": value, "token_type_hint": hint})
        response = authcheck_run.http.post(introspection, data=form, auth=auth)
        authcheck_record.attach(response.exchange)
        return body_of(response).get("active")

    before = introspect(token)
    if before is not True:
        pytest.skip(f"introspection does not report the fresh {hint} of {active_client.target} active "
                    f"(active={before!r}); revocation cannot be observed this way")
    form, auth = active_client.credentials({"token": token, "token_type_hint": hint})
    revoked = authcheck_run.http.post(revocation, data=form, auth=auth)
    authcheck_record.attach(revoked.exchange)
    if revoked.status != 200:
        authcheck_record.fail(f"the revocation endpoint answered HTTP {revoked.status} error={error_of(revoked)!r}",
                              expected="HTTP 200", observed=f"HTTP {revoked.status}")
    after = introspect(token)
    observed: dict[str, Any] = {"active before": before, "revocation": f"HTTP {revoked.status}", "active after": after}
    problems = []
    if after is not False:
        problems.append(f"introspection still says active={after!r}")
    if hint == "refresh_token":
        refresh = token_request({"grant_type": "refresh_token", "refresh_token": token})
        observed["refresh with it"] = "token issued" if issued_token(refresh) else f"refused ({error_of(refresh)})"
        if issued_token(refresh):
            problems.append("the revoked refresh token still refreshes")
    authcheck_record.expect({"active after": False, "refresh with it": "refused"}, observed)
    if problems:
        authcheck_record.fail(f"a {hint} of {active_client.label} revoked through RFC 7009 still works: " + "; ".join(problems))


def _apis_accepting(client, authcheck_run) -> list:
    """The policy's APIs of the client's provider with a GET rule the client's own principal may call."""
    found = []
    for name, raw in authcheck_run.policy.section("apis").items():
        if raw.get("provider") != client.provider:
            continue
        spec = api_spec(authcheck_run.policy, name)
        rule = spec.safe_rule()
        principal = next((p for p in spec.token_principals() if p.client == client.name), None)
        if rule is not None and principal is not None and spec.expectation(rule, principal).outcome == ALLOW:
            found.append((spec, rule))
    return found


@check("revocation.refused-by-api", title="A revoked access token is refused by the policy's APIs",
       severity="high", area="clients", refs=["RFC 7009 §2", "RFC 7009 §2.2", "RFC 7662 §2.2", "RFC 9700 §4.14",
                                              "RFC 6750 §3.1"],
       remediation="Make the APIs notice revocation: validate access tokens by introspection (RFC 7662) or against "
                   "a revocation list, or issue opaque tokens to them; if they must validate JWTs locally, keep access "
                   "tokens short-lived (minutes), since a revoked self-contained JWT stays valid until its exp.")
def test_revoked_refused_by_api(active_client, client_provider, client_metadata, token_request, authcheck_run,
                                authcheck_record):
    if not active_client.declares("client_credentials") or active_client.secret is None:
        pytest.skip(f"{active_client.target} declares no client_credentials grant with a secret, so no token can be "
                    "minted for this check alone")
    apis = _apis_accepting(active_client, authcheck_run)
    if not apis:
        pytest.skip(f"no [apis.*] of providers.{client_provider.name} allows {active_client.target} at a GET rule")
    revocation = client_metadata.get("revocation_endpoint")
    if not isinstance(revocation, str):
        pytest.skip(f"providers.{client_provider.name} advertises no revocation_endpoint")
    observed: dict[str, Any] = {}
    problems = []
    for spec, rule in apis:
        where = f"apis.{spec.name} {rule.request}"
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        scopes = [s for s in active_client.scopes if s != "openid"]
        if scopes:
            form["scope"] = " ".join(scopes)
        if spec.audience:
            form["resource"] = spec.audience
        # a token of its own: the run's shared token of the client is never revoked
        token = _parse(active_client.name, token_request(form))
        bearer = Secret(f"Bearer {token.access_token.reveal()}", label="authorization")
        before = authcheck_run.http.request(rule.method, spec.url(rule.path), headers={"Authorization": bearer})
        authcheck_record.attach(before.exchange)
        if not 200 <= before.status < 300:
            raise EvaluationError(f"{where} refuses a fresh token of {active_client.label} (HTTP {before.status}) where "
                                  "the policy allows it; see api.authorization-matrix")
        form, auth = active_client.credentials({"token": token.access_token, "token_type_hint": "access_token"})
        revoked = authcheck_run.http.post(revocation, data=form, auth=auth)
        authcheck_record.attach(revoked.exchange)
        after = authcheck_run.http.request(rule.method, spec.url(rule.path), headers={"Authorization": bearer})
        authcheck_record.attach(after.exchange)
        revocation_answer = f"HTTP {revoked.status}" + (f" error={error_of(revoked)!r}" if revoked.status != 200 else "")
        observed[where] = {"before revocation": f"HTTP {before.status}", "revocation": revocation_answer,
                           "after revocation": f"HTTP {after.status}"}
        if after.status == 401:
            continue
        exp = (token.claims or {}).get("exp")
        if token.claims is not None and isinstance(exp, (int, float)) and not isinstance(exp, bool):
            authcheck_record.jwt(f"the revoked access token for {where}", token.access_token.reveal())
            residual = max(0, int(exp - time.time()))
            observed[where]["residual validity"] = f"{residual}s"
            readable = format_duration(residual)
            lasting = f"{residual}s" + (f" ({readable})" if readable != f"{residual}s" else "")
            problems.append(f"{where} answered HTTP {after.status} to the revoked token (revocation: {revocation_answer}): "
                            f"it is a self-contained JWT that stays valid for another {lasting} until its exp, because "
                            "the API never learns of the revocation")
        else:
            problems.append(f"{where} answered HTTP {after.status} to the revoked token (revocation: {revocation_answer})")
    authcheck_record.expect({where: {"after revocation": "HTTP 401"} for where in observed}, observed)
    if problems:
        authcheck_record.fail(f"a revoked access token of {active_client.label} still works: " + "; ".join(problems))
