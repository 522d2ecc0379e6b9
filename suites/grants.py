"""Grant and response types: each client can use what the policy declares for it, and nothing more."""

from __future__ import annotations

from typing import Any

from pytest_authcheck import check
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._token_answers import BOGUS_CODE_PREFIX, error_of, issued_token

# Token-endpoint grants probed when the policy does not declare them, with a harmless request each.
UNDECLARED_GRANT_PROBES: dict[str, dict[str, str]] = {
    "client_credentials": {},
    "password": {"username": "authcheck-nonexistent-user", "password": "authcheck-not-a-password"},
    "refresh_token": {"refresh_token": "authcheck-not-a-refresh-token"},
    "authorization_code": {"code": BOGUS_CODE_PREFIX + "x", "redirect_uri": "https://authcheck.invalid/cb"},
    "urn:ietf:params:oauth:grant-type:device_code": {"device_code": "authcheck-not-a-device-code"},
    "urn:ietf:params:oauth:grant-type:token-exchange": {
        "subject_token": "authcheck-not-a-token", "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
    "urn:ietf:params:oauth:grant-type:jwt-bearer": {"assertion": "authcheck.not.a-jwt"},
}
# Answers that refuse the grant itself (RFC 6749 §5.2; oidc-provider says invalid_request).
REFUSALS = ("unsupported_grant_type", "unauthorized_client", "invalid_request", "invalid_client", "invalid_scope")
FRONT_CHANNEL_RESPONSE_TYPES = ("token", "id_token token", "code id_token", "code token", "code id_token token", "id_token")


@check("grants.declared-work", title="The grants the policy declares for a client work",
       severity="medium", area="clients", refs=["RFC 6749 §4.1", "RFC 6749 §4.4", "RFC 7591 §2"],
       remediation="Allow the client the grant types the policy lists (and its redirect URIs for authorization_code); "
                   "or remove them from the policy if the application no longer uses them.")
def test_declared_grants_work(active_client, token_request, authz_probe, authcheck_record):
    observed: dict[str, str] = {}
    problems = []
    if active_client.declares("client_credentials"):
        if active_client.secret is None:
            observed["client_credentials"] = "not probed: no client_secret declared"
        else:
            form: dict[str, Any] = {"grant_type": "client_credentials"}
            scope = " ".join(s for s in active_client.scopes if s != "openid")
            if scope:
                form["scope"] = scope
            response = token_request(form)
            observed["client_credentials"] = "token issued" if issued_token(response) else \
                f"HTTP {response.status} error={error_of(response)!r}"
            if error_of(response) == "invalid_client":
                raise EvaluationError(f"{active_client.label} cannot authenticate (invalid_client), so its grants "
                                      "cannot be tried; see client-auth.secret-accepted")
            if not issued_token(response):
                problems.append(f"client_credentials: {observed['client_credentials']}")
    if active_client.declares("authorization_code"):
        if not active_client.redirect_uris:
            problems.append("authorization_code is declared without redirect_uris")
        else:
            outcome = authz_probe()
            if outcome.kind == "error page":
                raise EvaluationError(f"the authorization endpoint refuses {active_client.label} ({outcome.describe()}); "
                                      "see " + ("client-auth.public-client-known" if outcome.error == "invalid_client"
                                                else "redirect-uri.registered-accepted"))
            observed["authorization_code"] = outcome.describe()
            if outcome.kind != "proceeds to login":
                problems.append(f"authorization_code: the authorization request gets {outcome.describe()}")
    for grant in active_client.grant_types:
        observed.setdefault(grant, "shown by refresh.rotation (needs a login)" if grant == "refresh_token"
                            else "not probed")
    authcheck_record.expect({g: "works" for g in active_client.grant_types}, observed)
    if problems:
        authcheck_record.fail(f"declared grant(s) of {active_client.label} do not work: " + "; ".join(problems))


@check("grants.undeclared-refused", title="Grant types the policy does not declare are refused",
       severity="high", area="clients", refs=["RFC 6749 §5.2", "RFC 9700 §2.4", "RFC 9700 §2.1.2", "RFC 8693 §2"],
       remediation="Restrict the client's grant_types at the provider to the ones the policy declares; disable the "
                   "password grant (RFC 9700 §2.4) and client_credentials for public clients.")
def test_undeclared_grants_refused(active_client, token_request, authcheck_record):
    observed: dict[str, str] = {}
    accepted = []
    for grant, extra in UNDECLARED_GRANT_PROBES.items():
        if active_client.declares(grant):
            continue
        response = token_request({"grant_type": grant, **extra})
        error = error_of(response)
        if issued_token(response):
            observed[grant] = "token issued"
            accepted.append(f"{grant} (a token was issued)")
        elif grant == "password" and error == "invalid_grant":
            # "bad credentials" means the password grant itself is enabled for this client (RFC 9700 §2.4)
            observed[grant] = "invalid_grant: the grant is enabled, only the credentials were wrong"
            accepted.append("password (invalid_grant: enabled, only the made-up credentials were refused)")
        elif error in REFUSALS:
            observed[grant] = f"refused ({error})"
        elif error == "invalid_grant":
            observed[grant] = "invalid_grant (the made-up artefact was examined; inconclusive)"
        else:
            observed[grant] = f"HTTP {response.status} error={error!r}"
    authcheck_record.expect({g: "refused" for g in observed}, observed)
    if accepted:
        authcheck_record.fail(f"{active_client.label} may use grant(s) the policy does not declare: " + ", ".join(accepted))


@check("grants.response-types", title="Implicit and hybrid response types are refused unless declared",
       severity="high", area="clients", refs=["RFC 9700 §2.1.2", "RFC 6749 §4.1.2.1", "OAuth 2.0 Multiple Response Types §5"],
       remediation="Remove implicit and hybrid response types (token, id_token token, code id_token ...) from the "
                   "client's registration; tokens in the front channel leak through history, referrers and logs.")
def test_response_types(active_client, authz_baseline, authz_probe, authcheck_record):
    observed: dict[str, str] = {}
    accepted = []
    for response_type in FRONT_CHANNEL_RESPONSE_TYPES:
        if response_type in active_client.response_types:
            continue
        outcome = authz_probe(response_type=response_type)
        observed[response_type] = outcome.describe()
        if not outcome.refused:
            accepted.append(f"{response_type!r} ({outcome.describe()})")
    authcheck_record.expect({t: "refused" for t in observed}, observed)
    if accepted:
        authcheck_record.fail(f"the authorization endpoint accepts response type(s) the policy does not declare for "
                              f"{active_client.label}: " + ", ".join(accepted))
