"""The auditor's part of ``authcheck.html``: gate, findings by target and area, threats, waivers, baseline.

Rendered into pytest-html's summary area (above its own test table). Self-contained: the filter and sort
script is inline, nothing is fetched. Every string is ``html.escape``d (IdP values are hostile until
proven otherwise). Printing (to PDF) opens every evidence block and hides the controls.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from .._checks import SEVERITIES
from .._run import AuthcheckRun

STATUS_ORDER = ("failed", "error", "waived", "skipped", "passed")
THREAT_CLASS = {"open": "failed", "accepted": "waived", "incomplete": "error", "mitigated": "passed",
                "not assessed": "skipped"}

STYLE = """<style>
.ac-audit{font-family:system-ui,sans-serif;font-size:13px}
.ac-audit h3{margin:14px 0 4px}.ac-audit h4{margin:10px 0 2px}
.ac-audit table{border-collapse:collapse;margin:4px 0;width:100%}
.ac-audit td,.ac-audit th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.ac-audit th[data-ac-sort]{cursor:pointer;user-select:none}
.ac-audit th[data-ac-sort]:after{content:" \\2195";color:#999}
.ac-gate{padding:8px 12px;border-radius:4px;margin:6px 0;font-size:15px}
.ac-gate-passed{background:#e8f5e9;border:2px solid #2e7d32}.ac-gate-failed{background:#ffebee;border:2px solid #c62828}
.ac-controls{margin:6px 0;padding:4px;background:#f6f6f6}.ac-controls label{margin-right:10px;white-space:nowrap}
.ac-waived{color:#00695c;font-weight:600}.ac-state{font-weight:600}
.ac-new{background:#fff3e0;font-weight:600;padding:0 4px}
.ac-audit tr.ac-hidden{display:none}
.ac-msg{max-width:40em;word-break:break-word}
@media print{.ac-controls{display:none}.ac-audit th[data-ac-sort]:after{content:""}.ac-audit tr{break-inside:avoid}
 .ac-audit details>summary{list-style:none}}
</style>"""

SCRIPT = """<script>
(function(){
  function boxes(kind){return Array.prototype.slice.call(document.querySelectorAll('input[data-ac-filter="'+kind+'"]'));}
  function checked(kind){var s={};boxes(kind).forEach(function(b){if(b.checked){s[b.value]=true;}});return s;}
  function apply(){
    var sev=checked('severity'),st=checked('status'),shown=0;
    var text=(document.getElementById('ac-search')||{value:''}).value.toLowerCase();
    document.querySelectorAll('tr.ac-finding').forEach(function(row){
      var ok=sev[row.dataset.severity]&&st[row.dataset.status]&&(!text||row.textContent.toLowerCase().indexOf(text)>=0);
      row.classList.toggle('ac-hidden',!ok);if(ok){shown++;}
    });
    document.querySelectorAll('.ac-target').forEach(function(section){
      section.hidden=!section.querySelector('tr.ac-finding:not(.ac-hidden)');
    });
    var counter=document.getElementById('ac-shown');if(counter){counter.textContent=String(shown);}
  }
  function sortBy(th){
    var table=th.closest('table'),body=table.tBodies[0],index=Array.prototype.indexOf.call(th.parentNode.children,th);
    var asc=th.dataset.acDir!=='asc';th.dataset.acDir=asc?'asc':'desc';
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=a.cells[index].dataset.key||a.cells[index].textContent,y=b.cells[index].dataset.key||b.cells[index].textContent;
      return (x<y?-1:x>y?1:0)*(asc?1:-1);
    });
    rows.forEach(function(r){body.appendChild(r);});
  }
  document.addEventListener('DOMContentLoaded',function(){
    document.querySelectorAll('input[data-ac-filter]').forEach(function(b){b.addEventListener('change',apply);});
    var search=document.getElementById('ac-search');if(search){search.addEventListener('input',apply);}
    document.querySelectorAll('.ac-audit th[data-ac-sort]').forEach(function(th){th.addEventListener('click',function(){sortBy(th);});});
    apply();
  });
  var opened=[];
  window.addEventListener('beforeprint',function(){
    opened=[];document.querySelectorAll('details:not([open])').forEach(function(d){d.open=true;opened.push(d);});
  });
  window.addEventListener('afterprint',function(){opened.forEach(function(d){d.open=false;});opened=[];});
})();
</script>"""


def sections(run: AuthcheckRun, render_result: Any) -> list[str]:
    """The blocks below pytest-html's summary (the gate and ``STYLE`` go above it); ``render_result`` is html.py's."""
    return ['<div class="ac-audit">', render_findings(run, render_result),
            render_threats(run), render_levels(run), render_waivers(run), render_baseline(run), "</div>", SCRIPT]


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


def _sort_key(result: Mapping[str, Any]) -> tuple[Any, ...]:
    return (result.get("area") or "", STATUS_ORDER.index(result["status"]), SEVERITIES.index(result["severity"]),
            result["check"])


NOT_APPLICABLE = "not applicable (the policy declares no target of this kind)"


def _target_rank(target: str, results: list[dict[str, Any]]) -> tuple[Any, ...]:
    # What failed comes first: targets by their worst status, the checks without any target last.
    return (target == NOT_APPLICABLE, min(STATUS_ORDER.index(r["status"]) for r in results), target)


def render_findings(run: AuthcheckRun, render_result: Any) -> str:
    """Every result, grouped by target, ordered by area then status and severity; filterable and sortable."""
    controls = ['<div class="ac-controls" id="ac-controls"><b>Severity:</b> ']
    controls += [f'<label><input type="checkbox" data-ac-filter="severity" value="{s}" checked> {s}</label>'
                 for s in SEVERITIES]
    controls.append(" <b>Status:</b> ")
    controls += [f'<label><input type="checkbox" data-ac-filter="status" value="{s}" checked> {s}</label>'
                 for s in STATUS_ORDER]
    controls.append(' <label>Search: <input type="search" id="ac-search" size="24"></label> '
                    f'<span id="ac-shown">{len(run.results)}</span> of {len(run.results)} shown</div>')
    by_target: dict[str, list[dict[str, Any]]] = {}
    for result in run.results:
        by_target.setdefault(result.get("target") or NOT_APPLICABLE, []).append(result)
    parts = ["<h3>Findings by target and area</h3>", "".join(controls)]
    for target in sorted(by_target, key=lambda t: _target_rank(t, by_target[t])):
        results = sorted(by_target[target], key=_sort_key)
        counts = {s: sum(1 for r in results if r["status"] == s) for s in STATUS_ORDER}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        rows = "".join(_finding_row(r, run, render_result) for r in results)
        parts.append(f'<section class="ac-target" data-target="{escape(target)}"><h4>{escape(target)} '
                     f'<small>({escape(summary)})</small></h4><table><thead><tr>'
                     '<th data-ac-sort>Area</th><th data-ac-sort>Severity</th><th data-ac-sort>Status</th>'
                     '<th data-ac-sort>Check</th><th>Finding, evidence and remediation</th></tr></thead>'
                     f'<tbody>{rows}</tbody></table></section>')
    return "".join(parts)


def _finding_row(result: Mapping[str, Any], run: AuthcheckRun, render_result: Any) -> str:
    status, severity = result["status"], result["severity"]
    badge = f'<span class="ac-sev ac-{escape(severity)}">{escape(severity)}</span>'
    extra = f' <span class="ac-new">{escape(result["baseline"])}</span>' if result.get("baseline") else ""
    waiver = result.get("waiver")
    if waiver and waiver.get("expired"):
        extra += ' <span class="ac-failed">waiver expired</span>'
    headline = escape(result.get("message") or result["title"])
    opened = " open" if status in ("failed", "error") else ""
    return (f'<tr class="ac-finding" data-severity="{escape(severity)}" data-status="{escape(status)}">'
            f'<td>{escape(result.get("area") or "")}</td>'
            f'<td data-key="{SEVERITIES.index(severity)}">{badge}</td>'
            f'<td data-key="{STATUS_ORDER.index(status)}"><span class="ac-{escape(status)}">{escape(status)}</span>{extra}</td>'
            f'<td><code>{escape(result["check"])}</code><br>{escape(result["title"])}</td>'
            f'<td class="ac-msg"><details{opened}><summary>{headline}</summary>'
            f'{render_result(result, run.exchanges)}</details></td></tr>')


def render_waiver_note(waiver: Mapping[str, Any]) -> str:
    """One line under a result: the waiver that accepts it (or that expired)."""
    state = "expired" if waiver.get("expired") else "waived"
    who = " ".join(str(waiver[k]) for k in ("ticket", "owner") if waiver.get(k))
    return (f'<br><span class="ac-{"failed" if state == "expired" else "waived"}">{state}</span> until '
            f'{escape(str(waiver["expires"]))} {escape(who)}: {escape(str(waiver["reason"]))}')


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

