"""Token introspection (RFC 7662): a client learns about its own tokens, not about everybody's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import PolicyClient
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._redact import Secret
from pytest_authcheck.observations import NotEvaluated, introspected_state
from pytest_authcheck.probes.token_state import introspect_held


def _introspects_own(client: PolicyClient) -> str | None:
    if client.secret is None:
        return f"{client.target} has no secret to introspect with"
    if client.config.get("introspects_others"):
        return f"{client.target} sets introspects_others = true (a resource server)"
    return None


@check("introspection.isolation", title="A client cannot introspect another client's tokens",
       sends="Introspection requests with this client's secret for another client's token, and by that client for its own token (the "
             "control).",
       applies=_introspects_own, severity="medium", area="clients", refs=["RFC 7662 §2.1", "RFC 7662 §4", "RFC 9700 §2.5"],
       remediation="Let the introspection endpoint answer {\"active\": false} (or refuse) when the caller is neither "
                   "the client the token was issued to nor a resource server it is meant for; declare resource "
                   "servers in the policy with introspects_others = true.")
def test_introspection_isolation(client_case, authcheck_run, authcheck_token, authcheck_code_flows):
    active_client, _, client_metadata, authcheck_record = client_case
    endpoint = client_metadata.get("introspection_endpoint")
    if not isinstance(endpoint, str):
        pytest.skip("the provider advertises no introspection_endpoint")

    last_answer: dict[str, Any] = {}

    def introspect(caller: PolicyClient, token: Secret) -> Any:
        answer = introspect_held(authcheck_run.http, authcheck_run.memo, caller, endpoint, token)
        authcheck_record.attach(*answer.exchanges)
        last_answer[caller.name] = answer
        # invalid_client refuses the caller's own credentials, not the token: it says nothing of isolation
        return introspected_state(answer) or ("refused" if answer.refused and answer.error != "invalid_client" else None)

    # the control: a token its own client is told is active (a self-contained one may not be introspectable at all);
    # found once per provider, among a few candidates, so a large policy does not introspect every pair
    control = _control_token(active_client, authcheck_run, authcheck_token, authcheck_code_flows, introspect, last_answer)
    if control is not None and control[0].name == active_client.name:
        control = _control_token(active_client, authcheck_run, authcheck_token, authcheck_code_flows, introspect,
                                 last_answer, exclude=active_client.name)
    if control is None:
        pytest.skip(f"no other client of providers.{active_client.provider} has a token that its own client can "
                    f"introspect (tried {MAX_CANDIDATES}), so there is nothing to compare with")
    other, token = control
    seen = introspect(active_client, token)
    if seen is None and last_answer[active_client.name].error == "invalid_client":
        raise NotEvaluated(f"the introspection endpoint refuses {active_client.target}'s own credentials "
                           "(invalid_client); see client-auth.secret-accepted")
    if seen is None:
        raise NotEvaluated(f"the introspection endpoint's answer to {active_client.target} cannot be read")
    observed = "active" if seen == "active" else "inactive or refused"
    authcheck_record.fact(f"{other.target} introspecting its own token", "active")
    authcheck_record.expect({f"{other.target}'s token": "inactive or refused"}, {f"{other.target}'s token": observed})
    if seen == "active":
        authcheck_record.fail(f"{active_client.label} may introspect a token of {other.label}: the endpoint answers "
                              "active and its details")


MAX_CANDIDATES = 3


def _control_token(client, run, authcheck_token, code_flows, introspect, last_answer, exclude: str = ""):
    """One token per provider (per run) that its own client sees active at introspection, or None; *not evaluated*
    when none does and a candidate's own introspection could not answer (a throttle, a server error)."""
    key = ("introspection control", client.provider, exclude)
    controls = run.memo
    if key not in controls:
        controls[key] = None
        candidates = _other_tokens(client if exclude else _Nobody(client.provider), run, authcheck_token, code_flows)
        for tried, (other, token) in enumerate(candidates):
            if tried >= MAX_CANDIDATES:
                break
            if introspect(other, token) == "active":
                controls[key] = (other, token)
                break
            answer = last_answer[other.name]
            if controls[key] is None and not answer.decisive:
                controls[key] = f"{other.target} introspecting its own token, the control: {answer.why_not_evaluable()}"
    found = controls[key]
    if isinstance(found, str):
        raise NotEvaluated(found)
    return found


class _Nobody:
    """A stand-in client that excludes no one from the candidates of its provider."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.name = ""


def _other_tokens(client, run, authcheck_token, code_flows) -> Iterator[tuple[PolicyClient, Secret]]:
    """Tokens of the other confidential clients of the same provider the run already holds (client credentials, or
    a cached login's), which their own client can introspect with its secret."""
    for name, config in run.policy.section("clients").items():
        other = PolicyClient.from_policy(name, config)
        if other.name == client.name or other.provider != client.provider or not other.active or other.secret is None:
            continue
        try:
            if other.declares("client_credentials"):
                yield other, authcheck_token(other.name).access_token
            elif other.uses_login:
                yield other, code_flows.tokens(other).token.access_token
        except (EvaluationError, pytest.skip.Exception):
            continue
