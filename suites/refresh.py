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
from pytest_authcheck._clients import CLIENT_CREDENTIALS, PUBLIC_LOGIN, ROTATION, TOKENS, logs_in
from pytest_authcheck._duration import format_duration
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._jwt import decode_unverified
from pytest_authcheck._redact import Secret
from pytest_authcheck._tokens import _parse
from pytest_authcheck.observations import (
    NotEvaluated,
    introspected_state,
    observe_resource,
    observe_revocation,
    observe_token,
)
from pytest_authcheck.probes.token_state import DEAD, WORKS, TokenWatch, introspect_held


@check("refresh.rotation", title="A refresh brings a new refresh token, and the old one is then refused",
       sends="A fresh login through the client, a refresh, then the old refresh token once more.",
       severity="high", area="clients", applies=ROTATION, signs_in=logs_in, spends_grant=True,
       refs=["RFC 9700 §4.14.2", "RFC 9700 §2.2.2", "RFC 6749 §6", "RFC 6749 §10.4"],
       remediation="Turn on refresh token rotation for the client (each refresh returns a new refresh token and "
                   "invalidates the old one, and reuse of an old one revokes the grant), or bind refresh tokens to "
                   "the client (sender-constrained) and set refresh_token_rotation = false in the policy.")
def test_refresh_rotation(client_case, token_request, authcheck_code_flows):
    active_client, _, _, authcheck_record = client_case
    tokens = authcheck_code_flows.fresh_tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    old = tokens.token.refresh_token
    if old is None:
        authcheck_record.fail(f"no refresh token was issued to {active_client.label} although it declares refresh_token",
                              expected={"refresh token": "issued"}, observed={"refresh token": "none"})
    first = observe_token(token_request({"grant_type": "refresh_token", "refresh_token": old}))
    if not first.accepted:
        raise NotEvaluated(f"the refresh of {active_client.label} itself does not work ({first.describe()}), so rotation "
                           "cannot be judged; see grants.declared-work", exchange=first.exchange)
    new = first.details["body"].get("refresh_token")
    rotated = "new refresh token" if isinstance(new, str) and new != old.reveal() else \
        "same refresh token" if new == old.reveal() else "no refresh token"
    if rotated != "new refresh token":
        authcheck_record.violation(f"the refresh returned {rotated}")
    replay = observe_token(token_request({"grant_type": "refresh_token", "refresh_token": old}))
    if replay.accepted:
        authcheck_record.violation("the old refresh token still works after it was used")
    elif not replay.refused and not authcheck_record.violations:
        raise NotEvaluated(f"the replay of the old refresh token: {replay.why_not_evaluable()}", exchange=replay.exchange)
    authcheck_record.expect({"refresh": "new refresh token", "replay of the old refresh token": "refused"},
                            {"refresh": rotated, "replay of the old refresh token": replay})
    authcheck_record.conclude(f"refresh tokens of {active_client.label} are not rotated: ")


@check("refresh.reuse-revokes-family", title="Replaying a rotated refresh token revokes the whole token family",
       sends="A fresh login through the client, a refresh, the rotated refresh token replayed; introspection of the current one before "
             "and after the replay, then a refresh with it.",
       severity="high", area="clients", applies=ROTATION, signs_in=logs_in, spends_grant=True,
       refs=["RFC 9700 §4.14.2", "RFC 6819 §5.2.2.3"],
       remediation="Turn on refresh token reuse detection: when an already-rotated refresh token comes back, revoke "
                   "the active refresh token of that grant too, so a thief and the client cannot both keep going.")
def test_refresh_reuse_revokes_family(client_case, token_request, authcheck_run, authcheck_code_flows):
    active_client, _, client_metadata, authcheck_record = client_case
    tokens = authcheck_code_flows.fresh_tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    used = tokens.token.refresh_token
    if used is None:
        raise NotEvaluated(f"no refresh token was issued to {active_client.label}; see refresh.rotation")
    refreshed = observe_token(token_request({"grant_type": "refresh_token", "refresh_token": used}))
    if not refreshed.accepted:
        raise NotEvaluated(f"the refresh itself does not work ({refreshed.describe()}); see grants.declared-work",
                           exchange=refreshed.exchange)
    current = refreshed.details["body"].get("refresh_token")
    if not isinstance(current, str) or current == used.reveal():
        pytest.skip(f"refresh tokens of {active_client.target} are not rotated, so there is no family to revoke; "
                    "see refresh.rotation")
    watch = TokenWatch(authcheck_run.http, active_client, client_metadata)
    current_token = Secret(current, label="refresh_token")
    before = watch.look(current_token, refresh=True)
    authcheck_record.attach(*before.exchanges)
    replay = observe_token(token_request({"grant_type": "refresh_token", "refresh_token": used}))
    if replay.accepted:
        authcheck_record.violation("the already-rotated refresh token still refreshes")
    elif not replay.refused:
        raise NotEvaluated(f"the replay: {replay.why_not_evaluable()}", exchange=replay.exchange)
    after = watch.after(current_token, before, refresh=True, send_refresh=token_request)
    authcheck_record.attach(*after.exchanges)
    if after.state is None:
        raise NotEvaluated("nothing shows whether the current refresh token still works after the replay "
                           f"({after.why_unseen()})")
    if after.state == WORKS:
        authcheck_record.violation(f"the current refresh token still works after the rotated one was replayed "
                                   f"({', '.join(after.working())})")
    authcheck_record.expect({"replay of the rotated refresh token": "refused", "current refresh token": DEAD},
                            {"replay of the rotated refresh token": replay, "current refresh token": after.state})
    authcheck_record.conclude(f"refresh token reuse by {active_client.label} goes unnoticed: ")


@check("revocation.revoked-inactive", title="A revoked token is reported inactive and can no longer be used",
       sends="Tokens minted for the check (a fresh login, or client credentials), each shown working (introspection, userinfo, else "
             "one refresh), revoked at the revocation endpoint, then introspection, userinfo or a refresh with it.",
       severity="high", area="clients", applies=TOKENS, signs_in=logs_in, spends_grant=True,
       refs=["RFC 7009 §2", "RFC 7009 §2.1", "RFC 7009 §2.2.1", "RFC 7662 §2.2",
                                              "RFC 6750 §3.1", "RFC 6749 §6"],
       remediation="Make the revocation endpoint invalidate the token it is given (a refresh token together with its "
                   "grant): introspection must then answer {\"active\": false}, a refresh with it must fail and "
                   "userinfo must refuse a revoked access token.")
def test_revoked_inactive(client_case, token_probes, token_request, authcheck_run, authcheck_code_flows,
                          authcheck_userinfo_probes, authcheck_token):
    active_client, client_provider, client_metadata, authcheck_record = client_case
    revocation = client_metadata.get("revocation_endpoint")
    if not isinstance(revocation, str):
        pytest.skip(f"providers.{client_provider.name} advertises no revocation_endpoint")
    introspection = client_metadata.get("introspection_endpoint")
    http = authcheck_run.http

    def introspect_shared(value):
        if not isinstance(introspection, str):
            return None
        answer = introspect_held(http, authcheck_run.memo, active_client, introspection, value)
        authcheck_record.attach(*answer.exchanges)
        if not answer.decisive:
            # a throttle or a server error shows nothing about whether introspection knows such tokens
            raise NotEvaluated(f"introspection of the client's own client-credentials token: {answer.why_not_evaluable()}")
        return introspected_state(answer)

    if not active_client.uses_login:
        _observable_or_skip(active_client, authcheck_token, introspect_shared)
    tokens = _tokens_to_revoke(active_client, token_probes, authcheck_code_flows, authcheck_record)
    # userinfo takes only a token a user signed in for
    watch = TokenWatch(http, active_client, client_metadata,
                       authcheck_userinfo_probes if active_client.uses_login else None)
    expected: dict[str, dict[str, str]] = {}
    observed: dict[str, dict[str, str]] = {}
    undecided: list[str] = []
    unobservable: list[bool] = []
    for kind, value, hint in tokens:
        refresh = kind == "refresh token"
        before = watch.look(value, refresh=refresh)
        authcheck_record.attach(*before.exchanges)
        if before.state != WORKS and not refresh:
            self_contained = _is_jwt(value)
            undecided.append(_UNOBSERVABLE.format(kind=kind) + (_SELF_CONTAINED if self_contained else ""))
            unobservable.append(self_contained)
            continue
        if before.state != WORKS:
            # nothing shows it working yet: refresh once (the control), then revoke the token that refresh leaves
            value, why = _refreshed_control(token_request, value, authcheck_record)
            if value is None:
                undecided.append(f"{kind}: {why}")
                continue
        form, auth = active_client.credentials({"token": value, "token_type_hint": hint})
        answer = http.post(revocation, data=form, auth=auth)
        authcheck_record.attach(answer.exchange)
        revoked = observe_revocation(answer)
        if not revoked.accepted:
            reason = f"the revocation endpoint refused to revoke it ({revoked.summary})"
            if revoked.error == "unsupported_token_type":
                reason += ": RFC 7009 §2.2.1 lets a provider decline a token type"
            elif revoked.error == "invalid_client":
                reason += "; see " + ("revocation.public-client" if active_client.public else "client-auth.secret-accepted")
            authcheck_record.fact(f"revocation of the {kind}", reason)
            undecided.append(f"{kind}: {reason}")
            continue
        # only a way that showed the token working before can show it dead now; a refresh token is spent last
        after = watch.after(value, before, refresh=refresh, send_refresh=token_request if refresh else None)
        authcheck_record.attach(*after.exchanges)
        if after.state is None:
            undecided.append(f"{kind}: revoked (HTTP 200), but nothing shows whether it still works "
                             f"({after.why_unseen()})")
            continue
        expected[kind] = {way: DEAD for way in after.seen}
        observed[kind] = dict(after.seen)
        if after.state == WORKS:
            authcheck_record.violation(f"the revoked {kind} still works ({', '.join(after.working())})")
    if not authcheck_record.violations and undecided and not observed:
        if len(unobservable) == len(tokens) and all(unobservable):
            # nothing at the provider reports a self-contained token's state: there is nothing here to look at
            pytest.skip(f"not applicable to {active_client.target}: " + "; ".join(undecided))
        raise NotEvaluated("; ".join(undecided))
    for item in undecided:
        authcheck_record.fact("not evaluated", item)
    authcheck_record.expect(expected, observed)
    authcheck_record.conclude(f"tokens of {active_client.label} revoked through RFC 7009 still work: ")


@check("revocation.public-client", title="A public client can revoke its own tokens",
       sends="A fresh login through the public client; its refresh token (else access token) shown working (introspection, "
             "userinfo, else one refresh), revoked with the client_id only, then introspection, userinfo or a refresh with it.",
       severity="medium", area="clients", applies=PUBLIC_LOGIN, signs_in=logs_in, spends_grant=True,
       refs=["RFC 7009 §2", "RFC 7009 §2.1", "RFC 8252 §8.6"],
       remediation="Let public clients call the revocation endpoint with their client_id (RFC 7009 §2.1): a native app "
                   "that logs out must be able to revoke its refresh token, since it has no secret to authenticate "
                   "with.")
def test_public_client_revocation(client_case, authcheck_run, authcheck_code_flows, authcheck_userinfo_probes,
                                  token_request):
    active_client, client_provider, client_metadata, authcheck_record = client_case
    revocation = client_metadata.get("revocation_endpoint")
    if not isinstance(revocation, str):
        pytest.skip(f"providers.{client_provider.name} advertises no revocation_endpoint")
    tokens = authcheck_code_flows.fresh_tokens(active_client)
    authcheck_record.attach(*tokens.exchanges)
    refresh = tokens.token.refresh_token is not None
    token, hint = (tokens.token.refresh_token, "refresh_token") if refresh else (tokens.token.access_token, "access_token")
    # RFC 7009 §2.2 answers 200 even for a token it did not revoke: only the token's state afterwards shows it was
    watch = TokenWatch(authcheck_run.http, active_client, client_metadata, authcheck_userinfo_probes)
    before = watch.look(token, refresh=refresh)
    authcheck_record.attach(*before.exchanges)
    if before.state != WORKS and refresh:
        token, why = _refreshed_control(token_request, token, authcheck_record)
        if token is None:
            raise NotEvaluated(f"its refresh token: {why}")
    elif before.state != WORKS:
        raise NotEvaluated("nothing shows its access token working before revocation, so a revocation could not be "
                           f"seen ({before.why_unseen()})")
    form, auth = active_client.credentials({"token": token, "token_type_hint": hint})
    response = authcheck_run.http.post(revocation, data=form, auth=auth)
    authcheck_record.attach(response.exchange)
    answer = observe_revocation(response)
    if answer.refused and answer.error == "unsupported_token_type" and hint == "access_token":
        raise NotEvaluated("the provider does not revoke access tokens (unsupported_token_type, allowed by RFC 7009 "
                           "§2.2.1) and issued no refresh token to try instead", exchange=response.exchange)
    if answer.refused:
        observed = f"refused ({answer.error or answer.summary})"
    elif not answer.accepted:
        raise NotEvaluated(f"the revocation answer: {answer.why_not_evaluable()}", exchange=response.exchange)
    else:
        after = watch.after(token, before, refresh=refresh, send_refresh=token_request)
        authcheck_record.attach(*after.exchanges)
        if after.state is None:
            raise NotEvaluated(f"the revocation answered {answer.summary}, but nothing shows whether the {hint} still "
                               f"works ({after.why_unseen()})")
        observed = "revoked" if after.state == DEAD else f"HTTP 200, but it still works ({', '.join(after.working())})"
    authcheck_record.expect({f"its own {hint}": "revoked"}, {f"its own {hint}": observed})
    if observed != "revoked":
        authcheck_record.fail(f"{active_client.label} cannot revoke its own {hint}: the revocation endpoint answers "
                              f"{answer.summary}" + ("" if answer.refused else f", and the {hint} still works"))


_UNOBSERVABLE = "{kind}: neither introspection nor userinfo shows it working before revocation"
_SELF_CONTAINED = " (a self-contained JWT: whether the APIs honour its revocation is revocation.refused-by-api's)"


def _observable_or_skip(client, authcheck_token, introspect) -> None:
    """Mint a client-credentials token to revoke only where something shows such a token working: the client's shared
    token (already held) tells, so a provider whose introspection does not know them costs no token per client."""
    try:
        shared = authcheck_token(client.name)
    except EvaluationError:
        return  # _tokens_to_revoke says why no token can be had
    if introspect(shared.access_token) == "active":
        return
    reason = _UNOBSERVABLE.format(kind="access token") + " (the client's own client-credentials token)"
    if _is_jwt(shared.access_token):
        pytest.skip(f"not applicable to {client.target}: {reason}{_SELF_CONTAINED}")
    raise NotEvaluated(reason)


def _refreshed_control(token_request, refresh_token: Secret, record) -> tuple[Secret | None, str]:
    """Refresh once with ``refresh_token``, so that a refusal after its revocation is a change: the refresh token to
    revoke next (the rotated one, else the same), or None and why not."""
    control = observe_token(token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}))
    record.attach(control.exchange)
    if not control.accepted:
        return None, f"a refresh with it does not work even before revocation ({control.describe()})"
    rotated = control.details["body"].get("refresh_token")
    return (Secret(rotated, label="refresh_token") if isinstance(rotated, str) else refresh_token), ""


def _tokens_to_revoke(client, token_probes, code_flows, record) -> list[tuple[str, Secret, str]]:
    """Tokens minted for this check alone: a fresh login's refresh and access tokens, or a client-credentials token."""
    if client.uses_login:
        tokens = code_flows.fresh_tokens(client)
        record.attach(*tokens.exchanges)
        found = [("access token", tokens.token.access_token, "access_token")]
        if tokens.token.refresh_token is not None:
            found.insert(0, ("refresh token", tokens.token.refresh_token, "refresh_token"))
        return found
    if client.mints_own_tokens:
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        scope = " ".join(s for s in client.scopes if s != "openid")
        if scope:
            form["scope"] = scope
        probe = token_probes.send(client, "a token to revoke", form)
        record.attach(probe.response.exchange)
        if not probe.observation.accepted:
            raise NotEvaluated(f"no token could be minted to revoke ({probe.observation.describe()}); see "
                               "client-auth.secret-accepted and grants.declared-work")
        token = _parse(client.name, probe.response)
        return [("access token", token.access_token, "access_token")]
    pytest.skip(f"{client.target} has neither a login nor client credentials to mint a token of its own")


def _is_jwt(value: Secret) -> bool:
    try:
        decode_unverified(value.reveal())
    except ValueError:
        return False
    return True



def _apis_accepting(client, policy) -> list:
    """The policy's APIs of the client's provider with a GET rule the client's own principal may call."""
    found = []
    for name, raw in policy.section("apis").items():
        if raw.get("provider") != client.provider:
            continue
        spec = api_spec(policy, name)
        rule = spec.safe_rule()
        principal = next((p for p in spec.token_principals() if p.client == client.name), None)
        if rule is not None and principal is not None and spec.expectation(rule, principal).outcome == ALLOW:
            found.append((spec, rule))
    return found


def _minted_for_an_api(client, policy) -> str | None:
    reason = CLIENT_CREDENTIALS(client)
    if reason is None and not _apis_accepting(client, policy):
        reason = f"no [apis.*] of providers.{client.provider} allows {client.target} at a GET rule"
    return reason


@check("revocation.refused-by-api", title="A revoked access token is refused by the policy's APIs",
       sends="A fresh client-credentials token for an API's audience to that API's GET rule, revoked at the revocation endpoint, then sent"
             " to the API again.",
       severity="high", area="clients", applies=_minted_for_an_api, refs=["RFC 7009 §2", "RFC 7009 §2.2", "RFC 7662 §2.2", "RFC 9700 §4.14",
                                              "RFC 6750 §3.1"],
       remediation="Make the APIs notice revocation: validate access tokens by introspection (RFC 7662) or against "
                   "a revocation list, or issue opaque tokens to them; if they must validate JWTs locally, keep access "
                   "tokens short-lived (minutes), since a revoked self-contained JWT stays valid until its exp.")
def test_revoked_refused_by_api(client_case, token_request, authcheck_run):
    active_client, client_provider, client_metadata, authcheck_record = client_case
    apis = _apis_accepting(active_client, authcheck_run.policy)
    revocation = client_metadata.get("revocation_endpoint")
    if not isinstance(revocation, str):
        pytest.skip(f"providers.{client_provider.name} advertises no revocation_endpoint")
    observed: dict[str, Any] = {}
    problems: list[str] = []
    undecided: list[str] = []
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
        if not observe_resource(before).accepted:
            raise EvaluationError(f"{where} refuses a fresh token of {active_client.label} (HTTP {before.status}) where "
                                  "the policy allows it; see api.authorization-matrix")
        form, auth = active_client.credentials({"token": token.access_token, "token_type_hint": "access_token"})
        revoked = authcheck_run.http.post(revocation, data=form, auth=auth)
        authcheck_record.attach(revoked.exchange)
        revocation_seen = observe_revocation(revoked)
        if not revocation_seen.accepted:
            raise NotEvaluated(f"the provider refused to revoke the access token ({revocation_seen.summary}), so "
                               f"whether {where} honours revocation cannot be seen; see revocation.revoked-inactive",
                               exchange=revoked.exchange)
        after = authcheck_run.http.request(rule.method, spec.url(rule.path), headers={"Authorization": bearer})
        authcheck_record.attach(after.exchange)
        revocation_answer = "HTTP 200"
        authcheck_record.fact(where, {"before revocation": f"HTTP {before.status}", "revocation": revocation_answer,
                                      "after revocation": f"HTTP {after.status}"})
        after_seen = observe_resource(after)
        if after_seen.refused:
            observed[where] = {"after revocation": "refused"}
            continue
        if not after_seen.accepted:
            undecided.append(f"{where} after the revocation: {after_seen.why_not_evaluable()}")
            continue
        observed[where] = {"after revocation": f"HTTP {after.status}"}
        exp = (token.claims or {}).get("exp")
        if token.claims is not None and isinstance(exp, (int, float)) and not isinstance(exp, bool):
            authcheck_record.jwt(f"the revoked access token for {where}", token.access_token.reveal())
            residual = max(0, int(exp - time.time()))
            authcheck_record.fact(f"{where}: residual validity", f"{residual}s")
            readable = format_duration(residual)
            lasting = f"{residual}s" + (f" ({readable})" if readable != f"{residual}s" else "")
            problems.append(f"{where} answered HTTP {after.status} to the revoked token (revocation: {revocation_answer}): "
                            f"it is a self-contained JWT that stays valid for another {lasting} until its exp, because "
                            "the API never learns of the revocation")
        else:
            problems.append(f"{where} answered HTTP {after.status} to the revoked token (revocation: {revocation_answer})")
    if undecided and not observed:
        raise NotEvaluated("; ".join(undecided))
    for item in undecided:
        authcheck_record.fact("not evaluated", item)
    authcheck_record.expect({where: {"after revocation": "refused"} for where in observed}, observed)
    if problems:
        authcheck_record.fail(f"a revoked access token of {active_client.label} still works: " + "; ".join(problems))
