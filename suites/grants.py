"""Grant and response types: each client can use what the policy declares for it, and nothing more.

An undeclared grant is probed with a harmless request (made-up artefacts) and its answer compared with two
controls: a grant type no server knows (``urn:authcheck:not-a-grant``) and, where the policy has one, another
client of the same provider that declares the grant. An answer like the unknown grant's, or an RFC 6749 refusal
of the grant (``unsupported_grant_type``, ``unauthorized_client``), is a refusal; a token is an acceptance; an
answer about the made-up artefact (``invalid_grant``) tells nothing unless it differs from the declaring
client's. The password grant is tried with the provider's test user when made-up credentials cannot tell.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_authcheck import check
from pytest_authcheck._clients import CODE_FLOW, PolicyClient, uses_secret
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import OneOf
from pytest_authcheck._redact import Secret
from pytest_authcheck.observations import Kind, NotEvaluated, observe_token
from pytest_authcheck.probes import ORDINARY
from pytest_authcheck.probes.client_auth import (
    grant_answer,
    harmless_form,
    secret_accepted,
    undeclared_grant,
    unknown_grant,
)
from pytest_authcheck.probes.variations import UNDECLARED_GRANT_PROBES, response_type_variations

# authorization endpoint errors (RFC 6749 §4.1.2.1) that say no code is issued to this client at all
CODE_REFUSALS = ("unauthorized_client", "unsupported_response_type", "invalid_client")


@check("grants.declared-work", title="The grants the policy declares for a client work",
       sends="A client-credentials request with the policy's scopes, a login through the client (authorization_code) and a refresh with a "
             "fresh refresh token, as the client declares them.",
       severity="medium", area="clients", refs=["RFC 6749 §4.1", "RFC 6749 §4.4", "RFC 6749 §6", "RFC 7591 §2"],
       remediation="Allow the client the grant types the policy lists (and its redirect URIs for authorization_code); "
                   "or remove them from the policy if the application no longer uses them.")
def test_declared_grants_work(client_case, token_probes, authcheck_code_flows):
    active_client, _, _, authcheck_record = client_case
    expected: dict[str, str] = {}
    observed: dict[str, str] = {}
    undecided: list[str] = []
    if active_client.mints_own_tokens:
        expected["client_credentials"] = "works"
        judgement = secret_accepted(token_probes, active_client)
        authcheck_record.attach(*judgement.exchanges)
        answer = token_probes.send(active_client, "declared", harmless_form(active_client)).observation
        if answer.accepted:
            observed["client_credentials"] = "works"
        elif judgement.value == "authenticated" and answer.refused:
            observed["client_credentials"] = f"refused ({answer.error or answer.summary})"
            authcheck_record.violation(f"client_credentials with the policy's scopes gets {answer.summary}")
        elif judgement.value is None:
            undecided.append(f"client_credentials: {judgement.reason}")
        elif judgement.value != "authenticated":
            undecided.append(f"client_credentials: {active_client.label} cannot authenticate ({judgement.reason}); see "
                             "client-auth.secret-accepted")
        else:
            undecided.append(f"client_credentials: {answer.why_not_evaluable()}")
    if active_client.declares("authorization_code"):
        expected["authorization_code"] = "works"
        if not active_client.redirect_uris:
            observed["authorization_code"] = "no redirect_uris declared"
            authcheck_record.violation("authorization_code is declared without redirect_uris")
        else:
            _login_grant(active_client, "authorization_code", lambda: authcheck_code_flows.tokens(active_client),
                         expected, observed, undecided, authcheck_record)
    if active_client.declares("refresh_token") and active_client.uses_login:
        expected["refresh_token"] = "works"

        def refresh() -> Any:
            tokens = authcheck_code_flows.fresh_tokens(active_client)
            authcheck_record.attach(*tokens.exchanges)
            if tokens.token.refresh_token is None:
                raise _Refused("no refresh_token was issued with the code")
            answer = token_probes.send(active_client, "refresh with a fresh refresh token",
                                       {"grant_type": "refresh_token", "refresh_token": tokens.token.refresh_token})
            authcheck_record.attach(answer.response.exchange)
            if answer.observation.refused:
                raise _Refused(f"a refresh with a fresh refresh token gets {answer.observation.summary}")
            if not answer.observation.accepted:
                raise NotEvaluated(answer.observation.why_not_evaluable())
            return answer

        _login_grant(active_client, "refresh_token", refresh, expected, observed, undecided, authcheck_record)
    others = [g for g in active_client.grant_types if g not in expected]
    if others:
        authcheck_record.fact("declared but not probed", others)
    if not expected:
        pytest.skip(f"none of the grants {active_client.target} declares can be probed here ({', '.join(others)}; "
                    "the login grants need providers.*.test_user)")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect(expected, observed)
    authcheck_record.conclude(f"declared grant(s) of {active_client.label} do not work: ")


class _Refused(Exception):
    """A declared grant that the provider refused (a violation, with the reason)."""


def _login_grant(client: PolicyClient, grant: str, attempt: Any, expected: dict[str, str], observed: dict[str, str],
                 undecided: list[str], record: Any) -> None:
    try:
        result = attempt()
        exchanges = getattr(result, "exchanges", None)
        if exchanges:
            record.attach(*exchanges)
        observed[grant] = "works"
    except _Refused as refused:
        observed[grant] = "refused"
        record.violation(f"{grant}: {refused}")
    except pytest.skip.Exception as skipped:  # no account to sign in with: this grant cannot be tried here
        expected.pop(grant, None)
        record.fact(f"{grant} not probed", str(skipped.msg))
    except EvaluationError as exc:
        undecided.append(f"{grant}: {exc}")


@check("grants.undeclared-refused", title="Grant types the policy does not declare are refused",
       sends="One token request per grant type the client does not declare, with made-up artefacts (a made-up code, refresh token, device "
             "code, assertion, or account for password), compared with an unknown grant type; where that cannot tell, the test user's "
             "password, the device authorization endpoint, the client's own token as subject_token, or a client that declares the grant.",
       severity="high", area="clients", refs=["RFC 6749 §5.2", "RFC 9700 §2.4", "RFC 9700 §2.1.2", "RFC 8693 §2",
                                             "RFC 8628 §3.1"],
       remediation="Restrict the client's grant_types at the provider to the ones the policy declares; disable the "
                   "password grant (RFC 9700 §2.4) and client_credentials for public clients.")
def test_undeclared_grants_refused(client_case, token_probes, authcheck_run, authcheck_authz_probes,
                                   authcheck_code_flows):
    active_client, _, client_metadata, authcheck_record = client_case
    if uses_secret(active_client):
        # refusals prove something only from a client that gets past authentication
        own = secret_accepted(token_probes, active_client)
        authcheck_record.attach(*own.exchanges)
        if own.value != "authenticated":
            raise NotEvaluated(f"{active_client.label} does not get past client authentication "
                               f"({own.reason}), so refusals of other grants prove nothing; see client-auth.secret-accepted")
    unknown = unknown_grant(token_probes, active_client)
    authcheck_record.attach(unknown.response.exchange)
    observed: dict[str, str] = {}
    undecided: list[str] = []
    context = _GrantContext(active_client, client_metadata, token_probes, authcheck_run, authcheck_authz_probes,
                            authcheck_code_flows, authcheck_record)
    for grant, extra in UNDECLARED_GRANT_PROBES.items():
        if active_client.declares(grant):
            continue
        probe = undeclared_grant(token_probes, active_client, grant)
        authcheck_record.attach(probe.response.exchange)
        verdict, why = grant_answer(probe.observation, unknown.observation, made_up=bool(extra))
        if verdict is None:
            verdict, why = context.decide(grant, extra, probe.observation)
        if verdict is None:
            undecided.append(f"{grant}: {why}")
            continue
        observed[grant] = verdict
        if verdict == "accepted":
            authcheck_record.violation(f"{grant} ({why})")
        elif verdict == "unobtainable":
            authcheck_record.fact(f"{grant}: unobtainable", why)
    authcheck_record.fact("an unknown grant type gets", unknown.observation.describe())
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("the answers cannot tell whether these grants are allowed: " + "; ".join(undecided))
    authcheck_record.expect({g: OneOf(("refused", "unobtainable"), "refused (or nothing to use it with)")
                             for g in observed}, observed)
    authcheck_record.conclude(f"{active_client.label} may use grant(s) the policy does not declare: ")


class _GrantContext:
    """Second opinions on an ambiguous grant answer (made-up artefacts judged before the grant)."""

    def __init__(self, client, metadata, token_probes, run, authz_probes, code_flows, record) -> None:
        self.client, self.metadata, self.token_probes = client, metadata, token_probes
        self.run, self.authz_probes, self.code_flows, self.record = run, authz_probes, code_flows, record

    def decide(self, grant: str, extra: dict[str, str], answer) -> tuple[str | None, str]:
        special = {"password": self._password, "urn:ietf:params:oauth:grant-type:device_code": self._device,
                   "refresh_token": self._refresh, "authorization_code": self._code,
                   "urn:ietf:params:oauth:grant-type:token-exchange": self._exchange}.get(grant)
        first_why = ""
        if special is not None:
            verdict, first_why = special()
            if verdict is not None:
                return verdict, first_why
        verdict, why = self._declaring_client(grant, extra, answer)
        return verdict, (first_why if verdict is None and first_why else why)

    def _password(self) -> tuple[str | None, str]:
        user = self.run.policy.section("providers").get(self.client.provider, {}).get("test_user")
        if not user:
            return None, "made-up credentials were refused as credentials; providers.*.test_user would tell"
        real = self.token_probes.send(self.client, "grant password as the test user",
                                      {"grant_type": "password", "username": str(user["username"]),
                                       "password": user["password"]})
        self.record.attach(real.response.exchange)
        if real.observation.accepted:
            return "accepted", "a token was issued for the test user's own credentials"
        if real.observation.refused:
            return "refused", f"even the test user's own credentials get {real.observation.summary}"
        return None, real.observation.why_not_evaluable()

    def _device(self) -> tuple[str | None, str]:
        # RFC 8628 §3.1: a device code comes from the device authorization endpoint; without one, none can be used
        endpoint = self.metadata.get("device_authorization_endpoint")
        if not isinstance(endpoint, str):
            return "unobtainable", "the provider advertises no device_authorization_endpoint, so no device code exists"
        form, auth = self.client.credentials({"scope": self.client.scope_request()} if self.client.scopes else {})
        response = self.run.http.post(endpoint, data=form, auth=auth)
        self.record.attach(response.exchange)
        answer = observe_token(response, issued="device_code")
        if answer.accepted:
            return "accepted", "the device authorization endpoint issued it a device code"
        if answer.refused:
            return "unobtainable", f"the device authorization endpoint refuses it ({answer.summary})"
        return None, f"the device authorization endpoint: {answer.why_not_evaluable()}"

    def _refresh(self) -> tuple[str | None, str]:
        # a refresh token is only ever handed out by another grant; if none of the client's answers carry one
        declared = self.token_probes.send(self.client, "declared", harmless_form(self.client)).observation
        if declared.accepted and not isinstance(declared.details.get("body", {}).get("refresh_token"), str) \
                and not self.client.uses_login:
            return "unobtainable", "its own token responses carry no refresh token, and it has no login that could"
        return None, ""

    def _code(self) -> tuple[str | None, str]:
        # a code comes only from the authorization endpoint: refused there (signed in if need be), none can be redeemed
        control = self.authz_probes.control(self.client)
        self.record.attach(*control.exchanges)
        if not control.refused:
            try:
                control = self.authz_probes.decide(self.client, ORDINARY)
            except (EvaluationError, pytest.skip.Exception):
                return None, ""
            self.record.attach(*control.exchanges)
        if not control.refused:
            return None, ""
        # a refusal that names the client or its response type; otherwise it may be about the request alone (a
        # client the policy gives no redirect URI is asked without one, which any provider refuses)
        if control.error in CODE_REFUSALS:
            return "unobtainable", f"the authorization endpoint refuses it ({control.summary})"
        missing = "" if self.client.redirect_uris else " the request carries no redirect_uri (the policy lists none),"
        return None, (f"the authorization endpoint refuses its request ({control.summary}), but{missing} not with an "
                      f"error about the client or its response type ({', '.join(CODE_REFUSALS)})")

    def _exchange(self) -> tuple[str | None, str]:
        # RFC 8693 with a real subject token (the client's own): an answer about the made-up one proved nothing
        token = self._own_token()
        if token is None:
            return None, ""
        probe = self.token_probes.send(self.client, "grant token-exchange with its own token", {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"})
        self.record.attach(probe.response.exchange)
        answer = probe.observation
        if answer.accepted:
            return "accepted", "a token was issued in exchange for its own access token"
        if answer.refused:
            # a complete RFC 8693 request with a real token of this provider: a refusal is about the exchange itself
            return "refused", f"with its own access token as subject_token: {answer.summary}"
        return None, f"with its own access token as subject_token: {answer.why_not_evaluable()}"

    def _own_token(self) -> Any:
        declared = self.token_probes.send(self.client, "declared", harmless_form(self.client))
        if declared.observation.accepted:
            return Secret(declared.observation.details["body"]["access_token"], label="subject_token")
        if self.client.uses_login:
            try:
                return self.code_flows.tokens(self.client).token.access_token
            except (EvaluationError, pytest.skip.Exception):
                return None
        return None

    def _declaring_client(self, grant: str, extra: dict[str, str], answer) -> tuple[str | None, str]:
        for other in _clients_declaring(self.run, self.client.provider, grant):
            if other.name == self.client.name:
                continue
            control = undeclared_grant(self.token_probes, self.client, grant, as_client=other)
            self.record.attach(control.response.exchange)
            if control.observation.accepted or (control.observation.refused and not control.observation.same_as(answer)):
                return "refused", f"{answer.summary} where {other.target}, which declares it, gets " \
                                  f"{control.observation.summary}"
            if control.observation.refused:
                return None, f"{answer.summary}, as {other.target}, which declares the grant, does: the made-up " \
                             "artefact was judged before the grant"
        return None, f"{answer.summary}: the made-up artefact was judged, not the grant"



def _clients_declaring(run: Any, provider: str, grant: str) -> list[PolicyClient]:
    """The provider's active clients that declare ``grant`` and can authenticate, in policy order; worked out once
    per run, since every client of the provider asks (scanning the policy each time is quadratic in clients)."""
    key = ("clients declaring", provider, grant)
    if key not in run.memo:
        clients = (run.target_subject("oidc_client", name) for name in run.policy.clients_of(provider))
        run.memo[key] = [client for client in clients if client.active and client.declares(grant)
                         and (client.auth_method == "none" or client.secret is not None)]
    return run.memo[key]


@check("grants.response-types", title="Implicit and hybrid response types are refused unless declared",
       sends="An authorization request with each implicit and hybrid response type the client does not declare; signed in as the test user"
             " when the pre-login answer cannot tell.",
       severity="high", area="clients", applies=CODE_FLOW,
       refs=["RFC 9700 §2.1.2", "RFC 6749 §4.1.2.1", "OAuth 2.0 Multiple Response Types §5"],
       remediation="Remove implicit and hybrid response types (token, id_token token, code id_token ...) from the "
                   "client's registration; tokens in the front channel leak through history, referrers and logs.")
def test_response_types(client_case, authcheck_authz_probes):
    active_client, _, _, authcheck_record = client_case
    variations = response_type_variations(active_client)
    observed: dict[str, str] = {}
    undecided: list[str] = []
    for variation in variations:
        answer = authcheck_authz_probes.decide(active_client, variation)
        authcheck_record.attach(*answer.exchanges)
        if answer.kind in (Kind.ACCEPTED, Kind.REFUSED):
            observed[variation.name] = answer.kind.value
            if answer.accepted:
                authcheck_record.violation(f"{variation.name} ({answer.summary})")
        else:
            undecided.append(f"{variation.name}: {answer.why_not_evaluable()}")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect({name: "refused" for name in observed}, observed)
    authcheck_record.conclude(f"the authorization endpoint accepts response type(s) the policy does not declare for "
                              f"{active_client.label}: ")
