"""Token validation at the resource server: the API refuses every credential it should refuse.

Probes are sent to the API's first GET rule only (a safe request). Forged tokens are built locally from
the claims of a real token the API accepts there (``api_baseline``): nothing here can sign with the
provider's key, so tokens that are wrong only in their claims (another audience, another issuer,
expired, not yet valid) are real tokens from the probe sources the policy declares in ``[apis.X.probes]``.
Each probe states ``refused (401)`` beside what it observed in the same words (``_api_answers``); a probe whose
answer says neither accepted nor refused (throttled, a server error, a redirect, a refusal of the request's size:
413 or 431) decides nothing.
"""

from __future__ import annotations

import math
import secrets
import time

import pytest

from pytest_authcheck import _forge as forge
from pytest_authcheck import check
from pytest_authcheck._api import refusal_problem
from pytest_authcheck._api_answers import disguised_refusal, size_refusal, word
from pytest_authcheck._errors import EvaluationError
from pytest_authcheck._expect import OneOf
from pytest_authcheck.observations import NotEvaluated, observe_resource

PROBES_FACT = "probes"
REFUSED = "refused (401)"
# RFC 6750 §3.1: a request that is not well formed may get 400 invalid_request instead.
REFUSED_MALFORMED = OneOf(("refused (401)", "refused (400)"), "refused (400 or 401)")


class _Answers:
    """What the API did with each labelled probe: the word observed, the problem when it was not refused as due,
    and the probes whose answer says neither (throttled, a server error, a redirect, 413 or 431)."""

    def __init__(self) -> None:
        self.observed: dict[str, str] = {}
        self.problems: dict[str, str] = {}
        self.undecided: list[str] = []
        self.sent = 0


def _send(api, rule, record, requests: dict[str, dict], *, malformed: bool = False, key: str = "token",
          served: bool = False) -> _Answers:
    """Send each labelled set of headers to ``rule``; the answers judged (``observe_resource``) and the probes fact.

    ``served``: the same request with a good credential was served (the baseline), so a "nothing here" answer
    (404, 405, 410) to a probe is a refusal in disguise rather than a missing resource."""
    answers, outcomes = _Answers(), []
    for label, headers in requests.items():
        response = api.send(rule, headers)
        record.attach(response.exchange)
        answers.sent += 1
        answer = observe_resource(response)
        undecided = size_refusal(answer) or (None if answer.decisive or (served and disguised_refusal(answer))
                                              else answer.why_not_evaluable())
        if undecided is not None:
            answers.undecided.append(f"{label}: {undecided}")
            outcomes.append({key: label, "status": response.status, "verdict": "not evaluated"})
            continue
        answers.observed[label] = word(answer)
        problem = refusal_problem(response.status, malformed=malformed)
        outcomes.append({key: label, "status": response.status, "verdict": "refused" if problem is None else problem})
        if problem is not None:
            answers.problems[label] = problem
    record.fact(PROBES_FACT, {"request": rule.request, "outcomes": outcomes})
    return answers


def _send_probes(api, baseline, record, tokens: dict[str, str], *, malformed: bool = False) -> _Answers:
    """Send each labelled token as a bearer to the baseline request."""
    return _send(api, baseline.rule, record, {label: api.bearer(token) for label, token in tokens.items()},
                 malformed=malformed, served=True)


def _conclude(record, what: str, answers: _Answers, *, malformed: bool = False) -> None:
    """Expect every probe refused; fail naming those that were not, or not evaluated when no answer could tell."""
    if not answers.problems and answers.undecided:
        raise NotEvaluated("; ".join(answers.undecided))
    due = REFUSED_MALFORMED if malformed else REFUSED
    record.expect({label: due for label in answers.observed}, answers.observed)
    if answers.problems:
        record.fail(f"{len(answers.problems)} of {answers.sent} {what} not refused: "
                    + "; ".join(f"{label}: {problem}" for label, problem in answers.problems.items()))


@check("api.no-credential", title="A request without credentials gets 401 with a Bearer challenge",
       sends="The API's first GET rule without any credential.",
       severity="medium", area="api", refs=["RFC 6750 §3", "RFC 6750 §3.1", "RFC 9110 §11.6.1", "RFC 9110 §15.5.2"],
       remediation="Answer requests that carry no credential with 401 and a WWW-Authenticate: Bearer challenge "
                   "(realm optional, no error code), so clients know how to authenticate.")
def test_no_credential(api, authcheck_record):
    rule = api.spec.safe_rule()
    if rule is None:
        pytest.skip(f"apis.{api.name} has no GET rule to probe safely")
    response = api.send(rule, {})
    authcheck_record.attach(response.exchange)
    answer = observe_resource(response)
    undecided = size_refusal(answer) or (None if answer.decisive else answer.why_not_evaluable())
    if undecided is not None:
        raise NotEvaluated(f"{rule.request} without credentials: {undecided}")
    seen = answer.details["challenges"]
    authcheck_record.fact("challenges", seen.describe())
    observed_challenge = "Bearer" if seen.bearer else ", ".join(c.scheme for c in seen.items) or "none"
    authcheck_record.expect({"answer": REFUSED, "challenge": "Bearer"},
                            {"answer": word(answer), "challenge": observed_challenge})
    if response.status != 401:
        authcheck_record.fail(f"{rule.request} without credentials answered HTTP {response.status} instead of 401")
    if seen.bearer is None:
        authcheck_record.fail(f"{rule.request} without credentials answered 401 without a WWW-Authenticate: Bearer "
                              f"challenge (got {seen.describe()})")


@check("api.malformed-token", title="Malformed bearer tokens are refused",
       sends="The API's first GET rule with four bearer values that are not tokens (not a JWT, two segments, segments not base64url JSON, "
             "empty segments).",
       severity="high", area="api", refs=["RFC 6750 §3.1", "RFC 7519 §7.2"],
       remediation="Reject any bearer value that is not a well-formed, verifiable token with 401 invalid_token.")
def test_malformed_token(api, api_baseline, authcheck_record):
    tokens = forge.malformed()
    answers = _send_probes(api, api_baseline, authcheck_record, tokens, malformed=True)
    _conclude(authcheck_record, "malformed tokens", answers, malformed=True)


@check("api.altered-signature", title="A token whose signature or claims were altered is refused",
       sends="The API's first GET rule with a token it accepts, altered three ways: one signature bit flipped, the signature removed, sub "
             "changed under the old signature.",
       severity="critical", area="api", refs=["RFC 7515 §5.2", "RFC 9068 §4", "RFC 8725 §3.1"],
       remediation="Verify every token's signature against the issuer's published keys before using its claims.")
def test_altered_signature(api, api_baseline, authcheck_record):
    try:
        real = api_baseline.token.reveal()
        tokens = {"real token, one signature bit flipped": forge.altered_signature(real),
                  "real token, signature removed": forge.stripped_signature(real),
                  "real token, sub changed, old signature kept": forge.altered_claims(real)}
    except forge.ForgeError as exc:
        raise EvaluationError(f"cannot alter the real token: {exc}") from None
    answers = _send_probes(api, api_baseline, authcheck_record, tokens)
    _conclude(authcheck_record, "tokens with an altered signature", answers)


@check("api.alg-none", title="Unsigned tokens (alg none, in any spelling) are refused",
       sends="The API's first GET rule with the accepted token's claims re-encoded unsigned, alg none in several spellings.",
       severity="critical", area="api", refs=["RFC 8725 §2.1", "RFC 8725 §3.1", "RFC 7519 §6", "RFC 9068 §4"],
       remediation="Accept only the signing algorithms the issuer uses (an explicit allow-list such as RS256); "
                   "never 'none', whatever its case.")
def test_alg_none(api, api_baseline, authcheck_record):
    try:
        tokens = {f"alg={s!r}, real claims, no signature": forge.alg_none(api_baseline.token.reveal(), s)
                  for s in forge.NONE_SPELLINGS}
    except forge.ForgeError as exc:
        raise EvaluationError(f"cannot re-encode the real token: {exc}") from None
    answers = _send_probes(api, api_baseline, authcheck_record, tokens)
    _conclude(authcheck_record, "unsigned tokens", answers)


@check("api.key-confusion", title="HS256 tokens keyed with the provider's public key are refused",
       sends="The API's first GET rule with HS256 tokens of the accepted token's claims, keyed with the provider's published RSA public "
             "key (in several encodings); reads the JWK Set.",
       severity="critical", area="api", refs=["RFC 8725 §2.1", "RFC 8725 §3.1", "RFC 8725 §3.2"],
       remediation="Bind each key to its algorithm: verify RS256/ES256 tokens with public keys only and never "
                   "accept an HMAC algorithm keyed with a public key (pin the allowed algorithms).")
def test_key_confusion(api, api_baseline, authcheck_record, authcheck_run):
    provider = authcheck_run.oidc_providers.get(api.spec.provider or "")
    if provider is None:
        pytest.skip(f"apis.{api.name} names no oidc provider, so there is no public key to confuse")
    jwks = provider.jwks()
    authcheck_record.attach(jwks.exchange)
    kid = forge.split(api_baseline.token.reveal())[0].get("kid")
    keys = [k for k in jwks.json_object().get("keys", []) if isinstance(k, dict) and k.get("kty") == "RSA"]
    chosen = [k for k in keys if k.get("kid") == kid] or keys
    if not chosen:
        pytest.skip(f"providers.{provider.name} publishes no RSA key, so HMAC key confusion does not apply")
    try:
        tokens = forge.key_confusion(api_baseline.token.reveal(), chosen[0])
    except forge.ForgeError as exc:
        raise EvaluationError(f"cannot build the HS256 tokens: {exc}") from None
    authcheck_record.fact("public key used as HMAC secret", {"kid": chosen[0].get("kid"), "encodings": list(tokens)})
    answers = _send_probes(api, api_baseline, authcheck_record, tokens)
    _conclude(authcheck_record, "HS256 tokens keyed with the public key", answers)


def _send_real(api, api_baseline, authcheck_record, probe: str, label: str) -> _Answers:
    token = api.probe_token(probe)
    if token.obtained is not None:
        authcheck_record.attach(token.obtained.response.exchange)
    authcheck_record.jwt(f"{label} (from {token.source})", token.token.reveal())
    return _send_probes(api, api_baseline, authcheck_record, {f"{label} from {token.source}": token.token.reveal()})


@check("api.other-audience", title="A valid token issued for another audience is refused",
       sends="A token from the probes.other_audience source (a client's token for another audience, or a bearer) to the API's first GET "
             "rule.",
       severity="high", area="api", refs=["RFC 9068 §4", "RFC 7519 §4.1.3", "RFC 8707 §2", "RFC 8725 §3.9",
                                          "RFC 9700 §2.3"],
       remediation="Check that the token's aud contains this API's audience identifier and refuse it otherwise.")
def test_other_audience(api, api_baseline, authcheck_record):
    token = api.probe_token("other_audience")
    audiences = (token.claims or {}).get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if api.spec.audience is None:
        pytest.skip(f"apis.{api.name} declares no audience")
    if api.spec.audience in audiences:
        raise EvaluationError(f"the other_audience token from {token.source} has this API's audience "
                              f"{api.spec.audience!r} (aud {audiences}); it cannot show whether aud is checked")
    authcheck_record.fact("audiences", {"api": api.spec.audience, "probe token": audiences})
    answers = _send_real(api, api_baseline, authcheck_record, "other_audience", "valid token for another audience")
    _conclude(authcheck_record, "tokens for another audience", answers)


@check("api.other-issuer", title="A valid token from another issuer is refused",
       sends="A token from the probes.other_issuer source (another provider's) to the API's first GET rule.",
       severity="critical", area="api", refs=["RFC 9068 §4", "RFC 7519 §4.1.1", "RFC 8725 §3.8"],
       remediation="Accept tokens only from the configured issuer: compare iss exactly and verify with that "
                   "issuer's keys only, never with keys discovered from the token's own iss.")
def test_other_issuer(api, api_baseline, authcheck_record):
    token = api.probe_token("other_issuer")
    issuer = (token.claims or {}).get("iss")
    if api.issuer is not None and issuer == api.issuer:
        raise EvaluationError(f"the other_issuer token from {token.source} was issued by the API's own issuer "
                              f"{issuer!r}; it cannot show whether iss is checked")
    authcheck_record.fact("issuers", {"api": api.issuer, "probe token": issuer})
    answers = _send_real(api, api_baseline, authcheck_record, "other_issuer", "valid token from another issuer")
    _conclude(authcheck_record, "tokens from another issuer", answers)


@check("api.expired-token", title="A real token is refused once it has expired",
       sends="A token from the probes.short_lived source to the API's first GET rule while it is valid, and again once its exp plus the "
             "API's leeway has passed (it waits at most max_expiry_wait).",
       severity="high", area="api", refs=["RFC 7519 §4.1.4", "RFC 9068 §4", "RFC 6750 §3.1"],
       remediation="Require exp and refuse tokens whose exp (plus a small clock leeway) has passed.")
def test_expired_token(api, api_baseline, authcheck_record):
    # What is tested: a real token of the short_lived probe client, accepted while valid, sent again after its
    # exp plus the API's leeway. A re-signed expired token cannot be made without the provider's private key.
    token = api.probe_token("short_lived")
    if token.obtained is not None:
        authcheck_record.attach(token.obtained.response.exchange)
    authcheck_record.jwt(f"short-lived token (from {token.source})", token.token.reveal())
    wait = forge.expiry_wait(token.claims or {}, api.spec.leeway)
    if wait is None and token.obtained is not None and isinstance(token.obtained.expires_in, (int, float)):
        wait = max(0.0, token.obtained.obtained_at + token.obtained.expires_in + api.spec.leeway + 1.0 - time.time())
    if wait is None:
        pytest.skip(f"the token from {token.source} states no expiry (no exp claim, no expires_in)")
    if wait > api.spec.max_expiry_wait:
        key, needed = f"apis.{api.spec.name}", math.ceil(wait)
        if api.spec.leeway + 1.0 > api.spec.max_expiry_wait:
            # The leeway alone rules out every token (even one expiring now): only these two keys lift it.
            pytest.skip(f"{key}.leeway ({api.spec.leeway:g}s) leaves no room within {key}.max_expiry_wait "
                        f"({api.spec.max_expiry_wait:g}s): no token can be waited for; set max_expiry_wait to at "
                        f"least {needed}s (or declare the API's real, shorter leeway)")
        pytest.skip(f"the token from {token.source} expires (plus the API's leeway of {api.spec.leeway:g}s) in "
                    f"{wait:.0f}s, more than {key}.max_expiry_wait ({api.spec.max_expiry_wait:g}s): declare a client "
                    f"whose tokens live seconds as {key}.probes.short_lived, or set max_expiry_wait to {needed}s")
    fresh = api.send(api_baseline.rule, api.bearer(token.token.reveal()))
    authcheck_record.attach(fresh.exchange)
    before = observe_resource(fresh)
    if wait > 0 and not before.decisive:
        raise NotEvaluated(f"the short_lived token sent before it expired: {before.why_not_evaluable()}; refusing it "
                           "after expiry would prove nothing")
    if wait > 0 and fresh.status == 401:
        exp = (token.claims or {}).get("exp")
        late = time.time() - exp if isinstance(exp, (int, float)) and not isinstance(exp, bool) else 0.0
        cause = (f"it had already expired when the answer came ({late:.1f}s after exp): give the short_lived client "
                 "a few seconds more" if late > 0 else "before it expired")
        raise NotEvaluated(f"the short_lived token was refused (HTTP {fresh.status}) {cause}; refusing it "
                           "after expiry would prove nothing")
    authcheck_record.fact("expiry", {"accepted before expiry": fresh.status if wait > 0 else None,
                                     "waited seconds": round(wait, 1), "leeway seconds": api.spec.leeway})
    time.sleep(wait)
    answers = _send_probes(api, api_baseline, authcheck_record,
                           {f"real token from {token.source}, expired": token.token.reveal()})
    _conclude(authcheck_record, "expired tokens", answers)


@check("api.not-yet-valid", title="A real token whose nbf is in the future is refused",
       sends="The token from the probes.not_yet_valid source (nbf in the future) to the API's first GET rule.",
       severity="medium", area="api", refs=["RFC 7519 §4.1.5", "RFC 9068 §4"],
       remediation="Refuse tokens whose nbf (minus a small clock leeway) is still in the future.")
def test_not_yet_valid(api, api_baseline, authcheck_record):
    token = api.probe_token("not_yet_valid")
    authcheck_record.jwt(f"not-yet-valid token (from {token.source})", token.token.reveal())
    remaining = forge.not_yet_valid_for(token.claims or {}, api.spec.leeway)
    if remaining is None:
        pytest.skip(f"the token from {token.source} is valid now (no nbf beyond the API's leeway of "
                    f"{api.spec.leeway:g}s); declare a source of tokens whose nbf is in the future")
    answers = _send_probes(api, api_baseline, authcheck_record,
                           {f"real token from {token.source}, nbf in {remaining:.0f}s": token.token.reveal()})
    _conclude(authcheck_record, "not-yet-valid tokens", answers)


def _key_headers(api) -> list[str]:
    return sorted({p.header for p in api.spec.api_key_principals() if p.header})


@check("api.unknown-api-key", title="An unknown API key is refused",
       sends="The API's first GET rule with a random key in each API-key header the principals use.",
       severity="high", area="api", refs=["RFC 9110 §15.5.2", "OWASP API Security Top 10 2023 API2"],
       remediation="Look API keys up in the key store and answer 401 for any key that is not there.")
def test_unknown_api_key(api, authcheck_record):
    rule = api.spec.safe_rule()
    headers = _key_headers(api)
    if rule is None or not headers:
        pytest.skip(f"apis.{api.name} has " + ("no GET rule to probe safely" if rule is None else "no API key principal"))
    answers = _send(api, rule, authcheck_record,
                    {f"random key in {h}": {h: f"authcheck-unknown-{secrets.token_hex(16)}"} for h in headers},
                    key="probe")
    _conclude(authcheck_record, "unknown API keys", answers)


@check("api.revoked-api-key", title="A revoked API key is refused",
       sends="The API's first GET rule with the credential of each principal declared revoked = true.",
       severity="high", area="api", refs=["RFC 9110 §15.5.2", "OWASP API Security Top 10 2023 API2"],
       remediation="Delete or disable revoked keys in the key store at once, and answer 401 for them as for unknown keys.")
def test_revoked_api_key(api, authcheck_record):
    rule = api.spec.safe_rule()
    revoked = [p for p in api.spec.principals.values() if p.revoked]
    if rule is None or not revoked:
        pytest.skip(f"apis.{api.name} has " + ("no GET rule to probe safely" if rule is None else
                                               "no principal declared revoked = true"))
    answers = _send(api, rule, authcheck_record,
                    {p.name: api.credential(p, authcheck_record) for p in revoked}, key="principal")
    _conclude(authcheck_record, "revoked credentials", answers)
