"""The Jamf Pro suites (jamf_auth, privileges) against the Jamf Pro simulator (tests/jamf_sim).

A well-configured tenant passes every check; each broken preset fails exactly the checks it should, with
a message that names the defect, and nothing else fails (checks that need what the defect took away end in
*error*, never in a silent pass).
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# See test_suites_oidc.py: pin httpcore before pytester's in-process runs.
import httpcore  # noqa: F401
import pytest
import trustme

from pytest_authcheck._jamf.catalogue import shipped_catalogue, unknown_name
from pytest_authcheck._jamf.derive import derive
from pytest_authcheck._jamf.probes import probe_path
from pytest_authcheck._jamf.url import JamfUrlError, lint_url
from tests.conftest import invariant_breaches, unstated_verdicts
from tests.html_report import privilege_diffs, readable
from tests.jamf_sim import (
    AUDITOR_PASSWORD,
    AUDITOR_USERNAME,
    BASIC_PASSWORD,
    BASIC_USERNAME,
    JAMFMCP_DOC_MINIMUM_PRIVILEGES,
    JAMFMCP_MINIMUM_READ_PRIVILEGES,
    MCP_CLIENT_ID,
    MCP_CLIENT_SECRET,
    PRESETS,
    Behaviour,
    Clock,
    JamfSimulator,
    Tenant,
    good_tenant,
    privilege_catalogue,
)

JAMF_CHECKS = {
    "jamf.url-canonical", "jamf.auditor-login", "jamf.user-login", "jamf.user-token-lifetime",
    "jamf.client-authenticates", "jamf.client-wrong-secret-refused", "jamf.client-enabled",
    "jamf.client-token-lifetime", "jamf.token-invalidation", "jamf.keep-alive",
    "privileges.names-known", "privileges.required-granted", "privileges.none-forbidden", "privileges.excess",
    "privileges.derived-calls-granted", "privileges.effective",
    # what every provider kind shares: the Jamf Pro URL's TLS and the server's clock
    "tls.chain-trusted", "tls.hostname", "tls.cert-lifetime", "tls.protocol-version", "clock.date-header",
}
# Checks that only handshake (no HTTP): they still reach a verdict when the certificate breaks HTTPS.
TLS_ONLY_CHECKS = {"tls.chain-trusted", "tls.hostname", "tls.cert-lifetime", "tls.protocol-version"}
CLIENT_SET, USER_SET = "privileges.jamfmcp", "privileges.mcp-basic"
# The calls JamfMCP makes for the minimum privileges (Read Computer Inventory Collection has no endpoint:
# it is in require).
DERIVE = ["GET /api/v1/computers-inventory", "GET /api/v1/computers-inventory-detail/{id}", "GET /JSSResource/policies",
          "GET /JSSResource/osxconfigurationprofiles", "GET /JSSResource/computerextensionattributes",
          "GET /api/v1/scripts", "GET /v1/packages", "GET /JSSResource/buildings", "GET /JSSResource/departments",
          "GET /JSSResource/sites"]
ENV = {"JAMF_AUDIT_PASSWORD": AUDITOR_PASSWORD, "JAMF_CLIENT_SECRET": MCP_CLIENT_SECRET, "JAMF_PASSWORD": BASIC_PASSWORD}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jamf-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def serve(ca: trustme.CA) -> Iterator[Callable[[Tenant], JamfSimulator]]:
    started: list[JamfSimulator] = []

    def start(tenant: Tenant, **tls) -> JamfSimulator:
        sim = JamfSimulator.from_trustme(tenant, ca, **tls).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def toml_list(values) -> str:
    return json.dumps(list(values))


def jamf_policy(sim: JamfSimulator, ca_pem: Path, *, url: str | None = None, provider: str = "", client: str = "",
                require=JAMFMCP_MINIMUM_READ_PRIVILEGES, derive_calls=tuple(DERIVE), extra: str = "") -> str:
    return textwrap.dedent(f"""\
        [settings]
        ca_bundle = "{ca_pem}"
        timeout = "5s"
        reports = "reports"

        [providers.jamf]
        kind = "jamf"
        url = "{url or sim.url}"
        version = "11.12"
        username = "{AUDITOR_USERNAME}"
        password = "${{JAMF_AUDIT_PASSWORD}}"
        {provider}

        [clients.jamfmcp]
        provider = "jamf"
        client_id = "{MCP_CLIENT_ID}"
        client_secret = "${{JAMF_CLIENT_SECRET}}"
        type = "confidential"
        grant_types = ["client_credentials"]
        access_token_max = "10m"
        {client}

        [users.mcp-basic]
        provider = "jamf"
        username = "{BASIC_USERNAME}"
        password = "${{JAMF_PASSWORD}}"
        token_max = "30m"

        [privileges.jamfmcp]
        principal = "jamfmcp"
        require = {toml_list(require)}
        forbid = ["Create *", "Update *", "Delete *", "Send *"]
        derive = {toml_list(derive_calls)}

        [privileges.mcp-basic]
        principal = "mcp-basic"
        require = {toml_list(JAMFMCP_MINIMUM_READ_PRIVILEGES)}
        forbid = ["Create *", "Update *", "Delete *", "Send *"]
        """) + textwrap.dedent(extra)


def results(run) -> dict[tuple[str, str], dict]:
    """Results of the Jamf checks by (check, target); the oidc suites are skipped without an oidc provider."""
    return {(r["check"], r["target"]): r for r in run.report["results"] if r["check"] in JAMF_CHECKS}


def not_passed(run) -> dict[tuple[str, str], str]:
    return {k: r["status"] for k, r in results(run).items() if r["status"] not in ("passed", "skipped")}


def assert_all_ran(run) -> None:
    missing = JAMF_CHECKS - {r["check"] for r in run.report["results"]}
    assert not missing, f"checks that did not run: {missing}\n{run.output()}"


def assert_no_secret_leaks(run, tenant: Tenant) -> None:
    secrets = [AUDITOR_PASSWORD, MCP_CLIENT_SECRET, BASIC_PASSWORD, *tenant.tokens]
    for path in run.reports_dir.iterdir():
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {path.name}"
    output = run.output()
    for secret in secrets:
        assert secret not in output


def run_preset(run_authcheck, serve, ca_pem, name: str, *args: str, **policy):
    tenant = PRESETS[name]()
    sim = serve(tenant)
    run = run_authcheck(jamf_policy(sim, ca_pem, **policy), *args, env=ENV)
    assert_all_ran(run)
    assert_no_secret_leaks(run, tenant)
    assert_verdicts_stated(run)
    return run, tenant


def assert_verdicts_stated(run) -> None:
    """No Jamf or privilege verdict contradicts its own evidence or rests on nothing stated."""
    assert invariant_breaches(run.report) == {}, run.output()
    assert unstated_verdicts(run.report, {"jamf", "privileges", "credentials", "tls", "clock"}) == {}


# ---------------------------------------------------------------------------------------------------
# end to end


def test_good_tenant_passes_every_check(run_authcheck, serve, ca_pem):
    run, tenant = run_preset(run_authcheck, serve, ca_pem, "good")
    assert not_passed(run) == {}, run.output()
    statuses = {(c, t): r["status"] for (c, t), r in results(run).items()}
    skipped = {k for k, s in statuses.items() if s == "skipped"}
    # the user's set declares no derive; nothing else may be skipped
    assert skipped == {("privileges.derived-calls-granted", "privileges.mcp-basic")}, statuses
    assert run.result.ret == pytest.ExitCode.OK
    diff = results(run)[("privileges.excess", CLIENT_SET)]["evidence"]["facts"]["privilege diff"]
    assert diff["granted"] == sorted(JAMFMCP_MINIMUM_READ_PRIVILEGES)
    assert diff["sources"]["Read Computers"] == ["api-role 1 'JamfMCP Read-Only'"]
    assert diff["missing"] == diff["excess"] == diff["forbidden"] == diff["unknown"] == []
    probes = results(run)[("privileges.effective", CLIENT_SET)]["evidence"]["facts"]["probes"]
    assert probes["Read Computers"] == "GET /api/v1/computers-inventory -> 200"
    assert probes["Read Policies"].endswith("-> 200")
    # one client-credentials token per run for the client (the wrong-secret probe is a separate request)
    grants = [e for e in tenant.request_log if e["path"] in ("/api/v1/oauth/token", "/api/oauth/token")
              and e["status"] == 200]
    assert len(grants) == 1, grants
    blocks = html_blocks(run)
    assert "<summary>Privilege diff of clients.jamfmcp (Jamf Pro 11.12 (shipped catalogue))</summary><table>" in blocks
    assert "<li>Read Computers \u2190 api-role 1 &#x27;JamfMCP Read-Only&#x27;</li>" in blocks


def html_blocks(run) -> str:
    """The privilege diff tables the HTML report inserts, as the writer rendered and escaped them (they sit in
    the findings document, which the page's script renders)."""
    return privilege_diffs(run.reports_dir / "authcheck.html")


def assert_failed(run, check: str, target: str, *patterns: str) -> dict:
    result = results(run)[(check, target)]
    assert result["status"] == "failed", (check, target, result.get("message"), run.output())
    for pattern in patterns:
        assert re.search(pattern, result["message"]), (pattern, result["message"])
    assert result["expected"] is not None and result["observed"] is not None, result
    assert result.get("evidence", {}).get("exchanges") or result.get("evidence", {}).get("facts"), result
    return result


# preset -> {(check, target): message patterns}, and what may end in error because the defect took it away
BROKEN = {
    "write_privileges": ({
        ("privileges.none-forbidden", CLIENT_SET): [r"holds 5 forbidden", r"'Delete Policies' \(forbidden by 'Delete \*', from api-role 1"],
        ("privileges.excess", CLIENT_SET): [r"5 privilege\(s\) beyond require and derive", "'Create Policies'"],
    }, set()),
    "missing_read_privilege": ({
        ("privileges.required-granted", CLIENT_SET): [r"lacks 1 required privilege\(s\): 'Read Computers'"],
        ("privileges.derived-calls-granted", CLIENT_SET): [r"lacks 'Read Computers'", "GET /api/v1/computers-inventory"],
    }, set()),
    "disabled_client": ({
        ("jamf.client-enabled", "clients.jamfmcp"): [r"is disabled"],
        ("jamf.client-authenticates", "clients.jamfmcp"): [r"refused with HTTP 401 invalid_client"],
    }, {("privileges.effective", CLIENT_SET)}),
    "long_token_lifetime": ({
        ("jamf.client-token-lifetime", "clients.jamfmcp"): [r"live 1d \(86400 s\), more than 10m \(600 s\)"],
    }, set()),
    "expired_password": ({
        ("jamf.user-login", "users.mcp-basic"): [r"password of users.mcp-basic has expired", "USER_EXPIRED_PASSWORD"],
    }, {("jamf.user-token-lifetime", "users.mcp-basic")} | {(c, USER_SET) for c in JAMF_CHECKS if c.startswith("privileges.")}
        - {("privileges.derived-calls-granted", USER_SET)}),
    "invalidated_token_still_accepted": ({
        ("jamf.token-invalidation", "providers.jamf"): [r"invalidated by this check still works at /api/v1/auth \(HTTP 200"],
    }, set()),
    "pending_role_change": ({
        ("privileges.effective", CLIENT_SET): [r"scope names roles \['2'\] but the client is configured with \['1'\]",
                                              r"effective beyond declared: .*'Delete Policies'"],
    }, set()),
    "excess_privileges": ({
        ("privileges.excess", CLIENT_SET): [r"holds 117 privilege\(s\) beyond", r"and 105 more"],
    }, set()),
}


@pytest.mark.parametrize("preset", sorted(BROKEN))
def test_broken_tenant_fails_the_right_check(run_authcheck, serve, ca_pem, preset):
    expected_failures, may_error = BROKEN[preset]
    run, _ = run_preset(run_authcheck, serve, ca_pem, preset)
    for (check, target), patterns in expected_failures.items():
        assert_failed(run, check, target, *patterns)
    others = {k: s for k, s in not_passed(run).items() if k not in expected_failures}
    assert all(k in may_error and s == "error" for k, s in others.items()), (others, run.output())
    assert {k for k, s in others.items()} == may_error, (others, run.output())
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED


# ---------------------------------------------------------------------------------------------------
# the Jamf Pro URL's TLS and the server's clock: the tls and clock suites judge every kind of provider

# what the simulator serves -> (failed checks -> message patterns, what breaks HTTPS for the other checks or None)
TLS_CASES = {
    "expired-cert": ({
        # an expired chain does not verify (chain-trusted); cert-lifetime says since when
        "tls.cert-lifetime": [r"^the certificate of 127\.0\.0\.1:{port} expired (0\.9|1\.0|1\.1)\d* days ago "
                              r"\(not after \d{4}-\d\d-\d\dT"],
        "tls.chain-trusted": [r"^certificate chain not trusted: 127\.0\.0\.1:{port}: certificate has expired"],
    }, "certificate has expired"),
    "untrusted-cert": ({
        "tls.chain-trusted": [r"^certificate chain not trusted: 127\.0\.0\.1:{port}: unable to get local issuer certificate"],
    }, "unable to get local issuer certificate"),
    "wrong-host-cert": ({
        "tls.hostname": [r"^the certificate of 127\.0\.0\.1:{port} is for DNS:jamf\.invalid, not 127\.0\.0\.1$"],
    }, "IP address mismatch"),
    "expiring-cert": ({
        "tls.cert-lifetime": [r"^the certificate of 127\.0\.0\.1:{port} expires in (4\.9|5\.0)\d* days ",
                              r"; the policy wants at least 21$"],
    }, None),
    "legacy-tls": ({
        "tls.protocol-version": [r"^127\.0\.0\.1:{port} still accepts TLSv1 and TLSv1\.1$"],
    }, None),
}
# The Jamf check that sends nothing: it judges the URL as written, whatever the server's TLS.
POLICY_ONLY_CHECKS = {("jamf.url-canonical", "providers.jamf")}


def serve_tls(serve, case: str, tenant: Tenant) -> JamfSimulator:
    if case == "legacy-tls":
        return serve(tenant, legacy_tls=True)
    return serve(tenant, cert=case.removesuffix("-cert"))


@pytest.mark.parametrize("case", list(TLS_CASES))
def test_broken_tls_fails_exactly_its_check(run_authcheck, serve, ca_pem, case):
    expected, breaks_https = TLS_CASES[case]
    tenant = good_tenant()
    sim = serve_tls(serve, case, tenant)
    # a dozen setup errors with full tracebacks cost seconds of terminal formatting; the report has the causes
    run = run_authcheck(jamf_policy(sim, ca_pem), "--tb=no", env=ENV)
    assert_all_ran(run)
    assert_no_secret_leaks(run, tenant)
    assert_verdicts_stated(run)
    found = results(run)
    failed = {k for k, r in found.items() if r["status"] == "failed"}
    assert failed == {(check, "providers.jamf") for check in expected}, run.output()
    for check, patterns in expected.items():
        assert_failed(run, check, "providers.jamf", *(p.replace("{port}", str(sim.port)) for p in patterns))
    errors = {k: r for k, r in found.items() if r["status"] == "error"}
    passed = {k for k, r in found.items() if r["status"] == "passed"}
    if breaks_https is None:
        assert errors == {}, run.output()
        assert {k for k, r in found.items() if r["status"] == "skipped"} == {
            ("privileges.derived-calls-granted", USER_SET)}
    else:
        # Every check that needs HTTPS could not be evaluated (error, never failed), saying why; the handshake-only
        # checks and those that read only the policy still give their verdict, and no request got through.
        assert errors, run.output()
        for (check, target), result in errors.items():
            assert result["message"].startswith(f"could not evaluate: TLS handshake with {sim.url} failed: "), result
            assert breaks_https in result["message"], (check, target, result["message"])
        assert passed == {(c, "providers.jamf") for c in TLS_ONLY_CHECKS - set(expected)} | POLICY_ONLY_CHECKS
        assert tenant.request_log == []
        # One cause, one finding: the TLS failure holds every check it stopped.
        assert {r["cause"] for r in errors.values()} == {f"tls@{sim.url}"}
        cause = {c["id"]: c for c in run.report["causes"]}[f"tls@{sim.url}"]
        assert sorted(cause["blocked"]) == sorted(r["nodeid"] for r in errors.values()), cause
        assert set(cause["targets"]) == {"providers.jamf", "clients.jamfmcp", "users.mcp-basic", CLIENT_SET, USER_SET}
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED


def test_jamf_tls_evidence_and_the_providers_cert_min_days(run_authcheck, serve, ca_pem):
    sim = serve_tls(serve, "expiring-cert", good_tenant())
    run = run_authcheck(jamf_policy(sim, ca_pem, provider="cert_min_days = 3"), env=ENV)
    assert not_passed(run) == {}, run.output()
    found = results(run)
    lifetime = found[("tls.cert-lifetime", "providers.jamf")]
    assert lifetime["expected"]["days left"] == ">= 3 days left"
    assert re.match(r"(4\.9|5\.0)\d* days left \(not after ", lifetime["observed"]["days left"]), lifetime["observed"]
    versions = found[("tls.protocol-version", "providers.jamf")]["observed"]
    assert versions == {"negotiated": "TLSv1.3", "TLSv1": "refused", "TLSv1.1": "refused"}
    facts = found[("tls.hostname", "providers.jamf")]["evidence"]["facts"][f"TLS 127.0.0.1:{sim.port}"]
    assert facts["certificate"]["sans"] == ["DNS:localhost", "IP:127.0.0.1"]
    clock = found[("clock.date-header", "providers.jamf")]
    assert re.match(r"[+-][01]s \(Date: ", clock["observed"]), clock["observed"]
    assert [run.report["exchanges"][e]["url"] for e in clock["evidence"]["exchanges"]] == [sim.url + "/"]


SKEW = 600  # the server's clock runs ten minutes ahead


@pytest.mark.parametrize(("provider", "failed"), [
    pytest.param("", {
        "clock.date-header": r"^the provider's clock is (59\d|60\d)s ahead of this machine's \(max_clock_skew 1m\)$",
        # Jamf Pro dates its tokens' expiry by its own clock: they seem to live ten minutes longer
        "jamf.user-token-lifetime": r"^users\.mcp-basic's token lives 4\dm",
    }, id="settings-skew"),
    pytest.param('max_clock_skew = "15m"', {}, id="provider-skew"),
])
def test_a_skewed_server_clock_is_judged_by_the_providers_max_clock_skew(run_authcheck, serve, ca_pem, provider, failed):
    tenant = good_tenant(clock=Clock(time.time() + SKEW))
    run = run_authcheck(jamf_policy(serve(tenant), ca_pem, provider=provider), env=ENV)
    assert_verdicts_stated(run)
    assert not_passed(run) == {(check, "providers.jamf" if check.startswith("clock.") else "users.mcp-basic"): "failed"
                               for check in failed}, run.output()
    for check, pattern in failed.items():
        target = "providers.jamf" if check.startswith("clock.") else "users.mcp-basic"
        assert_failed(run, check, target, pattern)
    observed = results(run)[("clock.date-header", "providers.jamf")]["observed"]
    assert re.match(r"\+(59\d|60\d)s \(Date: ", observed), observed


@pytest.mark.parametrize("preset", ["good", "write_privileges", "disabled_client", "pending_role_change",
                                    "expired_password", "long_token_lifetime"])
def test_verdicts_keep_the_result_model_invariants(run_authcheck, serve, ca_pem, preset):
    # Every passed check states what it expected and observed in the same words (a pass matches them), every
    # failed one too (a failure does not): checked per preset by run_preset, with what each says.
    run, _ = run_preset(run_authcheck, serve, ca_pem, preset)
    stated = {k: r for k, r in results(run).items() if r["status"] in ("passed", "failed")}
    assert len([r for r in stated.values() if r["status"] == "passed"]) >= 8, not_passed(run)
    required = stated[("privileges.required-granted", CLIENT_SET)]
    assert required["expected"] == {p: "granted" for p in JAMFMCP_MINIMUM_READ_PRIVILEGES}
    assert (required["observed"] == required["expected"]) == (required["status"] == "passed")
    if ("jamf.client-authenticates", "clients.jamfmcp") in stated:
        token = stated[("jamf.client-authenticates", "clients.jamfmcp")]
        assert token["expected"]["token"] == "token issued"
        assert token["observed"]["token"] == ("refused (invalid_client)" if preset == "disabled_client"
                                              else "token issued")
    invalidation = stated[("jamf.token-invalidation", "providers.jamf")]
    assert invalidation["observed"] == {"invalidate-token": "accepted", "token afterwards": "refused (401)"}


def test_disabled_client_declared_disabled_passes(run_authcheck, serve, ca_pem):
    tenant = PRESETS["disabled_client"]()
    sim = serve(tenant)
    policy = jamf_policy(sim, ca_pem, client='state = "disabled"').replace("[privileges.jamfmcp]", "[privileges.unused]")
    policy = policy.replace('principal = "jamfmcp"', 'principal = "mcp-basic"')
    run = run_authcheck(policy, env=ENV)
    assert_verdicts_stated(run)
    assert results(run)[("jamf.client-enabled", "clients.jamfmcp")]["status"] == "passed", run.output()
    assert not_passed(run) == {}, run.output()


def test_wrong_secret_accepted_is_critical(run_authcheck, serve, ca_pem, monkeypatch):
    tenant = good_tenant()
    real = tenant.issue_client_token

    def accept_any_secret(client_id, client_secret, scope=None):  # a server that ignores the secret
        return real(client_id, MCP_CLIENT_SECRET, scope)

    monkeypatch.setattr(tenant, "issue_client_token", accept_any_secret)
    run = run_authcheck(jamf_policy(serve(tenant), ca_pem), env=ENV)
    assert_failed(run, "jamf.client-wrong-secret-refused", "clients.jamfmcp", r"a random secret .* got a token")
    assert set(not_passed(run)) == {("jamf.client-wrong-secret-refused", "clients.jamfmcp")}, run.output()


def test_a_throttled_token_endpoint_is_not_evaluated_never_a_refusal(run_authcheck, serve, ca_pem, monkeypatch):
    from tests.jamf_sim.tenant import OAuthError

    tenant = good_tenant()

    def throttled(client_id, client_secret, scope=None):  # a server that will not answer now
        raise OAuthError(429, "temporarily_unavailable", "too many requests")

    monkeypatch.setattr(tenant, "issue_client_token", throttled)
    run = run_authcheck(jamf_policy(serve(tenant), ca_pem), env=ENV)
    assert_verdicts_stated(run)
    found = results(run)
    for check in ("jamf.client-authenticates", "jamf.client-wrong-secret-refused"):
        result = found[(check, "clients.jamfmcp")]
        assert result["status"] == "error", result
        assert result["message"].startswith("not evaluated: ") and "throttled the probe: HTTP 429" in result["message"]
    assert not {k for k, r in found.items() if r["status"] == "failed"}, not_passed(run)
    # what the auditor reads still reaches a verdict
    assert found[("jamf.client-enabled", "clients.jamfmcp")]["status"] == "passed"


def test_keep_alive_that_keeps_the_old_token_fails(run_authcheck, serve, ca_pem):
    behaviour = Behaviour()
    behaviour.keep_alive_revokes_old_token = False
    run = run_authcheck(jamf_policy(serve(good_tenant(behaviour=behaviour)), ca_pem), env=ENV)
    assert_failed(run, "jamf.keep-alive", "providers.jamf", r"replaced by keep-alive still works \(HTTP 200")
    assert set(not_passed(run)) == {("jamf.keep-alive", "providers.jamf")}, run.output()


def test_wrong_auditor_password_is_bad_credentials_not_expired(run_authcheck, serve, ca_pem):
    sim = serve(good_tenant())
    run = run_authcheck(jamf_policy(sim, ca_pem), env={**ENV, "JAMF_AUDIT_PASSWORD": "not-the-password"})
    result = assert_failed(run, "jamf.auditor-login", "providers.jamf", r"refused: bad credentials \(401")
    assert "expired" not in result["message"]
    # what needs the auditor cannot be evaluated: an error naming the refusal, never a pass
    assert results(run)[("privileges.required-granted", CLIENT_SET)]["status"] == "error"
    assert "bad credentials" in results(run)[("privileges.required-granted", CLIENT_SET)]["message"]


def test_unknown_privilege_names_say_what_they_are_now(run_authcheck, serve, ca_pem):
    sim = serve(good_tenant())
    run = run_authcheck(jamf_policy(sim, ca_pem, require=JAMFMCP_DOC_MINIMUM_PRIVILEGES + ("Read Users", "read scripts")),
                        env=ENV)
    result = assert_failed(run, "privileges.names-known", CLIENT_SET, r"3 name\(s\)",
                           r"'Read Computer Groups' does not exist in this version; it is now 'Read Smart Computer "
                           r"Groups' \+ 'Read Static Computer Groups'", r"'Read Users' .* it is now 'Read User'",
                           r"'read scripts' does not exist \(names are case-sensitive\); it is now 'Read Scripts'")
    blocks = html_blocks(run)
    assert re.search(r'<th class="ac-failed">Unknown names</th><td>3</td><td><ul><li>&#x27;Read Computer Groups&#x27; '
                     r'does not exist', blocks), blocks
    assert result["observed"]["Read Users"] == ["Read User"]


def test_url_with_trailing_slash_is_normalised_and_reported(run_authcheck, serve, ca_pem):
    sim = serve(good_tenant())
    written = sim.url.replace("https://", "") + "/"
    run = run_authcheck(jamf_policy(sim, ca_pem, url=written), env=ENV)
    assert_failed(run, "jamf.url-canonical", "providers.jamf", r"no scheme: https:// assumed",
                  r"trailing slash removed", re.escape(sim.url))
    assert set(not_passed(run)) == {("jamf.url-canonical", "providers.jamf")}, run.output()


def test_plain_http_url_is_a_policy_error(run_authcheck, serve, ca_pem):
    sim = serve(good_tenant())
    run = run_authcheck(jamf_policy(sim, ca_pem, url=sim.url.replace("https", "http")), env=ENV)
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(r"authcheck.toml:\d+: providers.jamf.url: .* uses plain http", run.output()), run.output()


def test_hostile_privilege_names_are_escaped_in_html(run_authcheck, serve, ca_pem):
    tenant = good_tenant()
    tenant.update_role("1", privileges=list(JAMFMCP_MINIMUM_READ_PRIVILEGES) + ["<img src=x onerror=alert(1)>"])
    run = run_authcheck(jamf_policy(serve(tenant), ca_pem), env=ENV)
    assert_failed(run, "privileges.excess", CLIENT_SET, r"<img src=x")
    page = readable(run.reports_dir / "authcheck.html")
    blocks = html_blocks(run)
    assert "<img src=x" not in page and "<img src=x" not in blocks
    assert "<li>&lt;img src=x onerror=alert(1)&gt; \u2190 api-role 1" in blocks


def test_under_xdist_the_results_are_the_same(run_authcheck, serve, ca_pem):
    tenant = PRESETS["write_privileges"]()
    run = run_authcheck(jamf_policy(serve(tenant), ca_pem), "-n", "2", "--authcheck-worker-targets", "0",
                        subprocess=True, env=ENV)
    assert_all_ran(run)
    assert set(not_passed(run)) == {("privileges.none-forbidden", CLIENT_SET), ("privileges.excess", CLIENT_SET)}, \
        run.output()
    assert_no_secret_leaks(run, tenant)


# ---------------------------------------------------------------------------------------------------
# units: URL lint, catalogue, derivation, probes


@pytest.mark.parametrize(("written", "url", "change"), [
    ("your-server.com", "https://your-server.com", "no scheme"),
    ("https://your-server.com/", "https://your-server.com", "trailing slash"),
    ("HTTPS://Your-Server.com:443", "https://your-server.com", "default port 443"),
    ("your-server.com:8443", "https://your-server.com:8443", "no scheme"),
    ("https://server.com/jamf/", "https://server.com/jamf", "trailing slash"),
])
def test_url_lint_normalises(written, url, change):
    lint = lint_url(written)
    assert lint.url == url
    assert any(change in c for c in lint.normalised)


def test_url_lint_keeps_custom_port_and_context_path_with_a_note():
    assert "custom port 8443" in lint_url("https://h:8443").notes[0]
    assert "context path '/jamf'" in lint_url("https://h/jamf").notes[0]
    assert lint_url("https://h.jamfcloud.com").normalised == ()


@pytest.mark.parametrize(("written", "message"), [
    ("http://h", "plain http"), ("ftp://h", "scheme 'ftp'"), ("https://u:p@h", "carries credentials"),
    ("https://h/api/v1", "API path"), ("https://h/JSSResource", "API path"), ("https://h?x=1", "query"),
    ("", "empty"), ("https://", "names no host"), ("https://h:99999", "invalid port"),
])
def test_url_lint_refuses(written, message):
    with pytest.raises(JamfUrlError, match=re.escape(message)):
        lint_url(written)


def test_shipped_catalogue_is_the_simulators():
    assert shipped_catalogue("11.12.1-t1733313288") == frozenset(privilege_catalogue())
    assert len(shipped_catalogue("11.12")) == 501
    assert shipped_catalogue("10.48") is None


def test_unknown_names_and_patterns():
    catalogue = shipped_catalogue("11.12")
    assert unknown_name("Read Computers", catalogue) is None
    assert unknown_name("Delete *", catalogue) is None
    assert unknown_name("Grant *", catalogue).reason == "matches no privilege of this version"
    assert unknown_name("Read Computer MDM Command Information", catalogue).now == (
        "View MDM command information in Jamf Pro API",)
    assert unknown_name("Read Polices", catalogue).now == ("Read Policies",)


def test_derivation_from_calls():
    derivation = derive(["GET /api/v1/computers-inventory", "get /v1/computer-groups", "GET /JSSResource/computergroups/id/3",
                         "DELETE /JSSResource/policies/id/1", "GET /api/v1/jcds/files", "GET /nowhere", "FETCH /x"])
    needs = [n.label() for n in derivation.needs]
    assert needs[0] == "Read Computers"
    assert "Read Smart Computer Groups" in needs and "Read Static Computer Groups" in needs  # Pro API: all
    assert "one of (Read Smart Computer Groups | Read Static Computer Groups)" in needs  # Classic: either
    assert "Delete Policies" in needs
    assert "Read Jamf Cloud Distribution Service Files" in needs  # 11.7.1 name mapped to 11.12
    assert [c.call for c in derivation.unknown_calls] == ["GET /nowhere", "FETCH /x"]
    granted = {"Read Computers", "Read Static Computer Groups"}
    assert "Read Static Computer Groups" in derivation.minimal(granted)
    assert "Read Smart Computer Groups" in derivation.minimal(granted)  # the Pro API entry needs both


def test_probe_paths_need_exactly_their_privilege():
    assert probe_path("Read Computers") == "/api/v1/computers-inventory"
    assert probe_path("Read macOS Configuration Profiles") == "/JSSResource/osxconfigurationprofiles"
    assert probe_path("Read Computer Inventory Collection") is None
