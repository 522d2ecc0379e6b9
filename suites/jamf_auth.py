"""Jamf Pro authentication: the URL, accounts and API clients authenticate as declared, tokens live as long
as the policy allows and die when invalidated.

Non-destructive: the only tokens invalidated or renewed are ones these checks minted for the purpose; no
secret is rotated and no role or client is changed.
"""

from __future__ import annotations

import pytest

from pytest_authcheck import check
from pytest_authcheck._api_answers import word
from pytest_authcheck._duration import format_duration, parse_duration
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import AtMost, OneOf, Quantity, Satisfies
from pytest_authcheck._jamf.api import EXPIRED_PASSWORD, TokenResult
from pytest_authcheck._redact import Secret
from pytest_authcheck.observations import NotEvaluated, observe_resource
from pytest_authcheck.policy.defaults import seconds

JAMF_USER_TOKEN_DEFAULT = seconds("providers.*.user_token_max")  # Jamf Pro's user tokens last 30 minutes by default
REFUSAL_STATUSES = (400, 401)  # RFC 6749 §5.2 says 400/401 for invalid_client; Jamf's CLI treats 401 so
ISSUED = "token issued"


def _lifetime(seconds: float) -> str:
    return f"{format_duration(round(seconds))} ({round(seconds)} s)"


def _issued(result: TokenResult, record) -> str:
    """``token issued`` or ``refused (<code>)``; not evaluated when the answer says neither (throttled, 5xx)."""
    answer = result.answer
    record.fact("token endpoint", answer.describe())
    if answer.accepted:
        return ISSUED
    if answer.refused:
        return f"refused ({result.code})"
    raise NotEvaluated(f"the token request of {result.principal}: {answer.why_not_evaluable()}",
                       exchange=answer.exchange)


@check("jamf.url-canonical", title="The Jamf Pro URL is written in canonical form",
       sends="Nothing: reads the URL as the policy writes it.",
       severity="low", area="jamf", level="SHOULD", refs=["RFC 3986 §6.2.3", "JamfMCP troubleshooting: Invalid Server URL"],
       remediation="Write the URL as https://host (with :port only for a custom port), without a trailing slash; "
                   "give clients such as JamfMCP the same form.")
def test_url_canonical(jamf_provider, authcheck_record):
    lint = jamf_provider.lint
    authcheck_record.fact("Jamf Pro URL", {"written": lint.written, "used": lint.url, "normalised": list(lint.normalised),
                                           "notes": list(lint.notes)})
    authcheck_record.expect(lint.url, lint.written)
    if lint.written != lint.url:
        changes = "; ".join(lint.normalised) or "written differently"
        authcheck_record.fail(f"url {lint.written!r} was normalised to {lint.url!r} ({changes})")


@check("jamf.auditor-login", title="The auditor account gets a Jamf Pro API token",
       sends="POST /api/v1/auth/token with the auditor account (Basic), once per run.",
       severity="high", area="jamf", refs=["Jamf Pro API: POST /v1/auth/token", "RFC 7617 §2"],
       remediation="Check the auditor account's username and password, that it is enabled and not SSO-only, and "
                   "change an expired password; give it Read API Roles and Read API Integrations.")
def test_auditor_login(jamf_provider, jamf_auditor, authcheck_record):
    observed = _issued(jamf_auditor, authcheck_record)
    authcheck_record.expect({"auditor account": ISSUED}, {"auditor account": observed})
    if observed != ISSUED:
        authcheck_record.fail(f"the auditor account of {jamf_provider.target} was refused: {jamf_auditor.refusal}")


@check("jamf.user-login", title="A declared user account authenticates, and its password has not expired",
       sends="POST /api/v1/auth/token with the account's username and password (Basic), once per run.",
       severity="high", area="jamf", refs=["Jamf Pro API: POST /v1/auth/token", "RFC 7617 §2"],
       remediation="Fix the account's credentials; if the password expired or must be changed, change it in Jamf "
                   "Pro (Settings > User accounts) and update the secret store. Prefer an API client over a user.")
def test_user_login(jamf_user, jamf_user_token, authcheck_record):
    result = jamf_user_token
    observed = _issued(result, authcheck_record)
    authcheck_record.expect({"account": ISSUED}, {"account": observed})
    if result.code == EXPIRED_PASSWORD:
        authcheck_record.fail(f"the password of {jamf_user.target} has expired: {result.refusal}")
    if observed != ISSUED:
        authcheck_record.fail(f"{jamf_user.target} was refused: {result.refusal}")


@check("jamf.user-token-lifetime", title="User tokens expire within the policy's bound",
       sends="Nothing of its own: reads expires of the account's token.",
       severity="medium", area="jamf", refs=["Jamf Pro API: POST /v1/auth/token", "RFC 6819 §5.1.5.3"],
       remediation="Shorten the token lifetime; Jamf Pro issues 30-minute user tokens by default.")
def test_user_token_lifetime(jamf_user, jamf_user_token, authcheck_run, authcheck_record):
    result = jamf_user_token
    token = result.require()
    raw = jamf_user.config.get("token_max") or jamf_user.server.config.get("user_token_max")
    bound = parse_duration(raw) if raw else JAMF_USER_TOKEN_DEFAULT
    skew = authcheck_run.providers[jamf_user.server.name].max_clock_skew
    expected = AtMost(bound + skew, f"at most {_lifetime(bound)}")
    if result.expires_at is None:
        authcheck_record.fail("the token response has no readable 'expires' (ISO-8601 UTC)",
                              expected=expected, observed="no readable expires")
    lifetime = result.expires_at - result.response.received_at
    authcheck_record.jwt(f"{jamf_user.target} token", token.reveal())
    authcheck_record.fact("user token lifetime", {"seconds": round(lifetime), "bound": bound, "clock skew allowed": skew})
    authcheck_record.expect(expected, Quantity(lifetime, _lifetime(lifetime)))
    if lifetime > bound + skew:
        authcheck_record.fail(f"{jamf_user.target}'s token lives {_lifetime(lifetime)}, more than {_lifetime(bound)}")


@check("jamf.client-authenticates", title="The API client's credentials get a token",
       sends="POST /api/v1/oauth/token (client credentials) with the declared secret, once per run.",
       severity="high", area="jamf", refs=["RFC 6749 §4.4", "Jamf Pro API: POST /v1/oauth/token"],
       remediation="Check client_id and client_secret; if the client was disabled or its secret rotated, enable it "
                   "or store the new secret (the old one stops working at rotation).")
def test_client_authenticates(jamf_client, jamf_client_token, authcheck_record):
    result = jamf_client_token
    state = jamf_client.config.get("state", "active")
    if state != "active":
        pytest.skip(f"{jamf_client.target} is declared {state}; jamf.client-enabled judges it")
    observed = _issued(result, authcheck_record)
    if observed != ISSUED:
        authcheck_record.fail(f"{jamf_client.target} got no token from {result.path}: {result.refusal}",
                              expected={"token": ISSUED}, observed={"token": observed})
    authcheck_record.jwt(f"{jamf_client.target} token", result.token.reveal())
    missing = [k for k, v in (("expires_in", result.expires_in), ("scope", result.scope)) if v is None]
    authcheck_record.expect({"token": ISSUED, "missing members": []}, {"token": observed, "missing members": missing})
    if missing:
        authcheck_record.fail(f"the token response lacks {', '.join(missing)} (clients such as JamfMCP fail without them)")


@check("jamf.client-wrong-secret-refused", title="A wrong client secret is refused with invalid_client",
       sends="POST /api/v1/oauth/token with the client_id and a random secret.",
       severity="critical", area="jamf", refs=["RFC 6749 §5.2", "Jamf Pro API: POST /v1/oauth/token"],
       remediation="The server issued a token for a wrong secret: treat the instance as compromised and contact Jamf.")
def test_client_wrong_secret_refused(jamf_client, authcheck_record):
    result = jamf_client.server.wrong_secret_attempt(jamf_client.target, str(jamf_client.config["client_id"]))
    authcheck_record.attach(*result.exchanges)
    status = result.response.status
    answer = result.answer
    authcheck_record.fact("token endpoint", answer.describe())
    if answer.accepted:
        authcheck_record.fail(f"a random secret for {jamf_client.target} got a token (HTTP {status})",
                              expected={"wrong secret": "refused"}, observed={"wrong secret": ISSUED})
    if not answer.refused:
        raise NotEvaluated(f"a wrong secret for {jamf_client.target}: {answer.why_not_evaluable()}",
                           exchange=answer.exchange)
    authcheck_record.expect(
        {"wrong secret": "refused", "error": OneOf(tuple(f"HTTP {s} invalid_client" for s in REFUSAL_STATUSES),
                                                   "HTTP 400 or 401 invalid_client")},
        {"wrong secret": "refused", "error": f"HTTP {status} {result.code}"})
    if status not in REFUSAL_STATUSES or result.code != "invalid_client":
        authcheck_record.fail(f"a wrong secret was refused with HTTP {status} {result.code}, not the documented error")


def _listed(integration) -> str | None:
    """``enabled``, ``disabled`` or ``not listed``; None when the listing does not say."""
    if integration is None:
        return "not listed"
    enabled = integration.get("enabled")
    return None if not isinstance(enabled, bool) else "enabled" if enabled else "disabled"


@check("jamf.client-enabled", title="The API client is enabled (or refused, when the policy says it is disabled)",
       sends="The auditor's GET /api/v1/api-integrations; for a client the policy marks disabled or removed, also a token request with its"
             " declared secret.",
       severity="high", area="jamf", refs=["Jamf Pro API: GET /v1/api-integrations", "RFC 6749 §5.2"],
       remediation="Enable the API client in Settings > API roles and clients, or mark it state = \"disabled\" in the "
                   "policy if it should stay off. Disabling does not revoke tokens already issued.")
def test_client_enabled(jamf_client, authcheck_record):
    server, config = jamf_client.server, jamf_client.config
    state = config.get("state", "active")
    if not server.has_auditor:
        raise EvaluationError(f"reading {jamf_client.target}'s settings needs the auditor account of {server.target}")
    authcheck_record.attach(*server.auditor().exchanges)
    integration, exchanges = server.integration(str(config["client_id"]))
    authcheck_record.attach(*exchanges)
    authcheck_record.fact("API client", integration)
    listed = _listed(integration)
    if listed is None:
        raise NotEvaluated(f"the API client listed for {jamf_client.target} has no boolean enabled "
                           f"({str(integration.get('enabled'))[:40]!r})")
    expected = {"API client": {"active": "enabled", "removed": "not listed"}.get(
        state, OneOf(("disabled", "not listed"), "disabled or not listed"))}
    observed = {"API client": listed}
    undecided = []
    if state == "active":
        if integration is None:
            authcheck_record.violation(f"no API client with {jamf_client.target}'s clientId exists")
        else:
            if listed != "enabled":
                authcheck_record.violation(f"{jamf_client.target} ('{integration.get('displayName')}') is disabled")
            expected["appType"] = OneOf(("CLIENT_CREDENTIALS", None), "CLIENT_CREDENTIALS")
            observed["appType"] = integration.get("appType")
            if integration.get("appType") not in (None, "CLIENT_CREDENTIALS"):
                authcheck_record.violation(f"{jamf_client.target} has appType {integration.get('appType')!r}: no "
                                           "client credentials were generated")
    else:
        if state == "disabled" and listed == "enabled":
            authcheck_record.violation(f"{jamf_client.target} should be disabled but is enabled")
        if state == "removed" and integration is not None:
            authcheck_record.violation(f"{jamf_client.target} should be removed but is still listed")
        if config.get("client_secret"):
            result = server.client_token(jamf_client.target, str(config["client_id"]), config["client_secret"])
            authcheck_record.attach(*result.exchanges)
            answer = result.answer
            if answer.decisive:
                expected["token with its secret"] = "refused"
                observed["token with its secret"] = ISSUED if answer.accepted else "refused"
                if answer.accepted:
                    authcheck_record.violation(f"{jamf_client.target} is {state} in the policy but got a token")
            else:
                undecided.append(f"its token request: {answer.why_not_evaluable()}")
    if not authcheck_record.violations and undecided:
        raise NotEvaluated("; ".join(undecided))
    authcheck_record.expect(expected, observed)
    authcheck_record.conclude()


@check("jamf.client-token-lifetime", title="API client tokens expire within the policy's bound",
       sends="The auditor's GET /api/v1/api-integrations (accessTokenLifetimeSeconds) and the client's token request.",
       severity="medium", area="jamf", refs=["RFC 6749 §5.1", "RFC 6819 §5.1.5.3", "Jamf Pro: accessTokenLifetimeSeconds"],
       remediation="Lower the API client's Access Token Lifetime in Jamf Pro to at most the policy's access_token_max.")
def test_client_token_lifetime(jamf_client, authcheck_record):
    raw = jamf_client.config.get("access_token_max")
    if not raw:
        pytest.skip(f"{jamf_client.target} declares no access_token_max")
    bound = parse_duration(raw)
    server, observed = jamf_client.server, {}
    if server.has_auditor:
        integration, exchanges = server.integration(str(jamf_client.config["client_id"]))
        authcheck_record.attach(*server.auditor().exchanges, *exchanges)
        configured = integration.get("accessTokenLifetimeSeconds") if integration else None
        if isinstance(configured, int) and not isinstance(configured, bool):
            observed["accessTokenLifetimeSeconds"] = configured
    result: TokenResult | None = None
    if jamf_client.config.get("client_secret"):
        result = server.client_token(jamf_client.target, str(jamf_client.config["client_id"]),
                                     jamf_client.config["client_secret"])
        authcheck_record.attach(*result.exchanges)
        if result.expires_in is not None:
            observed["expires_in"] = result.expires_in
    if not observed:
        raise EvaluationError(f"neither the client's settings nor a token of {jamf_client.target} could be read")
    authcheck_record.fact("token lifetime", {**observed, "bound": bound})
    configured, expires_in = observed.get("accessTokenLifetimeSeconds"), observed.get("expires_in")
    expected = {"accessTokenLifetimeSeconds": AtMost(bound, f"at most {_lifetime(bound)}")}
    if configured is not None:
        expected["expires_in"] = Satisfies(
            lambda e: e <= bound and configured - 1 <= e <= configured,
            f"at most {_lifetime(bound)}, and {configured - 1}..{configured} (accessTokenLifetimeSeconds)")
    else:
        expected["expires_in"] = AtMost(bound, f"at most {_lifetime(bound)}")
    authcheck_record.expect({k: expected[k] for k in observed}, {k: Quantity(v, _lifetime(v)) for k, v in observed.items()})
    longest = max(observed.values())
    if longest > bound:
        authcheck_record.fail(f"{jamf_client.target}'s tokens live {_lifetime(longest)}, more than {_lifetime(bound)}")
    if configured is not None and expires_in is not None and not configured - 1 <= expires_in <= configured:
        authcheck_record.fail(f"expires_in {expires_in} disagrees with accessTokenLifetimeSeconds {configured}")


def _mint(server, authcheck_record) -> TokenResult:
    """A fresh auditor token for a check to spend (never the run's shared one)."""
    if not server.has_auditor:
        pytest.skip(f"{server.target} declares no auditor account to mint a token with")
    result = server.user_token(f"token minted by this check on {server.target}", str(server.config["username"]),
                               server.config["password"], fresh=True)
    authcheck_record.attach(*result.exchanges)
    result.require()
    return result


#: a token that stopped working: refused in any way (401 as Jamf Pro answers, or 403)
REFUSED_ANY = Satisfies(lambda v: str(v).startswith("refused"), "refused")


def _decisive(response, what: str):
    """The API answer judged; not evaluated when it says neither accepted nor refused."""
    answer = observe_resource(response)
    if not answer.decisive:
        raise NotEvaluated(f"{what}: {answer.why_not_evaluable()}", exchange=response.exchange)
    return answer


@check("jamf.token-invalidation", title="An invalidated token is refused afterwards",
       sends="A fresh auditor token: GET /api/v1/auth, POST /api/v1/auth/invalidate-token, GET /api/v1/auth again.",
       severity="high", area="jamf", refs=["Jamf Pro API: POST /v1/auth/invalidate-token", "RFC 7009 §2.2"],
       remediation="Jamf Pro kept accepting a token after invalidate-token answered; report it to Jamf and keep "
                   "token lifetimes short until fixed.")
def test_token_invalidation(jamf_provider, authcheck_record):
    minted = _mint(jamf_provider, authcheck_record)
    token = minted.token
    before = jamf_provider.request("GET", "/api/v1/auth", token)
    invalidated = jamf_provider.request("POST", "/api/v1/auth/invalidate-token", token)
    after = jamf_provider.request("GET", "/api/v1/auth", token)
    authcheck_record.attach(before.exchange, invalidated.exchange, after.exchange)
    if not _decisive(before, "the freshly minted token at GET /api/v1/auth").accepted:
        raise NotEvaluated(f"the freshly minted token was not accepted (GET /api/v1/auth: HTTP {before.status})")
    done = _decisive(invalidated, "POST /api/v1/auth/invalidate-token")
    afterwards = _decisive(after, "the invalidated token at GET /api/v1/auth")
    authcheck_record.expect({"invalidate-token": "accepted", "token afterwards": REFUSED_ANY},
                            {"invalidate-token": word(done), "token afterwards": word(afterwards)})
    if not done.accepted:
        authcheck_record.fail(f"invalidate-token answered {done.summary}")
    if afterwards.accepted:
        authcheck_record.fail(f"the token invalidated by this check still works at /api/v1/auth ({afterwards.summary})")


@check("jamf.keep-alive", title="Keep-alive replaces a user token and the old one stops working",
       sends="A fresh auditor token: POST /api/v1/auth/keep-alive, GET /api/v1/auth with the old and the new token, then the new one "
             "invalidated.",
       severity="medium", area="jamf", refs=["Jamf Pro API: POST /v1/auth/keep-alive", "RFC 6819 §5.1.5.3"],
       remediation="Jamf Pro kept the old token alive after keep-alive; report it to Jamf.")
def test_keep_alive(jamf_provider, authcheck_run, authcheck_record):
    minted = _mint(jamf_provider, authcheck_record)
    renewed = jamf_provider.request("POST", "/api/v1/auth/keep-alive", minted.token)
    authcheck_record.attach(renewed.exchange)
    body = renewed.json() if renewed.status == 200 else None
    new = body.get("token") if isinstance(body, dict) else None
    if not isinstance(new, str) or not new:
        _decisive(renewed, "POST /api/v1/auth/keep-alive")
        authcheck_record.fail(f"keep-alive answered HTTP {renewed.status} without a new token",
                              expected={"keep-alive": "a new token"}, observed={"keep-alive": f"HTTP {renewed.status}"})
    authcheck_run.redactor.add(new)
    new_token = Secret(new, label="renewed token")
    old_after = jamf_provider.request("GET", "/api/v1/auth", minted.token)
    new_after = jamf_provider.request("GET", "/api/v1/auth", new_token)
    cleanup = jamf_provider.request("POST", "/api/v1/auth/invalidate-token", new_token)
    authcheck_record.attach(old_after.exchange, new_after.exchange, cleanup.exchange)
    renewed_answer = _decisive(new_after, "the renewed token at GET /api/v1/auth")
    old_answer = _decisive(old_after, "the replaced token at GET /api/v1/auth")
    authcheck_record.expect({"keep-alive": "a new token", "renewed token": "accepted", "old token": REFUSED_ANY},
                            {"keep-alive": "a new token", "renewed token": word(renewed_answer),
                             "old token": word(old_answer)})
    if not renewed_answer.accepted:
        authcheck_record.fail(f"the renewed token is refused ({renewed_answer.summary})")
    if old_answer.accepted:
        authcheck_record.fail(f"the token replaced by keep-alive still works ({old_answer.summary})")
