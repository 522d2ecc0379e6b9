"""The provider suites (discovery, jwks, tls, clock) against a real oidc-provider IdP.

Every check passes on the good IdP; each broken variant (or a policy that disagrees with a correct IdP)
fails exactly the checks it should, with a message naming what was expected and what was observed,
and nothing else fails.
"""

from __future__ import annotations

import re

# httpx loads httpcore lazily and caches httpcore's exception classes in a module global on first use.
# pytester's in-process runs drop modules first imported during a run from sys.modules, so the second
# run would import a fresh httpcore whose exceptions httpx no longer maps: a TLS failure would escape as
# a raw httpcore.ConnectError instead of the plugin's TransportError. Importing it here pins one copy.
import httpcore  # noqa: F401  (see above)
import pytest

from tests.conftest import oidc_policy
from tests.html_report import readable
from tests.idp.world import IdpSpec

PROVIDER_CHECKS = {
    "discovery.reachable", "discovery.schema", "discovery.issuer-match", "discovery.endpoints-on-issuer-host",
    "discovery.rfc8414", "discovery.pkce-s256", "discovery.grant-types", "discovery.response-types",
    "discovery.scopes", "discovery.signing-algs", "discovery.token-auth-methods", "discovery.features",
    "discovery.endpoints-answer", "jwks.reachable", "jwks.structure", "jwks.unique-kid", "jwks.key-strength", "jwks.no-private-material",
    "jwks.use-alg-coherent", "jwks.algs-backed", "jwks.token-signature",
    "tls.chain-trusted", "tls.hostname", "tls.cert-lifetime", "tls.protocol-version", "tls.no-plain-http",
    "clock.date-header", "clock.token-iat",
}
# Checks that only handshake (no HTTP): they still reach a verdict when the certificate breaks HTTPS.
TLS_ONLY_CHECKS = {"tls.chain-trusted", "tls.hostname", "tls.cert-lifetime", "tls.protocol-version"}
TOKEN_CHECKS = {"jwks.token-signature", "clock.token-iat"}

GOOD_ADVERTISED_AUTH_METHODS = ["client_secret_basic", "client_secret_jwt", "client_secret_post",
                                "private_key_jwt", "none"]
# Not applicable under the test policy (oidc_policy): what it leaves unset gives these checks nothing to judge.
DEFAULT_SKIPS = {
    "discovery.features": "the policy declares no features for this provider",
    "discovery.rfc8414": "providers.sso.rfc8414 is not set: set rfc8414 = true to require the RFC 8414 document",
    "discovery.token-auth-methods": "providers.sso.token_endpoint_auth_methods is not set and public client(s) are "
                                    "declared (clients.cli), so every method, 'none' too, is allowed: set "
                                    "token_endpoint_auth_methods to judge the advertised methods",
}


# ---------------------------------------------------------------------------------------------------
# helpers

PROVIDER_AREAS = "discovery or jwks or tls or clock"


@pytest.fixture
def run_authcheck(run_authcheck):
    """Only the provider suites: the other areas (local credential hygiene, ...) have their own tests.

    Every run also holds the provider checks to the result model's invariants (tests/test_provider_invariants.py).
    """
    def run(policy: str, *args: str, **kwargs):
        done = run_authcheck(policy, *(() if "-m" in args else ("-m", PROVIDER_AREAS)), *args, **kwargs)
        broken = {r["check"]: r["message"] for r in done.report.get("results", [])
                  if r["check"].split(".")[0] in ("discovery", "jwks", "tls", "clock")
                  and any(t in (r["message"] or "") for t in ("passed against its own evidence", "without stating"))}
        assert not broken, broken
        return done
    return run



def _fill(pattern: str, idp) -> str:
    """A regex with {issuer}, {base} and {port} replaced by the IdP's (escaped) values."""
    return (pattern.replace("{issuer}", re.escape(idp.served_issuer))
            .replace("{base}", re.escape(idp.base_url))
            .replace("{port}", str(idp.port)))


def _assert_evidence(result: dict) -> None:
    evidence = result.get("evidence") or {}
    assert evidence.get("exchanges") or evidence.get("facts"), result
    assert "expected" in result and "observed" in result, result


def _assert_exchanges_resolve(run) -> None:
    for result in run.report["results"]:
        for exchange_id in result.get("evidence", {}).get("exchanges", []):
            assert exchange_id in run.report["exchanges"], (result["check"], exchange_id)


def _assert_all_provider_checks_ran(run) -> None:
    missing = PROVIDER_CHECKS - set(run.by_check())
    assert not missing, f"checks that did not run: {missing}\n{run.output()}"


def _assert_only_failure(run, check_id: str, *patterns: str) -> dict:
    """``check_id`` is the one check that is not passed/skipped; it failed, its message matches every pattern."""
    _assert_all_provider_checks_ran(run)
    assert run.not_passed() == {check_id: "failed"}, run.output()
    result = run.by_check()[check_id]
    for pattern in patterns:
        assert re.search(pattern, result["message"]), (pattern, result["message"])
    _assert_evidence(result)
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    return result


def _assert_all_pass(run, *, skipped: dict[str, str]) -> None:
    """Nothing failed or errored; exactly ``skipped`` (check -> reason fragment) were skipped."""
    _assert_all_provider_checks_ran(run)
    assert run.not_passed() == {}, run.output()
    actual = {c: r["message"] for c, r in run.by_check().items() if r["status"] == "skipped"}
    assert set(actual) == set(skipped), actual
    for check_id, reason in skipped.items():
        assert actual[check_id] and reason in actual[check_id], (check_id, actual[check_id])
    assert run.result.ret == pytest.ExitCode.OK
    assert run.report["summary"]["verdict"] == "passed"


def _without_cli_client(policy: str) -> str:
    """The policy without the public client ``cli`` (it is the last table oidc_policy writes)."""
    head, _, tail = policy.partition("[clients.cli]")
    assert not re.search(r"(?m)^\[", tail), "cli is expected to be the last table"
    return head


# ---------------------------------------------------------------------------------------------------
# 1. the good IdP


def test_good_idp_passes_every_provider_check(idp, run_authcheck):
    good = idp("good")
    run = run_authcheck(oidc_policy(good))

    _assert_all_pass(run, skipped=DEFAULT_SKIPS)
    assert {r["target"] for r in run.report["results"] if "[no-" not in r["nodeid"]} == {"providers.sso"}
    # passing checks carry evidence too (the report proves the verdict either way)
    for check_id in ("discovery.issuer-match", "jwks.algs-backed", "tls.cert-lifetime", "clock.date-header"):
        _assert_evidence(run.by_check()[check_id])
    assert run.by_check()["discovery.issuer-match"]["observed"] == {"issuer": good.served_issuer,
                                                                    "form": "https, without query or fragment"}
    assert run.by_check()["jwks.token-signature"]["evidence"]["jwts"], "the verified token's claims are evidence"
    _assert_exchanges_resolve(run)


def test_good_idp_with_every_option_declared_passes(idp, run_authcheck):
    """The policy states exactly what the good IdP offers: the declared branches of each check pass."""
    good = idp("good")
    provider = f"""
        grant_types = ["authorization_code", "refresh_token", "client_credentials"]
        response_types = ["code"]
        token_endpoint_auth_methods = {GOOD_ADVERTISED_AUTH_METHODS!r}
        features = ["revocation", "introspection"]
        allow_plain_pkce = true
        allowed_hosts = ["localhost"]
        rfc8414 = false
        """.replace("'", '"')
    run = run_authcheck(oidc_policy(good, provider=provider))

    _assert_all_pass(run, skipped={"discovery.rfc8414": "providers.sso.rfc8414 = false: the policy does not require"})
    checks = run.by_check()
    assert checks["discovery.features"]["expected"]["revocation"] == "revocation_endpoint advertised"
    assert checks["discovery.features"]["observed"]["introspection"] == f"{good.base_url}/token/introspection"
    assert checks["discovery.response-types"]["expected"] == "among code"
    assert checks["discovery.response-types"]["observed"] == ["code"]
    assert checks["discovery.grant-types"]["expected"] == "exactly authorization_code, refresh_token, client_credentials"
    assert checks["discovery.token-auth-methods"]["observed"] == GOOD_ADVERTISED_AUTH_METHODS


def test_without_a_client_credentials_client_the_token_checks_skip(idp, run_authcheck):
    good = idp("good")
    policy = oidc_policy(good, provider='grant_types = ["authorization_code", "refresh_token", "client_credentials"]')
    policy = policy.replace('client_secret = "${DEPLOYER_SECRET}"\n', "")
    run = run_authcheck(policy)
    reason = "the policy declares no active client_credentials client with a secret for this provider"
    _assert_all_pass(run, skipped={**DEFAULT_SKIPS, "jwks.token-signature": reason, "clock.token-iat": reason})


# ---------------------------------------------------------------------------------------------------
# 2. broken IdP variants: exactly the expected checks fail

ALGS_WITH_UNBACKED = 'signing_algs = ["RS256", "ES256", "ES384", "PS512"]'

# variant -> (failed checks -> message patterns, the checks' expected/observed to compare (or None), policy tweak)
VARIANT_CASES = {
    "issuer-mismatch": {
        "failed": {"discovery.issuer-match": [r"^metadata issuer '{base}/other' is not the policy's issuer '{issuer}'$"]},
        "details": lambda checks, idp: (checks["discovery.issuer-match"]["expected"]["issuer"] == idp.served_issuer
                                        and checks["discovery.issuer-match"]["observed"]["issuer"] == f"{idp.base_url}/other"),
    },
    "weak-rsa-key": {
        "failed": {"jwks.key-strength": [r"kid 'rsa-weak': RSA modulus of 1024 bits \(at least 2048 required\)"]},
    },
    "duplicate-kid": {
        "failed": {"jwks.unique-kid": [r"^kid\(s\) used by more than one key: 'rsa-1'$"]},
        "details": lambda checks, idp: checks["jwks.unique-kid"]["observed"]["kids"] == ["rsa-1", "ec-1", "rsa-1"],
    },
    "private-key-published": {
        "failed": {"jwks.no-private-material": [r"kid 'rsa-1': d, p, q, dp, dq, qi", r"kid 'ec-1': d(;|$)"]},
    },
    "symmetric-key-published": {
        "failed": {"jwks.no-private-material": [r"kid 'hs-1': k \(a symmetric key\)"]},
    },
    "alg-none-advertised": {
        "failed": {"discovery.signing-algs": [r"'none' is advertised in id_token_signing_alg_values_supported"]},
    },
    "http-endpoint": {
        "failed": {"tls.no-plain-http": [r"^not https: token_endpoint = http://127\.0\.0\.1:{port}/token$"]},
        "errors": {check: "could not evaluate: the token endpoint http://127.0.0.1:{port}/token is not https; "
                          "client credentials are never sent over plain http" for check in TOKEN_CHECKS},
    },
    "expired-cert": {
        # an expired chain does not verify (chain-trusted); cert-lifetime says since when
        "failed": {"tls.cert-lifetime": [r"the certificate of 127\.0\.0\.1:{port} expired (0\.9|1\.0|1\.1) days ago "
                                         r"\(not after \d{4}-\d\d-\d\dT"],
                   "tls.chain-trusted": [r"^certificate chain not trusted: 127\.0\.0\.1:{port}: certificate has expired"]},
        "tls_cause": "certificate has expired",
    },
    "expiring-cert": {
        "failed": {"tls.cert-lifetime": [r"the certificate of 127\.0\.0\.1:{port} expires in (4\.9|5\.0) days ",
                                         r"; the policy wants at least 21$"]},
        "details": lambda checks, idp: (checks["tls.cert-lifetime"]["expected"]["days left"] == ">= 21 days left"
                                        and re.match(r"(4\.9|5\.0)\d* days left \(not after ",
                                                     checks["tls.cert-lifetime"]["observed"]["days left"]) is not None),
    },
    "untrusted-cert": {
        "failed": {"tls.chain-trusted": [r"certificate chain not trusted: 127\.0\.0\.1:{port}: "
                                         r"unable to get local issuer certificate"]},
        "tls_cause": "unable to get local issuer certificate",
    },
    "wrong-host-cert": {
        "failed": {"tls.hostname": [r"^the certificate of 127\.0\.0\.1:{port} is for DNS:idp\.invalid, not 127\.0\.0\.1$"]},
        "tls_cause": "IP address mismatch",
    },
    "skewed-clock": {
        "failed": {"clock.date-header": [r"^the provider's clock is (59\d|60\d)s ahead of this machine's "
                                         r"\(max_clock_skew 1m\)$"],
                   "clock.token-iat": [r"^iat is (59\d|60\d)s in the future \(max_clock_skew 1m\)$"]},
    },
    "missing-signing-key": {
        "failed": {"jwks.algs-backed": [r"no published key can verify ES384, PS512\b"]},
        "details": lambda checks, idp: checks["jwks.algs-backed"]["observed"] == {
            "RS256": ["kid 'rsa-1'"], "ES256": ["kid 'ec-1'"], "ES384": [], "PS512": []},
        "policy": lambda text: text.replace('signing_algs = ["RS256", "ES256"]', ALGS_WITH_UNBACKED),
    },
    "dead-registration-endpoint": {
        "failed": {"discovery.endpoints-answer": [r"^1 advertised endpoint\(s\) of providers\.sso do not answer: "
                                                  r"registration_endpoint={base}/reg \(not found: POST → HTTP 404\)$"]},
        "details": lambda checks, idp: (checks["discovery.endpoints-answer"]["observed"]["registration_endpoint"]
                                        == "not found: POST → HTTP 404"
                                        and checks["discovery.endpoints-answer"]["observed"]["token_endpoint"]
                                        == "answers: POST → HTTP 400"),
    },
    "openid-scopes-unadvertised": {
        # the policy's clients use openid, profile and email (OpenID scopes) and deploy, read (the API's own,
        # which a provider MAY leave unadvertised)
        "failed": {"discovery.scopes": [r"^scopes_supported lacks openid, profile$"]},
        "details": lambda checks, idp: checks["discovery.scopes"]["observed"] == ["email", "offline_access"],
    },
    "legacy-tls": {
        "failed": {"tls.protocol-version": [r"^127\.0\.0\.1:{port} still accepts TLSv1\b"]},
        "details": lambda checks, idp: (checks["tls.protocol-version"]["observed"]["TLSv1"] == "accepted"
                                        and checks["tls.protocol-version"]["observed"]["negotiated"] in ("TLSv1.2", "TLSv1.3")),
    },
}


@pytest.mark.parametrize("variant", list(VARIANT_CASES))
def test_broken_variant_fails_exactly_its_checks(idp, run_authcheck, variant):
    case = VARIANT_CASES[variant]
    broken = idp(variant)
    policy = oidc_policy(broken)
    if "policy" in case:
        policy = case["policy"](policy)
    # 23 setup errors with full tracebacks cost seconds of terminal formatting; the report has the causes
    run = run_authcheck(policy, *(["--tb=no"] if "tls_cause" in case else []))
    _assert_all_provider_checks_ran(run)
    checks = run.by_check()
    not_passed = run.not_passed()

    failed = {c for c, s in not_passed.items() if s == "failed"}
    assert failed == set(case["failed"]), run.output()
    for check_id, patterns in case["failed"].items():
        result = checks[check_id]
        for pattern in patterns:
            assert re.search(_fill(pattern, broken), result["message"]), (pattern, result["message"])
        _assert_evidence(result)
    if "details" in case:
        assert case["details"](checks, broken), {c: (checks[c]["expected"], checks[c]["observed"]) for c in case["failed"]}
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    assert run.report["summary"]["verdict"] == "failed"

    errors = {c: checks[c]["message"] for c, s in not_passed.items() if s == "error"}
    if "errors" in case:
        assert errors == {c: _fill(m, broken).replace("\\", "") for c, m in case["errors"].items()}
    elif "tls_cause" in case:
        # HTTPS itself is refused: everything that needs HTTP could not be evaluated (error, never failed),
        # and says why; the handshake-only checks still give their verdict.
        assert set(errors) == PROVIDER_CHECKS - TLS_ONLY_CHECKS, run.output()
        for check_id, message in errors.items():
            assert message.startswith(f"could not evaluate: TLS handshake with https://127.0.0.1:{broken.port} failed: "), message
            assert case["tls_cause"] in message, (check_id, message)
        assert {c for c, r in checks.items() if r["status"] == "passed"} == TLS_ONLY_CHECKS - set(case["failed"])
    else:
        assert errors == {}, run.output()
    _assert_exchanges_resolve(run)


# ---------------------------------------------------------------------------------------------------
# 3. a correct IdP, a policy that says otherwise

GRANTS = 'grant_types = ["authorization_code", "refresh_token", "client_credentials"]'


@pytest.mark.parametrize(("check_id", "provider", "patterns"), [
    pytest.param("discovery.grant-types", 'grant_types = ["authorization_code", "client_credentials"]',
                 [r"^advertises grant type\(s\) the policy does not declare: refresh_token$"], id="grant-undeclared"),
    pytest.param("discovery.grant-types",
                 'grant_types = ["authorization_code", "refresh_token", "client_credentials", '
                 '"urn:ietf:params:oauth:grant-type:device_code"]',
                 [r"^does not advertise declared grant type\(s\): urn:ietf:params:oauth:grant-type:device_code$"],
                 id="grant-not-advertised"),
    pytest.param("discovery.response-types", "response_types = []",
                 [r"^advertises response type\(s\) 'code' the policy does not allow$"], id="response-types"),
    pytest.param("discovery.token-auth-methods", 'token_endpoint_auth_methods = ["private_key_jwt"]',
                 [r"^advertises method\(s\) the policy does not declare: "
                  r"client_secret_basic, client_secret_jwt, client_secret_post, none$"], id="auth-methods"),
    pytest.param("discovery.features", 'features = ["device_authorization"]',
                 [r"^not advertised: device_authorization \(device_authorization_endpoint\)$"], id="features"),
])
def test_policy_stricter_than_the_good_idp_fails_one_check(idp, run_authcheck, check_id, provider, patterns):
    run = run_authcheck(oidc_policy(idp("good"), provider=provider))
    _assert_only_failure(run, check_id, *patterns)


def test_token_auth_none_without_a_public_client_fails(idp, run_authcheck):
    policy = _without_cli_client(oidc_policy(idp("good"), provider=GRANTS))
    run = run_authcheck(policy)
    result = _assert_only_failure(run, "discovery.token-auth-methods",
                                  r"^advertises 'none' \(unauthenticated clients\) but the policy declares no public client: "
                                  r"declare one \(type = \"public\"\) or list the methods the provider may offer in "
                                  r"providers\.sso\.token_endpoint_auth_methods$")
    assert result["expected"] == "no 'none' (no public client is declared)"
    assert "none" in result["observed"]


@pytest.mark.parametrize(("variant", "provider", "check_id"), [
    pytest.param("http-endpoint", "allow_http_loopback = true", "tls.no-plain-http", id="http-loopback"),
    pytest.param("expiring-cert", "cert_min_days = 1", "tls.cert-lifetime", id="cert-min-days"),
    pytest.param("skewed-clock", 'max_clock_skew = "15m"', "clock.date-header", id="clock-skew"),
])
def test_policy_tolerance_makes_the_variant_pass(idp, run_authcheck, variant, provider, check_id):
    run_idp = idp(variant)
    run = run_authcheck(oidc_policy(run_idp, provider=provider))
    _assert_all_provider_checks_ran(run)
    assert run.status(check_id) == "passed", run.by_check()[check_id]
    if variant == "http-endpoint":
        # http on loopback is tolerated, so the client credentials are sent to http://127.0.0.1:PORT/token;
        # the IdP speaks only TLS on that port, so the token checks cannot evaluate (an error, not a failure),
        # and the advertised http token endpoint does not answer (a failure of discovery.endpoints-answer).
        not_passed = run.not_passed()
        assert not_passed.pop("discovery.endpoints-answer") == "failed", run.output()
        assert re.search(rf"token_endpoint=http://127\.0\.0\.1:{run_idp.port}/token \(no connection: POST: ",
                         run.by_check()["discovery.endpoints-answer"]["message"])
        assert set(not_passed) <= TOKEN_CHECKS, not_passed
        assert set(not_passed.values()) <= {"error"}
        for check_id in not_passed:
            assert f"http://127.0.0.1:{run_idp.port}" in run.by_check()[check_id]["message"]
    else:
        _assert_all_pass(run, skipped=DEFAULT_SKIPS)
    if variant == "skewed-clock":
        assert run.status("clock.token-iat") == "passed"
        assert re.match(r"\+(59\d|60\d)s ", run.by_check()["clock.date-header"]["observed"])


# -- checks a stock variant cannot break: a custom IdP with the one defect

@pytest.fixture(scope="module")
def custom_idp(idp_world):
    started = {}

    def get(name: str, **overrides):
        if name not in started:
            started[name] = idp_world.start(IdpSpec(name=name, metadata_overrides=overrides))
        return started[name]

    return get


def test_endpoint_on_another_host_fails_unless_allowed(custom_idp, run_authcheck):
    # "localhost" is the same machine (and the TLS checks still verify it), but not the issuer's host name.
    foreign = custom_idp("userinfo-on-localhost", userinfo_endpoint="https://localhost:{port}/me")
    run = run_authcheck(oidc_policy(foreign))
    result = _assert_only_failure(run, "discovery.endpoints-on-issuer-host",
                                  _fill(r"^1 endpoint\(s\) on hosts the policy does not allow: "
                                        r"userinfo_endpoint=https://localhost:{port}/me$", foreign))
    assert result["expected"] == "each on 127.0.0.1"
    assert result["observed"]["userinfo_endpoint"] == "localhost"

    run = run_authcheck(oidc_policy(foreign, provider='allowed_hosts = ["localhost"]'))
    _assert_all_pass(run, skipped=DEFAULT_SKIPS)


def test_allowed_hosts_are_compared_in_one_spelling_everywhere(custom_idp, run_authcheck):
    """``LocalHost`` is the host ``localhost``: the metadata check allows it, the endpoint check asks it and the TLS
    checks inspect it, exactly as when the policy spells it in lower case."""
    foreign = custom_idp("userinfo-on-localhost", userinfo_endpoint="https://localhost:{port}/me")
    run = run_authcheck(oidc_policy(foreign, provider='allowed_hosts = ["LocalHost"]'))
    _assert_all_pass(run, skipped=DEFAULT_SKIPS)
    checks = run.by_check()
    assert checks["discovery.endpoints-on-issuer-host"]["expected"] == "each on 127.0.0.1 or localhost"
    assert f"localhost:{foreign.port}" in checks["tls.chain-trusted"]["observed"], checks["tls.chain-trusted"]
    assert "userinfo_endpoint" in checks["discovery.endpoints-answer"]["observed"]


def test_pkce_plain_fails_unless_allowed(custom_idp, run_authcheck):
    plain = custom_idp("pkce-plain", code_challenge_methods_supported=["S256", "plain"])
    run = run_authcheck(oidc_policy(plain))
    _assert_only_failure(run, "discovery.pkce-s256",
                         r"^code_challenge_methods_supported advertises 'plain', which the policy does not allow$")

    run = run_authcheck(oidc_policy(plain, provider="allow_plain_pkce = true"))
    _assert_all_pass(run, skipped=DEFAULT_SKIPS)
    # (allow_plain_pkce on the S256-only good IdP passes too: test_good_idp_with_every_option_declared_passes)


def test_pkce_not_advertised_fails(custom_idp, run_authcheck):
    none = custom_idp("pkce-not-advertised", code_challenge_methods_supported=None)
    run = run_authcheck(oidc_policy(none))
    # Not _assert_only_failure: its evidence rule wants an observed value, and here the member is absent.
    _assert_all_provider_checks_ran(run)
    assert run.not_passed() == {"discovery.pkce-s256": "failed"}, run.output()
    result = run.by_check()["discovery.pkce-s256"]
    assert re.search(r"^code_challenge_methods_supported is None; S256 is not advertised$", result["message"])
    assert result["expected"] == "S256, not plain" and result["observed"] is None
    assert result["evidence"]["exchanges"]


# ---------------------------------------------------------------------------------------------------
# 4. the HTML report


def test_an_unadvertised_api_scope_is_not_a_finding_and_the_page_stays_inert(idp, run_authcheck):
    """discovery.scopes owes a place only to the OpenID scopes: a server MAY leave its other scopes out of
    scopes_supported (OIDC Discovery 1.0 §3). The client's scope is also hostile HTML, which the report never
    renders as markup (tests/test_hostile.py holds the failing case with hostile metadata)."""
    hostile_scope = "pay<b>roll</b>&\"x\""
    extra = f"""
        [clients.reporter]
        provider = "sso"
        client_id = "reporter"
        grant_types = ["client_credentials"]
        scopes = ['{hostile_scope}']
        """
    run = run_authcheck(oidc_policy(idp("good"), extra=extra))
    result = run.by_check()["discovery.scopes"]
    assert result["status"] == "passed", result
    assert "openid" in result["expected"] and hostile_scope not in result["expected"]
    assert run.not_passed() == {}, run.not_passed()
    page = readable(run.reports_dir / "authcheck.html")
    assert "<b>roll" not in page


# ---------------------------------------------------------------------------------------------------
# 5. nothing to look at is not applicable; plain-http loopback issuers; endpoints only in RFC 8414

@pytest.fixture(scope="module")
def spec_idp(idp_world):
    """``spec_idp(name, **IdpSpec fields)``: an IdP of its own, started once per module."""
    started = {}

    def get(name: str, **fields):
        if name not in started:
            started[name] = idp_world.start(IdpSpec(name=name, **fields))
        return started[name]

    return get


LOOPBACK_TOLERATED = ("is plain http on a loopback host, which providers.sso.allow_http_loopback tolerates: "
                      "there is no TLS to judge")


def test_plain_http_loopback_issuer_the_policy_allows_passes_without_tls_checks(spec_idp, run_authcheck):
    plain = spec_idp("plain-http", plain_http=True)
    assert plain.served_issuer.startswith("http://127.0.0.1:")
    run = run_authcheck(oidc_policy(plain, provider="allow_http_loopback = true"))
    # The handshake checks have nothing to look at: not applicable, saying why (never a pass, failure or error).
    tls_skips = {check: f"the issuer {plain.served_issuer} {LOOPBACK_TOLERATED}" for check in TLS_ONLY_CHECKS}
    _assert_all_pass(run, skipped={**DEFAULT_SKIPS, **tls_skips})
    checks = run.by_check()
    assert checks["tls.chain-trusted"]["message"].endswith(", and no endpoint on the issuer's host or allowed_hosts is https")
    assert checks["discovery.issuer-match"]["observed"] == {
        "issuer": plain.served_issuer, "form": "http on a loopback host (allow_http_loopback), without query or fragment"}
    assert set(checks["tls.no-plain-http"]["observed"].values()) == {"http on loopback"}
    assert checks["tls.no-plain-http"]["observed"]["token_endpoint"] == "http on loopback"
    # the token (sent over http, which the policy tolerates on loopback) was judged
    assert checks["jwks.token-signature"]["status"] == checks["clock.token-iat"]["status"] == "passed"


def test_plain_http_issuer_without_the_tolerance_is_a_policy_error(spec_idp, run_authcheck):
    """Before any request: an http issuer is refused at load unless it is loopback with allow_http_loopback."""
    plain = spec_idp("plain-http", plain_http=True)
    run = run_authcheck(oidc_policy(plain))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, run.output()
    assert re.search(r"authcheck\.toml:\d+: providers\.sso\.issuer: .*plain http.*allow_http_loopback = true",
                     run.output()), run.output()
    assert not run.report, "no request is sent, no report written"


def test_chain_trusted_judges_every_https_origin(idp, spec_idp, run_authcheck):
    """An endpoint on another origin of the issuer's host (here: the expired-cert IdP's port) is judged too."""
    expired = idp("expired-cert")
    elsewhere = spec_idp("userinfo-on-expired-origin", metadata_overrides={"userinfo_endpoint": f"{expired.base_url}/me"})
    run = run_authcheck(oidc_policy(elsewhere))
    _assert_all_provider_checks_ran(run)
    # the endpoint cannot be reached with a verified connection either: endpoints-answer reports that from its side
    assert run.not_passed() == {"tls.chain-trusted": "failed", "discovery.endpoints-answer": "failed"}, run.output()
    result = run.by_check()["tls.chain-trusted"]
    assert re.search(rf"^certificate chain not trusted: 127\.0\.0\.1:{expired.port}: certificate has expired",
                     result["message"]), result["message"]
    assert result["observed"] == {f"127.0.0.1:{elsewhere.port}": "trusted",
                                  f"127.0.0.1:{expired.port}": result["observed"][f"127.0.0.1:{expired.port}"]}
    assert result["observed"][f"127.0.0.1:{elsewhere.port}"] == "trusted"
    assert set(result["expected"].values()) == {"trusted"}


PATH_ISSUER = "/realms/test"
ONLY_IN_RFC8414 = {"revocation_endpoint": None, "introspection_endpoint": None}


def test_endpoints_only_in_the_rfc8414_document_are_used(spec_idp, run_authcheck):
    """An issuer with a path whose revocation and introspection endpoints only the RFC 8414 document lists."""
    realm = spec_idp("path-rfc8414-only", issuer_path=PATH_ISSUER, openid_metadata_overrides=ONLY_IN_RFC8414)
    run = run_authcheck(oidc_policy(realm, provider='features = ["revocation", "introspection"]\nrfc8414 = true'))
    skipped = {c: m for c, m in DEFAULT_SKIPS.items() if c not in ("discovery.features", "discovery.rfc8414")}
    _assert_all_pass(run, skipped=skipped)
    checks = run.by_check()
    assert checks["discovery.features"]["observed"] == {
        "revocation": f"{realm.served_issuer}/token/revocation", "introspection": f"{realm.served_issuer}/token/introspection"}
    facts = checks["discovery.features"]["evidence"]["facts"]
    assert facts["endpoints only in the RFC 8414 metadata"] == {
        "revocation_endpoint": f"{realm.served_issuer}/token/revocation",
        "introspection_endpoint": f"{realm.served_issuer}/token/introspection"}
    # the RFC 8414 document was fetched once, and its exchange is evidence where its endpoints were used
    rfc8414_gets = [x for x in run.report["exchanges"].values() if x["url"] == realm.rfc8414_url]
    assert len(rfc8414_gets) == 1, rfc8414_gets
    assert any(x in checks["discovery.features"]["evidence"]["exchanges"] for x in run.report["exchanges"]
               if run.report["exchanges"][x]["url"] == realm.rfc8414_url)
    # the endpoints are judged like the others (host, scheme)
    assert checks["tls.no-plain-http"]["observed"]["revocation_endpoint"] == "https"
    assert "introspection_endpoint" in checks["discovery.endpoints-on-issuer-host"]["observed"]
    # a member listed by one document only is no disagreement between them
    assert checks["discovery.rfc8414"]["observed"]["members that differ"] == "none"
    assert checks["discovery.rfc8414"]["evidence"]["facts"]["members listed by one document only"] == {
        "only in openid-configuration": [], "only in oauth-authorization-server": ["introspection_endpoint",
                                                                                   "revocation_endpoint"]}
    # the schema check judges the OpenID document as served (no RFC 8414 member was counted in)
    assert checks["discovery.schema"]["status"] == "passed"


def test_a_client_check_uses_the_revocation_endpoint_only_rfc8414_lists(spec_idp, run_authcheck):
    realm = spec_idp("path-rfc8414-only", issuer_path=PATH_ISSUER, openid_metadata_overrides=ONLY_IN_RFC8414)
    policy = oidc_policy(realm, provider='test_user = { username = "alice", password = "${SSO_TEST_PASSWORD}" }')
    run = run_authcheck(policy, "-m", "clients", "-k", "test_revoked_inactive and cli",
                        env={"SSO_TEST_PASSWORD": "alice-test-password-1234"})
    result = run.by_check()["revocation.revoked-inactive"]
    # Without the RFC 8414 endpoints the check is skipped ("does not advertise both a revocation and an introspection
    # endpoint"); with them it revokes a refresh token at the endpoint only that document lists. (Its verdict is the
    # client suite's: tests/test_suites_clients.py.)
    assert result["status"] != "skipped", result
    posted = {run.report["exchanges"][x]["url"] for x in result["evidence"]["exchanges"]
              if run.report["exchanges"][x]["method"] == "POST"}
    assert {f"{realm.served_issuer}/token/revocation", f"{realm.served_issuer}/token/introspection"} <= posted, posted


def test_rfc8414_metadata_of_another_issuer_is_not_used(spec_idp, run_authcheck):
    realm = spec_idp("path-rfc8414-other-issuer", issuer_path=PATH_ISSUER, openid_metadata_overrides=ONLY_IN_RFC8414,
                     rfc8414_metadata_overrides={"issuer": "{base}/elsewhere"})
    run = run_authcheck(oidc_policy(realm, provider='features = ["revocation"]'))
    _assert_only_failure(run, "discovery.features", r"^not advertised: revocation \(revocation_endpoint\)$")

    run = run_authcheck(oidc_policy(realm, provider="rfc8414 = true"))
    result = _assert_only_failure(run, "discovery.rfc8414",
                                  r"^the RFC 8414 metadata differs from the OIDC metadata in issuer$")
    assert result["observed"]["members that differ"] == "issuer"


def test_rfc8414_is_required_only_when_the_policy_asks(spec_idp, idp, run_authcheck):
    """Most providers serve only OpenID discovery: that passes unless the policy sets rfc8414 = true."""
    openid_only = spec_idp("openid-discovery-only", serve_rfc8414=False)
    run = run_authcheck(oidc_policy(openid_only))
    _assert_all_pass(run, skipped=DEFAULT_SKIPS)

    run = run_authcheck(oidc_policy(openid_only, provider="rfc8414 = true"))
    result = _assert_only_failure(run, "discovery.rfc8414", rf"^{re.escape(openid_only.rfc8414_url)} answered HTTP 404$")
    assert result["expected"]["HTTP status"] == 200 and result["observed"]["HTTP status"] == 404

    # the good IdP serves both documents, and they agree
    run = run_authcheck(oidc_policy(idp("good"), provider="rfc8414 = true"))
    _assert_all_pass(run, skipped={c: m for c, m in DEFAULT_SKIPS.items() if c != "discovery.rfc8414"})
    assert run.by_check()["discovery.rfc8414"]["observed"] == {"HTTP status": 200, "body": "a JSON object",
                                                               "members that differ": "none"}
