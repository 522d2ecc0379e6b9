"""``authcheck.html`` through pytest-html: run facts and counts on top, per check its verdict and evidence.

pytest-html inserts summary HTML, table cells and HTML extras raw, and does not escape test ids, so every
string here goes through ``html.escape`` (values from an IdP are hostile until proven otherwise).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import pytest

from .._checks import SEVERITIES
from .._jamf.grants import PRIVILEGE_DIFF_FACT
from .._results import STATUSES
from .._run import AuthcheckRun
from . import html_audit
from .json_report import targets
from .matrix import render_matrices
from .summary import ci_facts, counts, tool_facts, verdict

FILENAME = "authcheck.html"
STYLE = """<style>
.ac-block{font-family:system-ui,sans-serif;font-size:13px;white-space:normal;margin:4px 0 8px}
.ac-block table{border-collapse:collapse;margin:4px 0}
.ac-block td,.ac-block th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.ac-sev{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-weight:600}
.ac-critical{background:#7b001c}.ac-high{background:#c62828}.ac-medium{background:#ef6c00}.ac-low{background:#9e9d24}.ac-info{background:#607d8b}
.ac-failed{color:#c62828;font-weight:600}.ac-error{color:#6a1b9a;font-weight:600}.ac-passed{color:#2e7d32}.ac-skipped{color:#616161}
.ac-block pre{white-space:pre-wrap;word-break:break-all;max-height:30em;overflow:auto;background:#f6f6f6;padding:4px;margin:2px 0}
.ac-block details{margin:2px 0}.ac-block summary{cursor:pointer}
@media print{.ac-block details{display:block}.ac-block pre{max-height:none}}
</style>"""


def configure(config: pytest.Config, run: AuthcheckRun) -> None:
    """Point pytest-html at ``reports/authcheck.html`` (unless ``--html`` was given) and register our hooks."""
    if not config.pluginmanager.hasplugin("html") or not hasattr(config.option, "htmlpath"):
        return
    if not config.option.htmlpath:
        config.option.htmlpath = str(Path(run.reports_dir) / FILENAME)
        config.option.self_contained_html = True
    run.html_path = Path(config.option.htmlpath)
    config.pluginmanager.register(HtmlHooks(run), "authcheck-html")


class HtmlHooks:
    """pytest-html hooks; registered only when pytest-html is active."""

    def __init__(self, run: AuthcheckRun) -> None:
        self.run = run

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "pytest-authcheck report"

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str],
                                    session: pytest.Session) -> None:
        prefix.extend([STYLE, html_audit.STYLE, html_audit.render_gate(self.run), render_run(self.run),
                       render_matrices(self.run.policy, self.run.results)])
        postfix.extend(html_audit.sections(self.run, render_result))

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="sortable" data-column-type="check">Check</th>')
        cells.insert(3, '<th class="sortable" data-column-type="severity">Severity</th>')
        cells.insert(4, '<th class="sortable" data-column-type="target">Target</th>')

    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        result = getattr(report, "authcheck", None) or {}
        cells[1] = f'<td class="col-testId">{escape(report.nodeid)}</td>'
        cells.insert(2, f'<td class="col-check">{escape(str(result.get("check", "")))}</td>')
        severity = str(result.get("severity", ""))
        cells.insert(3, f'<td class="col-severity">{_severity(severity) if severity else ""}</td>')
        cells.insert(4, f'<td class="col-target">{escape(str(result.get("target") or ""))}</td>')

    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        result = getattr(report, "authcheck", None)
        if result is not None:
            data.insert(0, render_result(result, self.run.exchanges))


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


def render_result(result: dict[str, Any], exchanges: dict[str, dict[str, Any]]) -> str:
    """One check's verdict, guidance and evidence; every value escaped."""
    parts = [f'<div class="ac-block"><b>{escape(result["check"])}</b> {_severity(result["severity"])} '
             f'<span class="ac-{escape(result["status"])}">{escape(result["status"])}</span> '
             f'&mdash; {escape(result["title"])}']
    if result.get("target"):
        parts.append(f'<br>Target: {escape(result["target"])}')
    if result.get("message"):
        parts.append(f'<pre>{escape(result["message"])}</pre>')
    if "expected" in result or "observed" in result:
        parts.append(f'<table><tr><th>Expected</th><td><pre>{_pretty(result.get("expected"))}</pre></td></tr>'
                     f'<tr><th>Observed</th><td><pre>{_pretty(result.get("observed"))}</pre></td></tr></table>')
    if result["status"] in ("failed", "error", "waived"):
        parts.append(f'<br>Remediation: {escape(result["remediation"])}')
    if result.get("waiver"):
        parts.append(html_audit.render_waiver_note(result["waiver"]))
    if result.get("refs"):
        parts.append(f'<br>Spec: {escape("; ".join(result["refs"]))} ({escape(result.get("level", ""))})')
    evidence = result.get("evidence", {})
    for name, value in evidence.get("facts", {}).items():
        if name == PRIVILEGE_DIFF_FACT and isinstance(value, dict):
            parts.append(render_privilege_diff(value))
            continue
        parts.append(f'<details><summary>{escape(name)}</summary><pre>{_pretty(value)}</pre></details>')
    for token in evidence.get("jwts", []):
        parts.append(f'<details><summary>JWT {escape(str(token.get("label", "")))} {escape(str(token.get("fingerprint", "")))}'
                     f'</summary><pre>{_pretty({k: token.get(k) for k in ("header", "claims", "error") if k in token})}</pre></details>')
    for exchange_id in evidence.get("exchanges", []):
        exchange = exchanges.get(exchange_id)
        if exchange is not None:
            parts.append(_exchange(exchange))
    parts.append("</div>")
    return "".join(parts)


# Rows of the privilege diff table: fact member, label, whether each name shows the source of its grant.
_DIFF_ROWS = (("required", "Required", False), ("derived", "Derived from calls", False), ("granted", "Granted", True),
              ("missing", "Missing", False), ("derived_missing", "Missing for calls", False),
              ("excess", "Excess", True), ("forbidden", "Forbidden", True), ("unknown", "Unknown names", False))


def render_privilege_diff(diff: dict[str, Any]) -> str:
    """The ``privilege diff`` fact as a table: one row per category, each name with its evidence."""
    sources = diff.get("sources") if isinstance(diff.get("sources"), dict) else {}

    def item(value: Any, with_source: bool) -> str:
        if isinstance(value, dict) and "pattern" in value:
            name = str(value.get("privilege"))
            text = f"{name} (matches {value.get('pattern')})"
        elif isinstance(value, dict):
            name, text = str(value.get("name")), str(value.get("finding", value.get("name")))
        else:
            name = text = str(value)
        origin = sources.get(name) if with_source and sources else None
        if isinstance(origin, list) and origin:
            text += " \u2190 " + ", ".join(map(str, origin))
        return f"<li>{escape(text)}</li>"

    rows = []
    for key, label, with_source in _DIFF_ROWS:
        values = diff.get(key)
        if not isinstance(values, list):
            continue
        css = ' class="ac-failed"' if key in ("missing", "derived_missing", "excess", "forbidden", "unknown") and values else ""
        names = "".join(item(v, with_source) for v in values)
        rows.append(f'<tr><th{css}>{escape(label)}</th><td>{len(values)}</td><td><ul>{names}</ul></td></tr>')
    notes = diff.get("notes")
    if isinstance(notes, list) and notes:
        rows.append(f'<tr><th>Notes</th><td>{len(notes)}</td><td><ul>{"".join(f"<li>{escape(str(n))}</li>" for n in notes)}</ul></td></tr>')
    caption = f'Privilege diff of {diff.get("principal")}' + (f' ({diff.get("catalogue")})' if diff.get("catalogue") else "")
    return (f'<details open class="ac-privilege-diff"><summary>{escape(caption)}</summary><table>'
            f'<tr><th>Category</th><th>Count</th><th>Privileges (\u2190 granted by)</th></tr>{"".join(rows)}</table></details>')


def _exchange(x: dict[str, Any]) -> str:
    status = x.get("status") if x.get("status") is not None else x.get("error", "no answer")
    request = f'{x["method"]} {x["url"]}\n' + "".join(f"{k}: {v}\n" for k, v in x.get("request_headers", []))
    if x.get("request_body"):
        request += "\n" + x["request_body"]
    response = f'{x.get("http_version") or ""} {x.get("status") or ""} {x.get("reason") or ""}'.strip() + "\n"
    response += "".join(f"{k}: {v}\n" for k, v in x.get("response_headers", []))
    if x.get("response_body"):
        response += "\n" + x["response_body"] + ("\n[truncated]" if x.get("body_truncated") else "")
    if x.get("error"):
        response += f'\nerror: {x["error"]}'
    meta = f'{x.get("elapsed_ms")} ms, {x.get("attempts", 1)} attempt(s), {x.get("tls_version") or "no TLS"}, at {x.get("started")}'
    return (f'<details><summary>HTTP {escape(x["method"])} {escape(x["url"])} &rarr; {escape(str(status))}</summary>'
            f'<pre>{escape(request)}</pre><pre>{escape(response)}</pre><small>{escape(meta)}</small></details>')


def _severity(severity: str) -> str:
    return f'<span class="ac-sev ac-{escape(severity)}">{escape(severity)}</span>'


def _pretty(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False, default=str)
    return escape(text)
