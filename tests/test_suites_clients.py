"""The client suites against a real oidc-provider IdP: control clients pass, each broken client fails its check.

The "clients" IdP (``tests.idp.world.client_matrix_spec``) registers the good clients and, beside them, one
broken client per check that differs from its control only in its defect. One ``pytest --authcheck`` run
over a policy listing them all gives the whole matrix.
"""

from __future__ import annotations

import collections
import re
import textwrap
import urllib.parse

import httpcore  # noqa: F401  (pins one httpcore for pytester's in-process runs; see test_suites_oidc)
import pytest

from tests.conftest import oidc_policy
from tests.html_report import readable
from tests.idp.world import WEB_PORTAL_SECRET, client_matrix_spec

STALE_SECRET = "dpl_stale_0000000000000000000000000000000000"
TEST_PASSWORD = "alice-test-password-1234"


def client(name: str, client_id: str, **keys: object) -> str:
    lines = [f"[clients.{name}]", 'provider = "sso"', f'client_id = "{client_id}"']
    for key, value in keys.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"{key} = [" + ", ".join(f'"{v}"' for v in value) + "]")
        else:
            lines.append(f'{key} = "{value}"')
    return "\n".join(lines) + "\n\n"


def cc(name: str, client_id: str, **keys: object) -> str:
    return client(name, client_id, client_secret="${DEPLOYER_SECRET}", type="confidential", application="service",
                  grant_types=["client_credentials"], scopes=["deploy", "read"], **keys)


def native(name: str, client_id: str, **keys: object) -> str:
    return client(name, client_id, type="public", application="native",
                  grant_types=["authorization_code", "refresh_token"], redirect_uris=["http://127.0.0.1/callback"],
                  scopes=["openid", "profile", "email", "deploy", "read"], pkce="S256", refresh_token_rotation=True, **keys)


def web(name: str, client_id: str, *, refresh: bool = False, **keys: object) -> str:
    grants = ["authorization_code", "refresh_token"] if refresh else ["authorization_code"]
    scopes = ["openid", "profile", "email"] if refresh else ["openid", "profile", "email", "read"]
    return client(name, client_id, client_secret="${WEB_PORTAL_SECRET}", type="confidential", application="web",
                  grant_types=grants, redirect_uris=["https://app.test/auth/callback"], scopes=scopes, **keys)


CONTROLS = (cc("deployer", "ci-deployer", access_token_max="15m") + native("cli", "enclii-cli", refresh_token_max="30d")
            + web("portal", "web-portal") + web("portal-rt", "web-portal-rt", refresh=True)
            + client("retired", "retired-app", state="removed", redirect_uris=["https://app.test/auth/callback"]))
BROKEN = (cc("stale-secret", "ci-deployer", access_token_max="15m").replace("${DEPLOYER_SECRET}", "${STALE_SECRET}")
          + client("legacy", "legacy-portal", state="removed", redirect_uris=["https://app.test/auth/callback"])
          + client("portal-as-public", "web-portal", type="public", application="web", grant_types=["authorization_code"],
                   redirect_uris=["https://app.test/auth/callback"], scopes=["openid", "profile", "email", "read"])
          + web("portal-moved", "web-portal").replace("https://app.test/auth/callback", "https://app.test/callback")
          + cc("deployer-wide", "ci-deployer-wide")
          + cc("deployer-long", "ci-deployer-long", access_token_max="1h")
          + cc("deployer-8h", "ci-deployer-8h", access_token_max="1h")
          + web("portal-cc", "web-portal-cc") + web("portal-implicit", "web-portal-implicit")
          + web("portal-prefix", "web-portal-prefix") + web("portal-norevoke", "web-portal-norevoke", refresh=True)
          + native("cli-pkce-optional", "cli-pkce-optional") + native("cli-exact-port", "cli-exact-port")
          + native("cli-no-rotation", "cli-no-rotation") + native("ghost-cli", "unregistered-cli")
          + native("cli-long-refresh", "cli-long-refresh", refresh_token_max="30d")
          + native("cli-pkce-plain", "cli-pkce-plain") + native("cli-verifier-ignored", "cli-verifier-ignored")
          + web("portal-open-redirect", "web-portal-open-redirect") + native("cli-state-raw", "cli-state-raw")
          + web("portal-introspector", "web-portal-introspector") + native("cli-revocation-secret", "cli-revocation-secret")
          + native("cli-sliding-refresh", "cli-sliding-refresh"))


def matrix_policy(idp, *, clients: str = CONTROLS + BROKEN, test_user: bool = True) -> str:
    provider = 'test_user = { username = "alice", password = "${SSO_TEST_PASSWORD}" }' if test_user else ""
    head = oidc_policy(idp, provider=provider)
    return head[:head.index("[clients.deployer]")] + textwrap.dedent(clients)


ENV = {"WEB_PORTAL_SECRET": WEB_PORTAL_SECRET, "STALE_SECRET": STALE_SECRET, "SSO_TEST_PASSWORD": TEST_PASSWORD}


@pytest.fixture(scope="module")
def clients_idp(idp_world):
    return idp_world.start(client_matrix_spec())


def results_by_target(run) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for result in run.report["results"]:
        out.setdefault(result["target"], {})[result["check"]] = result
    return out


CLIENT_CHECKS = {
    "client-auth.secret-accepted", "client-auth.wrong-secret-refused", "client-auth.unknown-client-refused",
    "client-auth.removed-client-refused", "client-auth.public-client-known", "client-auth.auth-method",
    "grants.declared-work", "grants.undeclared-refused", "grants.response-types",
    "redirect-uri.registered-accepted", "redirect-uri.unregistered-refused", "redirect-uri.exact-match",
    "redirect-uri.loopback-any-port", "pkce.required", "pkce.plain-refused", "pkce.verifier-enforced",
    "scopes.out-of-policy-refused", "scopes.granted-within-policy", "scopes.openid-id-token",
    "lifetimes.access-token", "lifetimes.id-token", "lifetimes.refresh-token", "refresh.rotation",
    "revocation.revoked-inactive", "code.replay-refused", "refresh.reuse-revokes-family", "scopes.omitted-scope-bounded",
    "redirect.params-not-injectable", "errors.rfc6749-format", "introspection.isolation",
    "revocation.public-client", "lifetimes.refresh-token-sliding",
    "revocation.refused-by-api",  # skips here (no [apis.*]); control and broken API in test_revocation_api.py
    "tokens.query-refused", "tokens.iss-exact", "id-token.auth-time", "authz-response.iss", "prompt-none.login-required",
    "errors.rfc6749-format",
}
# checks of the clients area that run once per provider (the rest run once per client)
PROVIDER_TARGET_CHECKS = {"userinfo.bearer-challenge"}

# broken client -> the one check it must fail, and the message that says why
EXPECTED_FAILURES = {
    "clients.stale-secret": ("client-auth.secret-accepted",
                             r"^the token endpoint refused clients\.stale-secret \(ci-deployer\) with its declared "
                             r"client_secret_basic secret: HTTP 401 invalid_client$"),
    "clients.legacy": ("client-auth.removed-client-refused",
                       r"^clients\.legacy \(legacy-portal\) is marked removed but the provider still knows it: "),
    "clients.portal-as-public": ("client-auth.auth-method",
                                 r"declares none: without a secret it gets HTTP 401 invalid_client, as an unknown "
                                 r"client_id does: it is not registered as a public client$"),
    "clients.ghost-cli": ("client-auth.public-client-known",
                          r"^the authorization endpoint does not know clients\.ghost-cli \(unregistered-cli\): "
                          r"its ordinary request gets error page HTTP 400 \(invalid_client\)$"),
    "clients.portal-cc": ("grants.undeclared-refused",
                          r"may use grant\(s\) the policy does not declare: client_credentials \(a token was issued\)$"),
    "clients.portal-implicit": ("grants.response-types", r"response_type=id_token token \(signed in, a redirect to "
                                                         r"https://app\.test/auth/callback with access_token and id_token\)"),
    "clients.portal-moved": ("redirect-uri.registered-accepted",
                             r"^redirect URI mismatch: the provider refuses registered URI\(s\) of clients\.portal-moved "
                             r"\(web-portal\): https://app\.test/callback \(error page HTTP 400 \(invalid_redirect_uri\)\)$"),
    "clients.portal-prefix": ("redirect-uri.exact-match",
                              r"^6 variant\(s\) of the registered redirect URI\(s\) of clients\.portal-prefix "
                              r"\(web-portal-prefix\) are accepted: suffix appended \(https://app\.test/auth/callbackx\), "
                              r"extra path segment .*'\.\.' traversal .*trailing slash .*added query .*fragment"),
    "clients.cli-exact-port": ("redirect-uri.loopback-any-port",
                               r"^port changed during callback: the provider refuses clients\.cli-exact-port "
                               r"\(cli-exact-port\)'s loopback redirect URI on another port: http://127\.0\.0\.1:53682/callback"),
    "clients.cli-pkce-optional": ("pkce.required",
                                  r"^PKCE is not required for clients\.cli-pkce-optional \(cli-pkce-optional\): a request "
                                  r"without code_challenge gets signed in, a redirect to http://127\.0\.0\.1/callback "
                                  r"with code$"),
    "clients.deployer-wide": ("scopes.out-of-policy-refused",
                              r"^clients\.deployer-wide \(ci-deployer-wide\) was granted scope\(s\) outside the policy "
                              r"\(policy: deploy read\): admin \(read from the scope member of the token response\)$"),
    "clients.deployer-long": ("lifetimes.access-token",
                              r"^access token of clients\.deployer-long \(ci-deployer-long\): expires_in 28800s \(8h\) "
                              r"exceeds the policy's 1h"),
    "clients.deployer-8h": ("lifetimes.access-token",
                            r"the JWT lives 28800s \(8h\) \(exp - iat\) but expires_in says 3600s \(1h\)"),
    "clients.cli-long-refresh": ("lifetimes.refresh-token",
                                 r"^refresh tokens of clients\.cli-long-refresh \(cli-long-refresh\) live 90d \(exp - iat "
                                 r"from introspection \(RFC 7662\)\); the policy allows at most 30d$"),
    "clients.cli-no-rotation": ("refresh.rotation",
                                r"^refresh tokens of clients\.cli-no-rotation \(cli-no-rotation\) are not rotated: the "
                                r"refresh returned same refresh token; the old refresh token still works after it was used$"),
    "clients.cli-pkce-plain": ("pkce.plain-refused",
                               r"^code_challenge_method=plain is accepted for clients\.cli-pkce-plain \(cli-pkce-plain\): "
                               r"signed in, a redirect to http://127\.0\.0\.1/callback with code$"),
    "clients.cli-verifier-ignored": ("pkce.verifier-enforced",
                                     r"^a code of clients\.cli-verifier-ignored \(cli-verifier-ignored\) was redeemed "
                                     r"with no code_verifier; a wrong code_verifier$"),
    "clients.portal-open-redirect": ("redirect-uri.unregistered-refused",
                                     r"^the provider redirects to the unregistered "
                                     r"https://authcheck-unregistered\.invalid/callback for clients\.portal-open-redirect "
                                     r"\(web-portal-open-redirect\) \(error redirect to the redirect URI "
                                     r"\(invalid_request\)\): an open redirector that leaks codes and errors$"),
    "clients.cli-state-raw": ("redirect.params-not-injectable",
                              r"^the provider copies state into its redirect to clients\.cli-state-raw \(cli-state-raw\) "
                              r"unencoded: the state's code and iss became parameters of the redirect"),
    "clients.portal-introspector": ("introspection.isolation",
                                    r"^clients\.portal-introspector \(web-portal-introspector\) may introspect a token of "
                                    r"clients\.\S+ \(\S+\): the endpoint answers active and its details$"),
    "clients.cli-revocation-secret": ("revocation.public-client",
                                      r"^clients\.cli-revocation-secret \(cli-revocation-secret\) cannot revoke its own "
                                      r"refresh_token: the revocation endpoint answers HTTP 40[01] invalid_client$"),
    "clients.cli-sliding-refresh": ("lifetimes.refresh-token-sliding",
                                    r"^refresh tokens of clients\.cli-sliding-refresh \(cli-sliding-refresh\) slide: a refresh "
                                    r"moved the end of the grant \d+s later"),
    "clients.portal-norevoke": ("revocation.revoked-inactive",
                                r"revoked through RFC 7009 still work: the revoked refresh token still works "
                                r"\(introspection, refresh with it\)"),
}
CONTROL_TARGETS = {"clients.deployer", "clients.cli", "clients.portal", "clients.portal-rt", "clients.retired"}
# checks a control must reach a verdict on (pass), not skip: every check passes on some control
CONTROL_PASSES = {
    "clients.deployer": {"client-auth.secret-accepted", "client-auth.wrong-secret-refused", "client-auth.auth-method",
                         "client-auth.unknown-client-refused", "grants.declared-work", "grants.undeclared-refused",
                         "scopes.out-of-policy-refused", "scopes.granted-within-policy", "lifetimes.access-token",
                         "scopes.omitted-scope-bounded", "errors.rfc6749-format"},
    "clients.cli": {"client-auth.public-client-known", "client-auth.auth-method", "redirect-uri.registered-accepted",
                    "redirect-uri.unregistered-refused", "redirect-uri.exact-match", "redirect-uri.loopback-any-port",
                    "pkce.required", "pkce.plain-refused", "pkce.verifier-enforced", "grants.response-types",
                    "scopes.openid-id-token", "lifetimes.access-token", "lifetimes.id-token", "refresh.rotation",
                    "revocation.revoked-inactive", "scopes.granted-within-policy", "lifetimes.refresh-token",
                    "code.replay-refused", "refresh.reuse-revokes-family", "redirect.params-not-injectable",
                    "revocation.public-client", "tokens.query-refused", "tokens.iss-exact", "id-token.auth-time",
                    "authz-response.iss", "prompt-none.login-required", "lifetimes.refresh-token-sliding"},
    "clients.portal": {"client-auth.secret-accepted", "redirect-uri.exact-match", "grants.undeclared-refused",
                       "scopes.out-of-policy-refused", "introspection.isolation", "errors.rfc6749-format",
                       "tokens.query-refused", "tokens.iss-exact", "authz-response.iss", "prompt-none.login-required"},
    "clients.portal-rt": {"revocation.revoked-inactive"},
    "clients.retired": {"client-auth.removed-client-refused"},
}


@pytest.fixture(scope="module")
def matrix_run(clients_idp, pytester_module_run):
    return pytester_module_run(matrix_policy(clients_idp))


@pytest.fixture(scope="module")
def pytester_module_run(tmp_path_factory):
    """One subprocess ``pytest --authcheck -m clients`` run per module (the matrix is big: run it once)."""
    import json
    import os
    import subprocess
    import sys

    def run(policy: str, *args: str) -> dict:
        folder = tmp_path_factory.mktemp("client-matrix")
        (folder / "authcheck.toml").write_text(policy)
        env = {**os.environ, **ENV, "DEPLOYER_SECRET": __import__("tests.idp.world", fromlist=["x"]).DEPLOYER_SECRET}
        completed = subprocess.run([sys.executable, "-m", "pytest", "--authcheck", "-p", "no:cacheprovider", "-m", "clients",
                                    "-q", "-rfE", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        report = json.loads((folder / "reports" / "authcheck.json").read_text())
        html = readable(folder / "reports" / "authcheck.html")
        return {"report": report, "output": completed.stdout + completed.stderr, "html": html, "code": completed.returncode}

    return run


def by_target(report: dict) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for result in report["results"]:
        if result["target"] is None and "[no-" in result["nodeid"]:
            continue  # a suite whose kind of target the policy does not declare (tokens.query-refused at APIs)
        out.setdefault(result["target"], {})[result["check"]] = result
    return out


def test_every_client_check_runs_for_every_client(matrix_run):
    targets = by_target(matrix_run["report"])
    provider = targets.pop("providers.sso")
    assert set(provider) == PROVIDER_TARGET_CHECKS
    assert {r["status"] for r in provider.values()} == {"passed"}, provider
    assert set(targets) == CONTROL_TARGETS | set(EXPECTED_FAILURES) | {"clients.cli-exact-port"}
    for target, checks in targets.items():
        assert set(checks) == CLIENT_CHECKS, (target, CLIENT_CHECKS ^ set(checks))


def test_controls_pass_every_check_that_applies(matrix_run):
    targets = by_target(matrix_run["report"])
    for target in CONTROL_TARGETS:
        statuses = {c: r["status"] for c, r in targets[target].items()}
        assert set(statuses.values()) <= {"passed", "skipped"}, (target, statuses, matrix_run["output"][-3000:])
        passed = {c for c, s in statuses.items() if s == "passed"}
        assert CONTROL_PASSES[target] <= passed, (target, CONTROL_PASSES[target] - passed)
        for result in targets[target].values():
            if result["status"] == "skipped":
                assert result["message"], result  # a skip always says why
    assert set().union(*CONTROL_PASSES.values()) == CLIENT_CHECKS - {"revocation.refused-by-api"}, \
        "every check passes on some control"


@pytest.mark.parametrize("target", sorted(EXPECTED_FAILURES))
def test_broken_client_fails_its_check(matrix_run, target):
    check_id, pattern = EXPECTED_FAILURES[target]
    checks = by_target(matrix_run["report"])[target]
    failed = {c for c, r in checks.items() if r["status"] == "failed"}
    assert failed == {check_id}, (target, {c: checks[c]["message"] for c in failed})
    result = checks[check_id]
    assert re.search(pattern, result["message"]), result["message"]
    assert result["expected"] is not None and result["observed"] is not None
    assert result["evidence"]["exchanges"], result
    checks_table = matrix_run["report"]["checks"]
    check = checks_table[check_id] if isinstance(checks_table, dict) else next(c for c in checks_table if c["id"] == check_id)
    assert check["remediation"] and check["refs"]
    # what else could not be evaluated points at the failing check instead of failing too
    for other, r in checks.items():
        if r["status"] == "error":
            assert "see " in r["message"] or "could not evaluate" in r["message"], (other, r["message"])


def test_evidence_never_holds_a_secret_or_token(matrix_run):
    from tests.idp.world import DEPLOYER_SECRET

    blob = matrix_run["output"] + matrix_run["html"] + __import__("json").dumps(matrix_run["report"])
    for secret in (DEPLOYER_SECRET, WEB_PORTAL_SECRET, STALE_SECRET, TEST_PASSWORD):
        assert secret not in blob
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", blob), "a raw JWT reached an output"
    leak = re.search(r".{200}[?&#]code=[A-Za-z0-9_-]{10}.{100}", blob, re.S)
    assert not leak, f"an authorization code reached an output: {leak.group(0) if leak else ''}"
    # decoded JWTs are evidence (header and claims only)
    jwts = [j for r in matrix_run["report"]["results"] for j in r.get("evidence", {}).get("jwts", [])]
    assert any(j.get("claims", {}).get("iss") for j in jwts)


def test_html_report_shows_client_findings(matrix_run):
    html = matrix_run["html"]
    for check_id in ("redirect-uri.exact-match", "refresh.rotation", "lifetimes.access-token"):
        assert check_id in html


def test_without_a_test_user_the_login_checks_skip_with_the_reason(clients_idp, run_authcheck):
    clients = cc("deployer", "ci-deployer") + native("cli", "enclii-cli")
    run = run_authcheck(matrix_policy(clients_idp, clients=clients, test_user=False), "-m", "clients", env=ENV)
    results = by_target(run.report)["clients.cli"]
    reason = "needs a user's login: providers.sso declares no test_user and no authcheck_login fixture is plugged in"
    for check_id in ("pkce.verifier-enforced", "refresh.rotation", "lifetimes.access-token", "scopes.openid-id-token"):
        assert results[check_id]["status"] == "skipped" and reason in results[check_id]["message"], results[check_id]
    # the pre-login probes still reach their verdicts
    assert results["redirect-uri.exact-match"]["status"] == "passed"
    assert run.not_passed() == {}, run.output()


def test_a_plugged_in_login_step_is_used(clients_idp, run_authcheck, pytester):
    """A team whose login is an API overrides authcheck_login; here it wraps the form driver to prove it runs."""
    pytester.makeconftest("""
        import pytest
        from pytest_authcheck._login import FormLogin
        from pytest_authcheck._redact import Secret

        CALLS = []

        @pytest.fixture(scope="session")
        def authcheck_login(authcheck_run):
            def login(flow):
                CALLS.append(flow.client)
                return FormLogin(authcheck_run.http, "alice", Secret("own-login-step-pw"))(flow)
            return login

        def pytest_terminal_summary(terminalreporter):
            terminalreporter.write_line(f"custom login used {len(CALLS)} times")
    """)
    run = run_authcheck(matrix_policy(clients_idp, clients=native("cli", "enclii-cli"), test_user=False),
                        "-m", "clients", "-k", "rotation", env=ENV)
    assert run.status("refresh.rotation") == "passed", run.output()
    assert "custom login used 1 times" in run.output()


def test_parallel_run_gives_the_same_results(clients_idp, pytester_module_run, matrix_run):
    clients = cc("deployer-long", "ci-deployer-long", access_token_max="1h") + native("cli", "enclii-cli") \
        + web("portal-prefix", "web-portal-prefix")
    policy = matrix_policy(clients_idp, clients=clients)
    serial = pytester_module_run(policy)["report"]
    parallel = pytester_module_run(policy, "-n", "2", "--authcheck-worker-targets", "0")["report"]
    key = lambda report: sorted((r["nodeid"], r["status"]) for r in report["results"])  # noqa: E731
    assert key(serial) == key(parallel)
    # the pairs no test ran for reach the controller whole (from the worker that collected first)
    said = lambda report: sorted((r["nodeid"], r["check"], r["title"], r["severity"], r["target"], r["message"])  # noqa: E731
                                 for r in report["results"] if r["status"] == "skipped")
    assert said(serial) == said(parallel)
    assert ("clients.portal-prefix", "failed") in {(r["target"], r["status"]) for r in parallel["results"]
                                                    if r["check"] == "redirect-uri.exact-match"}
    # A client's checks run on one worker, which sends its probes once, and every client that signs in at one
    # provider runs on the same worker (sessions stay with their worker): the run signs in once, as a serial run
    # does, and repeats nothing but what a check reads of *another* client (introspection.isolation introspects a
    # token of another client, which that client's worker also requested). xdist's own load scheduling splits a
    # client's checks between the workers, and both send its probes and sign in.
    assert logins(parallel) == logins(serial) == 1
    more = {kind: (serial_count, parallel_count) for kind, (serial_count, parallel_count)
            in _requests_by_kind(serial, parallel).items() if parallel_count > serial_count}
    assert set(more) <= {("POST", "/token", "grant_type=client_credentials&scope=deploy+read"),
                         ("POST", "/token/introspection", "token=[REDACTED]")}, more
    assert sum(p - s for s, p in more.values()) <= 3, more


def _requests_by_kind(*reports: dict) -> dict[tuple[str, str, str], tuple[int, ...]]:
    """(method, path, form) -> how many each report sent, with per-request ids (interactions) left out."""
    def kind(exchange: dict) -> tuple[str, str, str]:
        path = re.sub(r"/(auth|interaction)/[^/?]+", r"/\1/ID", urllib.parse.urlsplit(exchange["url"]).path)
        return exchange["method"], path, re.sub(r"[A-Za-z0-9_-]{20,}", "X", exchange.get("request_body") or "")
    counts = [collections.Counter(kind(e) for e in report["exchanges"].values()) for report in reports]
    return {k: tuple(c[k] for c in counts) for k in set().union(*counts)}


def logins(report: dict) -> int:
    return sum(1 for e in report["exchanges"].values() if "login=" in str(e.get("request_body")))


def test_a_plugged_in_login_step_that_meets_consent_reads_as_the_built_in_one(clients_idp, run_authcheck, pytester):
    """A team's login step that stops at a consent page it may not approve (ConsentWithheld) leaves the probe where
    the built-in walk leaves it: the provider asks the user to consent, never "the login step stopped"."""
    pytester.makeconftest("""
        import pytest
        from pytest_authcheck._login import FormLogin
        from pytest_authcheck._redact import Secret

        @pytest.fixture(scope="session")
        def authcheck_login(authcheck_run):
            return lambda flow: FormLogin(authcheck_run.http, "alice", Secret("own-login-step-pw"))(flow)
    """)
    narrow = client("narrow", "enclii-cli", type="public", application="native",
                    grant_types=["authorization_code"], redirect_uris=["http://127.0.0.1/callback"],
                    scopes=["openid"], pkce="S256")
    run = run_authcheck(matrix_policy(clients_idp, clients=narrow, test_user=False),
                        "-m", "clients", "-k", "out_of_policy", env=ENV)
    result = run.by_check()["scopes.out-of-policy-refused"]
    assert result["status"] == "error", result
    assert "asks the user to consent" in result["message"], result["message"]
    assert "login step (authcheck_login) stopped" not in result["message"], result["message"]


def test_a_public_client_whose_revocation_is_a_no_op_fails(clients_idp, run_authcheck):
    """RFC 7009 answers 200 even for a token it did not revoke: revocation.public-client reads the token afterwards.
    cli-norevoke's revocations answer 200 and revoke nothing; its refresh token still refreshes."""
    run = run_authcheck(matrix_policy(clients_idp, clients=native("cli-norevoke", "cli-norevoke")),
                        "-m", "clients", "-k", "public_client_revocation", env=ENV)
    result = run.by_check()["revocation.public-client"]
    assert result["status"] == "failed", result
    assert "still works" in result["message"], result["message"]
    assert result["observed"] != result["expected"]
