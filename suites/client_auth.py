"""Client registration and authentication: each client is known, authenticates as declared, and nothing else does.

Seed symptom: "Unknown client_id: OAuth flow fails with invalid_client" (client not registered, wrong
client_id, client deleted or disabled), and "Client authentication failed / invalid_client" (client ID or
secret mismatch). These checks find each cause before a user meets it.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_authcheck import check
from pytest_authcheck._authz import random_token
from pytest_authcheck._clients import SECRET_METHODS
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._token_answers import BOGUS_CODE_PREFIX, authenticated, error_of, harmless_form, invalid_client_problems, issued_token


@check("client-auth.secret-accepted", title="A confidential client authenticates with its declared secret",
       severity="high", area="clients", refs=["RFC 6749 §2.3.1", "RFC 6749 §3.2.1", "RFC 6749 §5.2"],
       remediation="The provider refuses the secret the policy holds for this client (invalid_client): the client_id "
                   "or secret is wrong, the secret was rotated, or the client was deleted or disabled. Copy the client "
                   "ID exactly, regenerate the secret if unsure and update the environment variable the policy names.")
def test_secret_accepted(active_client, token_request, authcheck_record):
    if active_client.auth_method not in SECRET_METHODS:
        pytest.skip(f"{active_client.target} does not authenticate with a client secret ({active_client.auth_method})")
    if active_client.secret is None:
        pytest.skip(f"{active_client.target} declares {active_client.auth_method} but no client_secret")
    response = token_request(harmless_form(active_client))
    observed = "a token" if issued_token(response) else f"HTTP {response.status} error={error_of(response)!r}"
    authcheck_record.expect(f"authenticated with {active_client.auth_method}", observed)
    if not authenticated(response):
        authcheck_record.fail(f"the token endpoint refused {active_client.label} with its declared "
                              f"{active_client.auth_method} secret: {observed}")


@check("client-auth.wrong-secret-refused", title="A wrong secret gets invalid_client, as RFC 6749 §5.2 says",
       severity="critical", area="clients", refs=["RFC 6749 §2.3.1", "RFC 6749 §5.2", "RFC 9700 §2.5"],
       remediation="Make the token endpoint authenticate every confidential client and answer a failed "
                   "authentication with HTTP 401 (WWW-Authenticate when Basic was used) or 400 and a JSON body "
                   "{\"error\": \"invalid_client\"}; never issue a token without a valid secret.")
def test_wrong_secret_refused(active_client, token_request, authcheck_record):
    if active_client.auth_method not in SECRET_METHODS:
        pytest.skip(f"{active_client.target} does not authenticate with a client secret ({active_client.auth_method})")
    response = token_request(harmless_form(active_client), secret="authcheck-wrong-" + random_token(12))
    problems = invalid_client_problems(response, basic=active_client.auth_method == "client_secret_basic")
    authcheck_record.expect("HTTP 400/401 with error=invalid_client (JSON)",
                            f"HTTP {response.status} error={error_of(response)!r} ({response.content_type or 'untyped'})")
    if problems:
        authcheck_record.fail(f"a wrong secret for {active_client.label}: " + "; ".join(problems))


@check("client-auth.unknown-client-refused", title="An unknown client_id gets invalid_client",
       severity="high", area="clients", refs=["RFC 6749 §5.2", "RFC 6749 §4.1.2.1"],
       remediation="Refuse unknown clients at the token endpoint with invalid_client, and at the authorization "
                   "endpoint with an error page that never redirects.")
def test_unknown_client_refused(active_client, token_request, authz_probe, authcheck_record):
    stranger = active_client.client_id + "-authcheck-unknown-" + random_token(6)
    impostor = type(active_client).from_policy(active_client.name, {**active_client.config, "client_id": stranger})
    response = token_request(harmless_form(impostor), client=impostor,
                             secret=None if impostor.secret else "authcheck-wrong-" + random_token(12),
                             method=impostor.auth_method if impostor.auth_method in SECRET_METHODS else "client_secret_basic")
    problems = invalid_client_problems(response, basic=True)
    observed: dict[str, Any] = {"token endpoint": f"HTTP {response.status} error={error_of(response)!r}"}
    if active_client.redirect_uris:
        outcome = authz_probe(client_id=stranger)
        observed["authorization endpoint"] = outcome.describe()
        if outcome.kind != "error page":
            problems.append(f"the authorization endpoint answered with {outcome.describe()}, not an error page")
    authcheck_record.expect({"token endpoint": "invalid_client", "authorization endpoint": "error page"}, observed)
    if problems:
        authcheck_record.fail(f"unknown client_id {stranger!r}: " + "; ".join(problems))


@check("client-auth.removed-client-refused", title="A client the policy marks removed is rejected as invalid_client",
       severity="high", area="clients", refs=["RFC 6749 §5.2", "RFC 6749 §4.1.2.1", "RFC 7592 §2.3"],
       remediation="Delete (or disable) the client at the provider: it still answers for a client the policy says is "
                   "removed, so anyone holding its old secret or redirect URIs can still use it.")
def test_removed_client_refused(oidc_client, client_metadata, token_request, authz_probe, authcheck_record):
    if oidc_client.active:
        pytest.skip(f"{oidc_client.target} is active; this check applies to clients marked removed or disabled")
    # As a public client with a code that was never issued: a provider that knows the client says invalid_grant
    # (or asks for its secret with invalid_client, so the authorization endpoint decides as well).
    response = token_request({"grant_type": "authorization_code", "code": BOGUS_CODE_PREFIX + random_token(8),
                              "redirect_uri": oidc_client.redirect_uris[0] if oidc_client.redirect_uris else ""},
                             method="none")
    outcome = authz_probe()
    observed = {"token endpoint": f"HTTP {response.status} error={error_of(response)!r}",
                "authorization endpoint": outcome.describe()}
    authcheck_record.expect({"token endpoint": "invalid_client", "authorization endpoint": "error page (invalid_client)"},
                            observed)
    signs = []
    if issued_token(response) or (error_of(response) not in ("invalid_client", None)):
        signs.append(f"the token endpoint answered {error_of(response) or 'a token'!r} instead of invalid_client")
    if outcome.kind != "error page":
        signs.append(f"the authorization endpoint answered with {outcome.describe()}")
    elif outcome.error not in (None, "invalid_client"):
        signs.append(f"the authorization endpoint's error is {outcome.error!r}, not invalid_client")
    if signs:
        authcheck_record.fail(f"{oidc_client.label} is marked {oidc_client.state} but the provider still knows it: "
                              + "; ".join(signs))


@check("client-auth.public-client-known", title="A public client is registered at the authorization endpoint",
       severity="high", area="clients", refs=["RFC 6749 §2", "RFC 6749 §4.1.2.1", "RFC 8252 §8.4"],
       remediation="Register the client (its client_id exactly as the application sends it) at the provider, with "
                   "the redirect URIs the policy lists; until then every login fails with invalid_client.")
def test_public_client_known(active_client, authz_probe, authcheck_record):
    if not active_client.public:
        pytest.skip(f"{active_client.target} is confidential; client-auth.secret-accepted shows it is registered")
    if not active_client.redirect_uris:
        pytest.skip(f"{active_client.target} declares no redirect_uris to send an authorization request with")
    outcome = authz_probe()
    authcheck_record.expect("proceeds to login (or an error about the request, not the client)", outcome.describe())
    if outcome.error == "invalid_client" or (outcome.kind == "error page" and outcome.error is None):
        authcheck_record.fail(f"the authorization endpoint does not know {active_client.label}: {outcome.describe()}")


@check("client-auth.auth-method", title="The client authenticates with exactly its declared method",
       severity="medium", area="clients", refs=["RFC 6749 §2.3.1", "RFC 7591 §2", "RFC 9700 §2.5"],
       remediation="Register the client with the token_endpoint_auth_method the policy declares; a confidential "
                   "client must never be accepted without its secret.")
def test_auth_method(active_client, client_metadata, token_request, authz_probe, authcheck_record):
    method = active_client.auth_method
    if method not in (*SECRET_METHODS, "none"):
        pytest.skip(f"{method} is not probed yet (only client_secret_basic, client_secret_post and none)")
    advertised = client_metadata.get("token_endpoint_auth_methods_supported")
    results: dict[str, str] = {}
    problems = []
    if isinstance(advertised, list) and method not in advertised:
        problems.append(f"the provider does not advertise {method}")
    if method in SECRET_METHODS:
        if active_client.secret is None:
            pytest.skip(f"{active_client.target} declares {method} but no client_secret")
        declared = token_request(harmless_form(active_client))
        results[method] = "accepted" if authenticated(declared) else f"refused ({error_of(declared)})"
        if not authenticated(declared):
            problems.append(f"the declared {method} is refused ({error_of(declared)})")
        other = "client_secret_post" if method == "client_secret_basic" else "client_secret_basic"
        alternative = token_request(harmless_form(active_client), method=other)
        results[other] = "accepted" if authenticated(alternative) else f"refused ({error_of(alternative)})"
        if not authenticated(alternative) and not authenticated(declared):
            raise EvaluationError(f"{active_client.label} authenticates with neither client_secret_basic nor "
                                  "client_secret_post; see client-auth.secret-accepted")
        if authenticated(alternative) and not authenticated(declared):
            problems.append(f"{other} is accepted instead: the client is registered with another method")
        without = token_request(harmless_form(active_client), method="none")
        results["none"] = "accepted" if authenticated(without) else f"refused ({error_of(without)})"
        if authenticated(without):
            problems.append("the client is accepted without its secret (as a public client)")
    else:
        if not active_client.redirect_uris:
            pytest.skip(f"{active_client.target} declares no redirect_uris")
        public = token_request({"grant_type": "authorization_code", "code": BOGUS_CODE_PREFIX + random_token(8),
                                "redirect_uri": active_client.redirect_uris[0]})
        results["none"] = "accepted" if authenticated(public) else f"refused ({error_of(public)})"
        if not authenticated(public) and authz_probe().error == "invalid_client":
            raise EvaluationError(f"the provider does not know {active_client.label}; see client-auth.public-client-known")
        if not authenticated(public):
            problems.append(f"the client is refused without a secret ({error_of(public)}): it is not registered as public")
    authcheck_record.expect({method: "accepted", "other methods": "refused"}, results)
    if problems:
        authcheck_record.fail(f"{active_client.label} declares {method}: " + "; ".join(problems))
