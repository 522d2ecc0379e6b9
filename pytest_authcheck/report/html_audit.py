"""The auditor's part of ``authcheck.html``: gate, causes, findings by target, threats, frameworks, levels, waivers,
baseline.

Rendered into pytest-html's summary area (above its own test table). The findings are one JSON document
(``html_data``) that the inline script (``html_audit.js``) renders a page of targets at a time, so the
page stays small and quick to open at any number of results. Self-contained: style, script and data are
inline, nothing is fetched. Every string written here as HTML is ``html.escape``d (IdP values are hostile
until proven otherwise). Printing (to PDF) renders every result that matches the filters (up to 1,000), evidence
open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, NamedTuple

from .._checks import SEVERITIES
from .._run import AuthcheckRun
from ..results.causes import because, rolled_up
from . import html_data
from .html_data import STATUS_ORDER
from .text import escape

THREAT_CLASS = {"open": "failed", "accepted": "waived", "incomplete": "error", "mitigated": "passed",
                "not assessed": "skipped"}
PAGE_SIZES = (25, 100, 1000)
# A cause lists the results it blocked as links, at most this many (the findings hold them all).
CAUSE_LINKS = 100
DECIDING_LINKS = 10
FRAMEWORK_STATE_CLASS = {"failed": "failed", "accepted": "waived", "not evaluated": "error", "passed": "passed",
                         "not run": "skipped", "not covered": "skipped"}


def _resource(name: str) -> str:
    return resources.files("pytest_authcheck.report").joinpath(name).read_text(encoding="utf-8")


STYLE = f"<style>\n{_resource('html_audit.css')}</style>"
SCRIPT = f"<script>\n{_resource('html_audit.js')}</script>"


def sections(run: AuthcheckRun, data: str | None = None) -> list[str]:
    """The blocks below pytest-html's summary (the gate, run facts and ``STYLE`` go above it). ``data`` stands where
    the findings' data goes, written into the page later (``html.complete``); without it, the data itself."""
    anchors = _anchors(run.results, _linked(run))
    causes, frameworks = render_causes(run, anchors), render_frameworks(run, anchors)
    del anchors
    return ['<div class="ac-audit">', causes, render_findings(run), render_threats(run), frameworks, render_levels(run),
            render_waivers(run), render_baseline(run), "</div>",
            html_data.script_elements(run) if data is None else data, SCRIPT]


def _linked(run: AuthcheckRun) -> set[str]:
    """The results the causes and the frameworks link to, by nodeid or ``check@target``: a hundred a cause and ten a
    requirement at most, whatever the number of results."""
    outcome = run.outcome or {}
    wanted = set()
    for cause in rolled_up(outcome.get("causes") or ()):
        wanted.update(cause["blocked"][:CAUSE_LINKS])
        if cause.get("result"):
            wanted.add(cause["result"])
    for framework in (outcome.get("frameworks") or {}).values():
        for requirement in framework["requirements"]:
            wanted.update(requirement.get("deciding", ())[:DECIDING_LINKS])
    return wanted


def _anchors(results: Sequence[Mapping[str, Any]], wanted: set[str]) -> dict[str, Anchor]:
    """Where each ``wanted`` result is in the findings (``#ac-r<index>``) and its name, by nodeid or by
    ``check@target`` (a table of every result's was the page's peak at ten thousand clients)."""
    out: dict[str, Anchor] = {}
    for index, result in enumerate(results):
        for key in (result["nodeid"], f"{result['check']}@{result.get('target') or ''}"):
            if key in wanted and key not in out:
                out[key] = Anchor(index, f"{result['check']} on {result.get('target') or 'no target'}")
    return out


class Anchor(NamedTuple):
    """A linked result: its position in the findings and what a link to it says."""

    position: int
    name: str


def _link(anchors: Mapping[str, Anchor], key: str, text: str | None = None) -> str:
    anchor = anchors.get(key)
    if anchor is None:
        return escape(text or key)
    return f'<a href="#ac-r{anchor.position}">{escape(text or anchor.name)}</a>'


def render_causes(run: AuthcheckRun, anchors: Mapping[str, Anchor]) -> str:
    """The causes that left several checks unevaluated, each once, with the checks it blocked."""
    causes = rolled_up((run.outcome or {}).get("causes") or ())
    if not causes:
        return ""
    rows = []
    for cause in causes:
        blocked = cause["blocked"]
        links = ", ".join(_link(anchors, n) for n in blocked[:CAUSE_LINKS])
        if len(blocked) > CAUSE_LINKS:
            links += f", and {len(blocked) - CAUSE_LINKS} more (search the findings for the cause)"
        origin = _link(anchors, cause["result"]) if cause.get("result") else ""
        rows.append(f'<tr><td><span class="ac-sev ac-{escape(cause["severity"])}">{escape(cause["severity"])}</span></td>'
                    f'<td>{escape(because(cause))}{" (" + origin + ")" if origin else ""}'
                    f'<details class="ac-blocked"><summary>the {cause["count"]} checks</summary>{links}</details></td>'
                    f'<td>{escape(", ".join(cause["targets"]))}</td></tr>')
    return ('<h3 id="ac-causes">Findings that blocked other checks</h3><p class="ac-note">One finding per cause: the gate '
            'counts each once, however many checks it left unevaluated. Each check below is also under its target.</p>'
            '<table><thead><tr><th>Severity</th><th>Cause</th><th>Targets</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def render_frameworks(run: AuthcheckRun, anchors: Mapping[str, Anchor]) -> str:
    """Per framework: how many requirements this run checked, failed, left unevaluated, and which no check covers."""
    frameworks = (run.outcome or {}).get("frameworks") or {}
    if not frameworks:
        return ""
    parts = ['<h3 id="ac-frameworks">Frameworks</h3><p class="ac-note">Each requirement takes the worst state of the '
             'results of its checks: <i>failed</i> only when a failing check shows that requirement broken, <i>not '
             'evaluated</i> when a check of it could not decide, <i>passed</i> when every check of it that ran passed '
             '(with <i>partial</i> evidence when those checks show only part of it).</p>']
    for key, data in frameworks.items():
        counts = data["counts"]
        line = (f'{data["checked"]} of {data["total"]} requirements checked ({counts["passed"]} passed, {counts["failed"]} '
                f'failed, {counts["accepted"]} accepted), {counts["not evaluated"]} not evaluated, {counts["not run"]} not '
                f'run, {counts["not covered"]} not covered by any check')
        rows = []
        for requirement in data["requirements"]:
            if requirement["state"] == "not covered":
                continue
            state = requirement["state"] + (f' ({requirement["evidence"]} evidence)' if requirement.get("evidence") else "")
            checks = ", ".join(f'<code>{escape(c["check"])}</code>' + (" (partial)" if c["coverage"] == "partial" else "")
                               for c in requirement["checks"])
            listed = requirement.get("deciding", ())
            deciding = ", ".join(_link(anchors, d, d) for d in listed[:DECIDING_LINKS])
            more = requirement.get("deciding_total", len(listed)) - min(len(listed), DECIDING_LINKS)
            if more > 0:
                deciding += f" and {more} more"
            rows.append(f'<tr data-state="{escape(requirement["state"])}"><td><a href="{escape(requirement["url"])}">'
                        f'{escape(requirement["id"])}</a></td><td>{escape(requirement["title"])}</td>'
                        f'<td>{escape(requirement["level"])}</td><td><span class="ac-state '
                        f'ac-{FRAMEWORK_STATE_CLASS[requirement["state"]]}">{escape(state)}</span></td>'
                        f'<td>{checks}</td><td>{deciding}</td></tr>')
        gaps = "".join(f'<li><a href="{escape(r["url"])}">{escape(r["id"])}</a> ({escape(r["level"])}) '
                       f'{escape(r["title"])}</li>' for r in data["not_covered"])
        missing = (f'<details class="ac-not-covered"><summary>{len(data["not_covered"])} requirements no check covers'
                   f'</summary><ul>{gaps}</ul></details>') if gaps else ""
        parts.append(f'<section class="ac-framework" id="ac-framework-{escape(key)}"><h4><a href="{escape(data["url"])}">'
                     f'{escape(data["name"])}</a></h4> <span class="ac-framework-summary">{escape(line)}.</span>'
                     '<table><thead><tr><th>Requirement</th><th>Title</th><th>Level</th><th>State</th><th>Checks</th>'
                     f'<th>Deciding results</th></tr></thead><tbody>{"".join(rows)}</tbody></table>{missing}</section>')
    return "".join(parts)


def render_gate(run: AuthcheckRun) -> str:
    """The decision, the threshold that made it, and why."""
    gate = (run.outcome or {}).get("gate")
    if not gate:
        return ""
    decision = gate["decision"]
    threshold = f"fails on a failed or unevaluated check of severity {gate['fail_on']} or higher"
    if gate["new_only"]:
        threshold += ", new since the baseline only"
    reasons = "; ".join(gate["reasons"]) or "nothing at or above the threshold"
    below = f"; {gate['not_blocking']} finding(s) below the threshold" if gate["not_blocking"] else ""
    return (f'<div class="ac-audit ac-gate ac-gate-{escape(decision)}" id="ac-gate"><b>Gate: {escape(decision.upper())}</b> '
            f'&mdash; {escape(reasons)}{escape(below)}.<br><small>The gate {escape(threshold)}; an expired waiver '
            f'fails it too. Exit status {escape(str(run.exit_status))}.</small></div>')


def render_findings(run: AuthcheckRun) -> str:
    """Filters, search and pager; the script fills ``#ac-findings`` from the data document."""
    total = len(run.results)
    controls = ['<div class="ac-controls" id="ac-controls"><b>Severity:</b> ']
    controls += [f'<label><input type="checkbox" data-ac-filter="severity" value="{s}" checked> {s}</label>'
                 for s in SEVERITIES]
    controls.append(" <b>Status:</b> ")
    controls += [f'<label><input type="checkbox" data-ac-filter="status" value="{s}" checked> {s}</label>'
                 for s in STATUS_ORDER]
    controls.append(' <label>Search: <input type="search" id="ac-search" size="24"></label> '
                    f'<span id="ac-shown">{total}</span> of {total} results shown</div>')
    sizes = "".join(f'<option value="{n}">{n}</option>' for n in PAGE_SIZES)
    pager = ('<div class="ac-pager"><button type="button" data-ac-page="first">&laquo;</button>'
             '<button type="button" data-ac-page="prev">&lsaquo; previous</button><span class="ac-page-info"></span>'
             '<button type="button" data-ac-page="next">next &rsaquo;</button>'
             f'<button type="button" data-ac-page="last">&raquo;</button> <label>targets per page <select>{sizes}'
             '</select></label></div>')
    return ('<h3>Findings by target</h3><p class="ac-note">Targets with failures first; within a target, failures '
            'first, passed results counted until you show them. Open a result for its expected and observed values, '
            f'remediation and evidence.</p>{"".join(controls)}{pager}'
            f'<div id="ac-findings"><p class="ac-note">Loading {total} results&hellip; (the findings need JavaScript)</p>'
            f'</div>{pager}')


def render_threats(run: AuthcheckRun) -> str:
    """Which attacks stay open given what failed (RFC 9700 §4, RFC 6819 §4)."""
    threats = (run.outcome or {}).get("threats") or []
    if not threats:
        return ""
    rows = "".join(
        f'<tr><td>{escape(t["ref"])}</td><td>{escape(t["name"])}</td>'
        f'<td><span class="ac-state ac-{THREAT_CLASS[t["state"]]}">{escape(t["state"])}</span></td>'
        f'<td>{escape(", ".join(t["checks"]) or "no check yet")}</td><td>{escape(", ".join(t["deciding"]))}</td></tr>'
        for t in threats)
    return ('<h3 id="ac-threats">Threats</h3><p>A threat is <i>mitigated</i> only when every check of it that ran '
            'passed; one none of whose checks ran is <i>not assessed</i>.</p><table><thead><tr><th>Threat</th>'
            '<th>Attack</th><th>State</th><th>Checks that counter it</th><th>Deciding results</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def render_levels(run: AuthcheckRun) -> str:
    """Failure rates per requirement level."""
    levels = (run.outcome or {}).get("levels") or {}
    if not levels:
        return ""
    rows = "".join(f'<tr><td>{escape(level)}</td><td>{row["evaluated"]}</td><td>{row["failed"]}</td>'
                   f'<td>{row["waived"]}</td><td>{row["failure_rate"] * 100:.1f}%</td></tr>' for level, row in levels.items())
    return ('<h3>Requirement levels</h3><table><thead><tr><th>Level</th><th>Evaluated</th><th>Failed</th>'
            f'<th>Waived</th><th>Failure rate</th></tr></thead><tbody>{rows}</tbody></table>')


def render_waivers(run: AuthcheckRun) -> str:
    """Waivers applied, expired (the run fails) and stale (matched nothing)."""
    states = (run.outcome or {}).get("waivers") or {}
    if not any(states.values()):
        return ""
    rows = []
    for state in ("expired", "stale", "applied"):
        for w in states.get(state, []):
            css = {"expired": "failed", "stale": "skipped", "applied": "waived"}[state]
            note = w.get("why", "")
            rows.append(f'<tr><td><span class="ac-{css}">{escape(state)}</span></td><td><code>{escape(w["check"])}</code></td>'
                        f'<td>{escape(w["target"])}</td><td>{escape(w["reason"])}</td>'
                        f'<td>{escape(w.get("ticket") or "")} {escape(w.get("owner") or "")}</td>'
                        f'<td>{escape(w["expires"])}</td><td>{escape(str(w.get("line") or ""))}</td><td>{escape(note)}</td></tr>')
    return ('<h3 id="ac-waivers">Waivers</h3><table><thead><tr><th>State</th><th>Check</th><th>Target</th><th>Reason</th>'
            '<th>Ticket / owner</th><th>Expires</th><th>Policy line</th><th>Note</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def render_baseline(run: AuthcheckRun) -> str:
    """New, unchanged and fixed findings against the baseline report."""
    baseline = (run.outcome or {}).get("baseline")
    if not baseline:
        return ""
    rows = "".join(f'<tr><td>{escape(kind)}</td><td><code>{escape(f["check"])}</code></td>'
                   f'<td>{escape(str(f.get("target") or ""))}</td><td>{escape(f["was"])} &rarr; {escape(f["now"])}</td></tr>'
                   for kind, key in (("fixed", "fixed"), ("not re-checked", "not_rechecked")) for f in baseline[key])
    table = ('<table><thead><tr><th>Change</th><th>Check</th><th>Target</th><th>Status</th></tr></thead>'
             f'<tbody>{rows}</tbody></table>') if rows else ""
    return (f'<h3 id="ac-baseline">Against the baseline</h3><p>{escape(str(baseline.get("path") or ""))}: '
            f'{baseline["new"]} new, {baseline["unchanged"]} unchanged, {len(baseline["fixed"])} fixed, '
            f'{len(baseline["not_rechecked"])} not re-checked.</p>{table}')

