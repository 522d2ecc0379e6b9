"""One cause, one finding; framework coverage in the reports.

The roll-up is tested on its own (``results.causes.roll_up`` and the gate over it), then as a user meets it: two
real providers whose TLS is broken (tests/idp variants expired-cert and untrusted-cert), where every check
that talks to them cannot be evaluated. The gate, the terminal, the Markdown and the HTML count one finding
per cause with the number of checks it blocked; the JSON keeps every result, each naming its cause. The same
run's HTML shows the framework coverage, opened in headless Chromium.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_authcheck.results.causes import roll_up
from pytest_authcheck.results.frameworks import catalog
from pytest_authcheck._net import origin
from pytest_authcheck.results.outcome import GateSettings, decide
from pytest_authcheck.policy.load import load_policy
from tests.browser import Browser
from tests.test_report_outputs import REPORT_SCHEMA, browser  # noqa: F401  (fixture)

# decide() reads the shipped suites (framework coverage): importing them marks their checks with markers that
# only a run with --authcheck registers.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")

TLS = "could not evaluate: TLS handshake with {o} failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
REFUSED = "could not evaluate: cannot connect to {o}: [Errno 111] Connection refused"


def _policy(tmp_path: Path) -> Any:
    path = tmp_path / "authcheck.toml"
    path.write_text(textwrap.dedent("""\
        [providers.a]
        kind = "oidc"
        issuer = "https://a.example"

        [providers.b]
        kind = "oidc"
        issuer = "https://b.example"

        [clients.cli]
        provider = "a"
        client_id = "cli"
        type = "public"
        grant_types = ["authorization_code"]
        redirect_uris = ["http://127.0.0.1/cb"]

        [clients.web]
        provider = "a"
        client_id = "web"
        type = "public"
        grant_types = ["authorization_code"]
        redirect_uris = ["http://127.0.0.1/cb"]
        """))
    return load_policy(path, environ={})


def _result(check: str, status: str, target: str | None, message: str | None = None,
            severity: str = "high") -> dict[str, Any]:
    return {"nodeid": f"suite.py::{check}[{target}]", "check": check, "title": check, "severity": severity,
            "level": "MUST", "target": target, "status": status, "message": message, "area": check.split(".")[0],
            "blocking": status in ("failed", "error")}


def _by_id(causes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in causes}


# ---- the roll-up on its own -------------------------------------------------------------------------------
def test_transport_failures_roll_up_per_origin_and_kind(tmp_path: Path) -> None:
    a, b = "https://a.example:443", "https://b.example:443"
    results = [
        _result("tls.chain-trusted", "failed", "providers.a", "certificate chain not trusted"),
        _result("discovery.schema", "error", "providers.a", TLS.format(o=a)),
        _result("jwks.reachable", "error", "providers.a", TLS.format(o=a)),
        _result("pkce.required", "error", "clients.cli", TLS.format(o=a)),
        _result("discovery.schema", "error", "providers.b", REFUSED.format(o=b)),
        _result("jwks.reachable", "error", "providers.b", REFUSED.format(o=b)),
        _result("clock.date-header", "error", "providers.b",
                f"could not evaluate: ReadTimeout: no complete answer from {b} within 5s"),
        _result("discovery.issuer-match", "passed", "providers.a"),
    ]
    causes = _by_id(roll_up(results, _policy(tmp_path)))
    assert set(causes) == {"tls.chain-trusted@providers.a", f"tls@{a}", f"connect@{b}", f"timeout@{b}"}
    assert causes[f"tls@{a}"]["count"] == 3 and causes[f"tls@{a}"]["kind"] == "transport"
    assert causes[f"tls@{a}"]["blocked"] == [r["nodeid"] for r in results[1:4]]
    assert causes[f"tls@{a}"]["targets"] == ["clients.cli", "providers.a"]
    assert causes[f"tls@{a}"]["summary"].startswith(f"TLS handshake with {a} failed: [SSL:")
    assert causes[f"connect@{b}"]["count"] == 2
    assert causes[f"timeout@{b}"]["count"] == 1  # another kind of failure at the same origin is another cause
    failed = causes["tls.chain-trusted@providers.a"]
    assert (failed["kind"], failed["count"], failed["result"]) == ("failed", 0, results[0]["nodeid"])
    assert [r.get("cause") for r in results] == ["tls.chain-trusted@providers.a", *[f"tls@{a}"] * 3,
                                                *[f"connect@{b}"] * 2, f"timeout@{b}", None]


def test_a_pointer_joins_the_cause_of_the_result_it_names(tmp_path: Path) -> None:
    a = "https://a.example:443"
    see_secret = "not evaluated: the declared secret itself is refused (HTTP 401); see client-auth.secret-accepted"
    results = [
        _result("client-auth.secret-accepted", "failed", "clients.web", "the token endpoint refused the secret"),
        _result("grants.declared-work", "error", "clients.web", see_secret),
        # a chain: this one names grants.declared-work, which names the failure
        _result("refresh.rotation", "error", "clients.web",
                "not evaluated: the refresh itself does not work; see grants.declared-work"),
        # on a client, a pointer at a provider check finds the provider's result
        _result("pkce.required", "error", "clients.cli", "not evaluated: not asked (see tls.no-plain-http)"),
        _result("tls.no-plain-http", "failed", "providers.a", "not https: token_endpoint"),
        # the named check passed: the pointer itself is the cause, shared by every result pointing that way
        _result("client-auth.secret-accepted", "passed", "clients.cli"),
        _result("scopes.out-of-policy-refused", "error", "clients.cli",
                "not evaluated: the ordinary request gets no token; see client-auth.secret-accepted"),
        _result("scopes.omitted-scope-bounded", "error", "clients.cli",
                "not evaluated: the ordinary request gets no token; see client-auth.secret-accepted"),
        # the named check could not be evaluated for a transport failure: that failure is the cause
        _result("redirect-uri.registered-accepted", "error", "providers.b", TLS.format(o=a)),
        _result("redirect-uri.exact-match", "error", "providers.b",
                "not evaluated: the ordinary authorization request is itself refused; see "
                "client-auth.public-client-known and redirect-uri.registered-accepted"),
        # two results that name each other, with nothing else to go on: one cause, found without looping
        _result("x.one", "error", "providers.b", "not evaluated: see x.two"),
        _result("x.two", "error", "providers.b", "not evaluated: see x.one"),
    ]
    causes = _by_id(roll_up(results, _policy(tmp_path)))
    cause = {(r["check"], r["target"]): r.get("cause") for r in results}
    secret = "client-auth.secret-accepted@clients.web"
    assert cause[("grants.declared-work", "clients.web")] == cause[("refresh.rotation", "clients.web")] == secret
    assert causes[secret]["count"] == 2 and causes[secret]["blocked"] == [results[1]["nodeid"], results[2]["nodeid"]]
    assert cause[("pkce.required", "clients.cli")] == "tls.no-plain-http@providers.a"
    pointer = "see client-auth.secret-accepted@clients.cli"
    assert cause[("scopes.out-of-policy-refused", "clients.cli")] == cause[("scopes.omitted-scope-bounded",
                                                                            "clients.cli")] == pointer
    assert causes[pointer]["kind"] == "pointer" and causes[pointer]["count"] == 2
    assert causes[pointer]["summary"] == "the ordinary request gets no token; see client-auth.secret-accepted"
    assert cause[("redirect-uri.exact-match", "providers.b")] == f"tls@{a}" and causes[f"tls@{a}"]["count"] == 2
    assert {cause[("x.one", "providers.b")], cause[("x.two", "providers.b")]} <= set(causes)
    assert sum(c["count"] + ("result" in c) for c in causes.values()) == sum(
        r["status"] in ("failed", "error") for r in results)


def test_throttles_roll_up_per_provider(tmp_path: Path) -> None:
    throttled = ("not evaluated: the provider throttled the probe: HTTP 429 (Retry-After 120s); run again later "
                 "or from another address")
    results = [_result("pkce.required", "error", "clients.cli", throttled),
               _result("pkce.required", "error", "clients.web", throttled),
               _result("discovery.schema", "error", "providers.a", throttled),
               _result("discovery.schema", "error", "providers.b", throttled)]
    causes = _by_id(roll_up(results, _policy(tmp_path)))
    assert {k: c["count"] for k, c in causes.items()} == {"throttled@providers.a": 3, "throttled@providers.b": 1}


def test_the_gate_counts_one_finding_per_cause_at_its_worst_severity(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    a = "https://a.example:443"

    def results() -> list[dict[str, Any]]:
        return [_result("tls.chain-trusted", "failed", "providers.a", "not trusted", severity="critical"),
                *[_result(f"c.{i}", "error", "providers.a", TLS.format(o=a), severity="low") for i in range(5)],
                _result("lifetimes.access-token", "failed", "clients.cli", "too long", severity="medium"),
                _result("d.low", "error", "clients.web", "not evaluated: see lifetimes.id-token", severity="low"),
                _result("d.high", "error", "clients.web", "not evaluated: see lifetimes.id-token", severity="high")]

    today = dt.date(2026, 6, 1)
    everything = decide(results(), policy=policy, waivers=[], today=today, settings=GateSettings(), baseline=None)
    assert everything["gate"]["blocking"] == 4 and everything["gate"]["blocking_results"] == 9
    assert everything["gate"]["reasons"] == ["4 finding(s) at or above severity info (9 results)"]
    # At "high", a cause blocks when one of its results does: the pointer holds a high result, the TLS
    # failure only low ones, the medium failure is below.
    high = decide(results(), policy=policy, waivers=[], today=today, settings=GateSettings("high"), baseline=None)
    assert {c["id"]: c["blocking"] for c in high["causes"]} == {
        "tls.chain-trusted@providers.a": True, "see lifetimes.id-token@clients.web": True,
        f"tls@{a}": False, "lifetimes.access-token@clients.cli": False}
    assert (high["gate"]["blocking"], high["gate"]["not_blocking"], high["gate"]["blocking_results"]) == (2, 2, 2)
    assert high["gate"]["reasons"] == ["2 finding(s) at or above severity high"]
    assert _by_id(high["causes"])["see lifetimes.id-token@clients.web"]["severity"] == "high"
    assert [c["id"] for c in high["causes"]][:2] == ["tls.chain-trusted@providers.a", "see lifetimes.id-token@clients.web"]


# ---- two providers with broken TLS, as a user runs them -------------------------------------------------------
def _two_broken_providers(idp) -> tuple[str, dict[str, str]]:
    parts = [textwrap.dedent(f"""\
        [settings]
        ca_bundle = "{idp("expired-cert").ca_pem_path}"
        timeout = "5s"
        reports = "reports"
        """)]
    origins = {}
    for variant in ("expired-cert", "untrusted-cert"):
        running = idp(variant)
        name = variant.split("-")[0]
        origins[name] = origin(running.base_url)
        parts.append(textwrap.dedent(f"""
            [providers.{name}]
            kind = "oidc"
            issuer = "{running.served_issuer}"
            signing_algs = ["RS256", "ES256"]

            [clients.{name}-deployer]
            provider = "{name}"
            client_id = "ci-deployer"
            client_secret = "${{DEPLOYER_SECRET}}"
            type = "confidential"
            grant_types = ["client_credentials"]
            scopes = ["deploy", "read"]

            [clients.{name}-cli]
            provider = "{name}"
            client_id = "enclii-cli"
            type = "public"
            application = "native"
            grant_types = ["authorization_code", "refresh_token"]
            redirect_uris = ["http://127.0.0.1/callback"]
            scopes = ["openid", "profile", "email"]
            """))
    return "".join(parts), origins


@pytest.fixture(scope="module")
def tls_run(idp, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run against both broken providers, every area but the local credential hygiene (which has its own)."""
    import os
    import subprocess
    import sys

    from tests.idp.world import DEPLOYER_SECRET

    policy, origins = _two_broken_providers(idp)
    folder = tmp_path_factory.mktemp("broken-tls")
    (folder / "authcheck.toml").write_text(policy)
    completed = subprocess.run([sys.executable, "-m", "pytest", "--authcheck", "-p", "no:cacheprovider", "-q",
                                "-m", "not credentials"], cwd=folder, capture_output=True, text=True, timeout=600,
                               env={**os.environ, "DEPLOYER_SECRET": DEPLOYER_SECRET})
    reports = folder / "reports"
    return {"code": completed.returncode, "output": completed.stdout + completed.stderr, "reports": reports,
            "report": json.loads((reports / "authcheck.json").read_text()), "origins": origins}


def test_two_providers_with_broken_tls_count_one_finding_per_cause(tls_run: dict[str, Any]) -> None:
    report, output = tls_run["report"], tls_run["output"]
    assert tls_run["code"] == 1, output[-3000:]
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(report)
    findings = [r for r in report["results"] if r["status"] in ("failed", "error")]
    causes = _by_id(report["causes"])
    # Every failed or unevaluated result names its cause; a cause lists exactly the results it blocked.
    members = Counter(r["cause"] for r in findings)
    assert set(members) == set(causes)
    for cause in causes.values():
        own = 1 if "result" in cause else 0
        assert cause["count"] == members[cause["id"]] - own == len(cause["blocked"]), cause["id"]
    for result in findings:
        if result["status"] == "failed":
            assert causes[result["cause"]]["result"] == result["nodeid"]  # a failure is its own cause
    # Each provider's TLS failure is one cause holding every check its handshake stopped.
    for name, where in tls_run["origins"].items():
        cause = causes[f"tls@{where}"]
        stopped = [r for r in findings if f"TLS handshake with {where} failed" in (r["message"] or "")]
        assert cause["count"] == len(stopped) >= 20, (name, cause["count"])
        assert cause["targets"] == [f"clients.{name}-cli", f"clients.{name}-deployer", f"providers.{name}"]
        assert re.search(rf"^\s+{cause['count']} checks could not be evaluated because TLS handshake with "
                         rf"{re.escape(where)} failed: ", output, re.M), output[-3000:]
    # The gate counts causes; the reason says how many results they hold.
    gate = report["gate"]
    assert gate["blocking"] == len(causes) < len(findings) == gate["blocking_results"]
    assert gate["reasons"] == [f"{len(causes)} finding(s) at or above severity info ({len(findings)} results)"]
    assert f"gate (fail on info): failed: {len(causes)} finding(s)" in output
    # The JSON keeps every result, each with its title.
    titles = {c["id"]: c["title"] for c in report["checks"].values()}
    assert all(r["title"] == titles[r["check"]] for r in report["results"])

    # Markdown: one row per cause, the TLS failures with the count of checks they blocked.
    markdown = (tls_run["reports"] / "authcheck.md").read_text()
    rows = [line for line in markdown.splitlines() if re.match(r"^\| (critical|high|medium|low|info) \|", line)]
    assert len(rows) == len(causes)
    for where in tls_run["origins"].values():
        count = causes[f"tls@{where}"]["count"]
        assert any(f"{count} checks could not be evaluated because TLS handshake with {where} failed" in row
                   and row.endswith(f"| {count} |") for row in rows)


def test_framework_coverage_in_the_json_and_markdown(tls_run: dict[str, Any]) -> None:
    frameworks = tls_run["report"]["frameworks"]
    data = catalog()
    assert list(frameworks) == list(data.frameworks)
    for key, coverage in frameworks.items():
        assert coverage["total"] == len(data.frameworks[key].requirements) == len(coverage["requirements"])
        assert sum(coverage["counts"].values()) == coverage["total"]
        assert coverage["covered"] == coverage["total"] - len(coverage["not_covered"]) > 0
        assert {r["id"] for r in coverage["requirements"] if r["state"] == "not evaluated"} == set(coverage["not_evaluated"])
    # The TLS failures of the run are the failed requirements; what the handshake stopped is not evaluated.
    asvs = {r["id"]: r for r in frameworks["asvs"]["requirements"]}
    failed = [r for r in asvs.values() if r["state"] == "failed"]
    assert failed and all(d.startswith("tls.") for r in failed for d in r["deciding"])
    assert frameworks["rfc9700"]["counts"]["not evaluated"] > 0 and frameworks["rfc9700"]["counts"]["failed"] == 0
    markdown = (tls_run["reports"] / "authcheck.md").read_text()
    section = markdown[markdown.index("### Framework coverage"):]
    for coverage in frameworks.values():
        counts = coverage["counts"]
        assert (f"| {coverage['name']} | {coverage['total']} | {coverage['checked']} | {counts['passed']} | "
                f"{counts['failed']} | {counts['accepted']} | {counts['not evaluated']} | {counts['not run']} | "
                f"{counts['not covered']} |") in section
    assert f"not evaluated: {', '.join(frameworks['asvs']['not_evaluated'][:3])}" in section


def test_the_html_shows_causes_and_framework_coverage_in_chromium(tls_run: dict[str, Any],
                                                                  browser: Browser) -> None:  # noqa: F811
    report = tls_run["report"]
    browser.open((tls_run["reports"] / "authcheck.html").resolve().as_uri())
    assert browser.problems() == []
    # The causes that blocked other checks: one row each, with the count, the blocked checks a click away.
    rolled = [c for c in report["causes"] if c["count"]]
    rows = browser.evaluate("Array.from(document.querySelectorAll('#ac-causes + p + table tbody tr'))"
                            ".map(r => r.cells[1].innerText)")
    assert len(rows) == len(rolled) >= 2
    for cause, row in zip(rolled, rows, strict=True):
        assert row.startswith(f"{cause['count']} checks could not be evaluated because {cause['summary'][:60]}")
    first = "document.querySelector('#ac-causes + p + table details.ac-blocked')"
    assert browser.evaluate(f"{first}.open") is False
    browser.evaluate(f"{first}.querySelector('summary').click()")
    assert browser.evaluate(f"{first}.querySelectorAll('a').length") == min(rolled[0]["count"], 100)
    browser.evaluate(f"{first}.querySelector('a').click()")
    browser.evaluate("new Promise(done => setTimeout(done, 50))")
    index = int(browser.evaluate("location.hash").removeprefix("#ac-r"))
    shown = browser.evaluate(f"document.getElementById('ac-r{index}').querySelector('td.ac-msg > details').innerText")
    assert f"One finding with others: {rolled[0]['count']} checks could not be evaluated because" in shown

    # Frameworks: per framework a summary line, a table of the covered requirements, the rest listed closed.
    frameworks = report["frameworks"]
    sections = browser.evaluate("Array.from(document.querySelectorAll('section.ac-framework')).map(s => s.id)")
    assert sections == [f"ac-framework-{key}" for key in frameworks]
    for key, coverage in frameworks.items():
        section = f"document.getElementById('ac-framework-{key}')"
        line = browser.evaluate(f"{section}.querySelector('.ac-framework-summary').textContent")
        assert line.startswith(f"{coverage['checked']} of {coverage['total']} requirements checked")
        assert f"{coverage['counts']['not covered']} not covered by any check" in line
        states = browser.evaluate(f"Array.from({section}.querySelectorAll('tbody tr')).map(r => r.dataset.state)")
        assert Counter(states) == Counter({s: n for s, n in coverage["counts"].items() if n and s != "not covered"})
        gaps = f"{section}.querySelector('details.ac-not-covered')"
        assert browser.evaluate(f"{gaps}.open") is False
        assert browser.evaluate(f"{gaps}.querySelector('ul').checkVisibility()") is False
        browser.evaluate(f"{gaps}.querySelector('summary').click()")
        assert browser.evaluate(f"{gaps}.open") is True
        listed = browser.evaluate(f"Array.from({gaps}.querySelectorAll('li a')).map(a => a.textContent)")
        assert listed == [r["id"] for r in coverage["not_covered"]]
        assert browser.evaluate(f"{gaps}.querySelector('ul').checkVisibility()") is True
    # A deciding result links to that result in the findings.
    link = "document.querySelector('section.ac-framework tbody a[href^=\"#ac-r\"]')"
    target = browser.evaluate(f"{link}.getAttribute('href')")
    assert browser.evaluate(f"{link}.textContent") in {f"{r['check']}@{r['target']}" for r in report["results"]}
    browser.evaluate(f"{link}.click()")
    browser.evaluate("new Promise(done => setTimeout(done, 50))")
    assert browser.evaluate(f"document.getElementById('{target[1:]}') !== null") is True
    assert browser.problems() == []
