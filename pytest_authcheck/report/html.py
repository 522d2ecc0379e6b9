"""``authcheck.html`` through pytest-html: gate, run facts and counts on top, then the findings (``html_audit``).

pytest-html's own table gets only the results that need a look, each with a link to its evidence in the
findings, so neither the rows nor the evidence are repeated per result. pytest-html inserts summary HTML,
table cells and HTML extras raw, and does not escape test ids, so every string here goes through
``html.escape`` (values from an IdP are hostile until proven otherwise).

The findings' data (``html_data``, most of the page's bytes) is not given to pytest-html, which renders its page as
one string: the summary holds a marker, and ``complete`` writes the data in its place once pytest-html has written
the page.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from .._checks import SEVERITIES
from .._run import AuthcheckRun
from ..results.build import STATUSES
from . import html_audit, html_data
from .json_report import targets
from .matrix import render_matrices
from .summary import ci_facts, counts, tool_facts, verdict
from .text import escape

FILENAME = "authcheck.html"
# pytest-html keeps every row it is given in its page and builds them all on opening: it gets the results
# that need a look (failed, error, waived), at most this many; every result is in the findings section.
PYTEST_HTML_ROWS = 500
LISTED_STATUSES = ("failed", "error", "waived")


def configure(config: pytest.Config, run: AuthcheckRun) -> None:
    """Point pytest-html at ``reports/authcheck.html`` (unless ``--html`` was given) and register our hooks."""
    if not config.pluginmanager.hasplugin("html") or not hasattr(config.option, "htmlpath"):
        return
    if config.option.collectonly:
        return  # nothing is checked: the last run's authcheck.html stays
    if not config.option.htmlpath:
        config.option.htmlpath = str(Path(run.reports_dir) / FILENAME)
        config.option.self_contained_html = True
    # where pytest-html writes it: it expands variables and ~ in the path it is given
    run.html_path = Path(os.path.expandvars(config.option.htmlpath)).expanduser()
    config.pluginmanager.register(HtmlHooks(run), "authcheck-html")


class HtmlHooks:
    """pytest-html hooks; registered only when pytest-html is active."""

    def __init__(self, run: AuthcheckRun) -> None:
        self.run = run
        self.listed = 0
        self.left_out = 0
        self._index: dict[str, int] = {}
        self._indexed = 0
        self._unlisted: set[str] = set()

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "pytest-authcheck report"

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str],
                                    session: pytest.Session) -> None:
        prefix.extend([html_audit.STYLE, html_audit.render_gate(self.run), render_run(self.run),
                       render_matrices(self.run.policy, self.run.results)])
        summary.append(self.table_note())
        # The findings' data (most of the page's bytes) is written into the page once pytest-html has written it
        # (``complete``), so it is never part of the page pytest-html renders as one string.
        self.run.html_data_marker = f"<!-- authcheck findings data {secrets.token_hex(16)} -->"
        postfix.extend(html_audit.sections(self.run, self.run.html_data_marker))

    def table_note(self) -> str:
        """What pytest-html's own table below holds, since it does not hold every result."""
        total = len(self.run.results)
        capped = (f"; {self.left_out} more that need a look are left out of it (at most {PYTEST_HTML_ROWS} rows)"
                  if self.left_out else "")
        return (f'<p class="ac-note" id="ac-table-note">The table at the bottom (pytest-html) lists {self.listed} of the '
                f'{total} results: those that failed, could not be evaluated or are waived{capped}. Its counts cover '
                'those rows only. Every result is under <i>Findings by target</i>.</p>')

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="sortable" data-column-type="check">Check</th>')
        cells.insert(3, '<th class="sortable" data-column-type="severity">Severity</th>')
        cells.insert(4, '<th class="sortable" data-column-type="target">Target</th>')

    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        result = getattr(report, "authcheck", None)
        if result is None and report.when == "setup" and report.passed:
            # pytest-html adds nothing for a passed setup, but builds its row first unless it has no cells
            cells.clear()
            return
        if result is None and report.when == "teardown" and report.passed and report.nodeid in self._unlisted:
            # Given a teardown, pytest-html adds an entry for its test even without a row; a failed one is kept.
            self._unlisted.discard(report.nodeid)
            cells.clear()
            return
        if result is not None and (result["status"] not in LISTED_STATUSES or self.listed >= PYTEST_HTML_ROWS):
            if result["status"] in LISTED_STATUSES:
                self.left_out += 1
            self._unlisted.add(report.nodeid)
            cells.clear()  # pytest-html leaves out a row without cells
            return
        if result is not None:
            self.listed += 1
        result = result or {}
        cells[1] = f'<td class="col-testId">{escape(report.nodeid)}</td>'
        cells.insert(2, f'<td class="col-check">{escape(str(result.get("check", "")))}</td>')
        severity = str(result.get("severity", ""))
        cells.insert(3, f'<td class="col-severity">{_severity(severity) if severity else ""}</td>')
        cells.insert(4, f'<td class="col-target">{escape(str(result.get("target") or ""))}</td>')

    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        result = getattr(report, "authcheck", None)
        if result is None:
            return
        # A link to the result in the findings section, where its evidence is (kept once, not per row).
        index = self.index_of(result["nodeid"])
        if index is not None:
            data.insert(0, f'<div class="ac-block"><a href="#ac-r{index}">{escape(result["check"])} on '
                           f'{escape(str(result.get("target") or "no target"))}: expected, observed and evidence '
                           'in the findings</a></div>')

    def index_of(self, nodeid: str) -> int | None:
        """The position of a result in ``run.results`` (its anchor in the findings)."""
        results = self.run.results
        for position in range(self._indexed, len(results)):
            self._index.setdefault(results[position]["nodeid"], position)
        self._indexed = len(results)
        return self._index.get(nodeid)


def complete(run: AuthcheckRun) -> None:
    """Write the findings' data where pytest-html's page holds its marker (the page is written by then)."""
    marker, path = run.html_data_marker, run.html_path
    if not marker or path is None or not Path(path).is_file():
        return
    path = Path(path)
    # newline="": the page's bytes stay as pytest-html wrote them, line ends included
    with path.open(encoding="utf-8", newline="") as page:
        head, found, tail = page.read().partition(marker)
    if not found:
        return
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="") as handle:
            handle.write(head)
            del head
            html_data.write_script_elements(handle, run)
            handle.write(tail)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    run.html_data_marker = None


def render_run(run: AuthcheckRun) -> str:
    """Run facts, policy hash, targets and counts by severity and status."""
    totals = counts(run.results)
    tool = tool_facts()
    facts = [
        ("Run", run.run_id),
        ("Started (UTC)", run.started.isoformat(timespec="seconds")),
        ("Finished (UTC)", run.finished.isoformat(timespec="seconds") if run.finished else "running"),
        ("Duration", f"{run.duration} s" if run.duration is not None else ""),
        ("Tool", f"{tool['name']} {tool['version']}, Python {tool['python']}, pytest {tool['pytest']}"),
        ("Command", " ".join(run.argv)),
        ("Policy", f"{run.policy.path}"),
        ("Policy sha256", run.policy.sha256),
        ("Verdict", verdict(totals, run.outcome)),
    ]
    facts += [(f"CI {k}", v) for k, v in ci_facts().items()]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    target_rows = "".join(
        f"<tr><td>{escape(t['id'])}</td><td>{escape(str(t['kind']))}</td><td>{escape(t['address'])}</td></tr>"
        for t in targets(run))
    header = "".join(f"<th>{escape(s)}</th>" for s in STATUSES)
    count_rows = "".join(
        f"<tr><td>{_severity(sev)}</td>" + "".join(f"<td>{totals['by_severity'][sev][s]}</td>" for s in STATUSES) + "</tr>"
        for sev in SEVERITIES)
    return (f'<div class="ac-block"><table>{rows}</table><table><tr><th>Target</th><th>Kind</th><th>Address</th></tr>'
            f'{target_rows}</table><table><tr><th>Severity</th>{header}</tr>{count_rows}</table></div>')


def _severity(severity: str) -> str:
    return f'<span class="ac-sev ac-{escape(severity)}">{escape(severity)}</span>'
