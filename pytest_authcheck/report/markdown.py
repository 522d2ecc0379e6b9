"""``authcheck.md``: a short summary for CI job pages (appended to ``$GITHUB_STEP_SUMMARY`` when set).

CI pages render Markdown with inline HTML, so every value from a server is escaped for both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._checks import SEVERITIES
from .._run import AuthcheckRun
from ..results.causes import because
from .summary import counts
from .text import escape

FILENAME = "authcheck.md"
MAX_ROWS = 50
MAX_IDS = 20
CELL_LIMIT = 300


def cell(value: Any) -> str:
    """One table cell: HTML-escaped, pipes and newlines neutralised, bounded."""
    text = " ".join(str(value if value is not None else "").split())
    if len(text) > CELL_LIMIT:
        text = text[:CELL_LIMIT] + " [...]"
    return escape(text).replace("|", "&#124;").replace("`", "&#96;").replace("[", "&#91;")


def findings(results: Sequence[Mapping[str, Any]], causes: Sequence[Mapping[str, Any]]) -> list[str]:
    """One row per finding (a cause: a failed check, or a reason checks could not be evaluated, with how many
    it blocked), then the waived results; worst first, at most ``MAX_ROWS``."""
    # only the results that are causes (a table of every result was the peak of the reports at ten thousand clients)
    wanted = {cause["result"] for cause in causes if cause.get("result")}
    by_nodeid: dict[str, Mapping[str, Any]] = {}
    for result in results:
        if result["nodeid"] in wanted:
            by_nodeid[result["nodeid"]] = result
    rows: list[tuple[tuple[Any, ...], str]] = []
    for cause in causes:
        own = by_nodeid.get(cause.get("result") or "")
        blocked = str(cause["count"]) if cause["count"] else ""
        if own is not None:
            status = own["status"] + (f" ({own['baseline']})" if own.get("baseline") else "")
            row = (f"| {own['severity']} | {cell(status)} | `{cell(own['check'])}` | {cell(own.get('target'))} | "
                   f"{cell(own.get('message'))} | {blocked} |")
        else:
            targets = list(cause.get("targets") or ())
            shown = ", ".join(targets[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")
            row = f"| {cause['severity']} | not evaluated | | {cell(shown)} | {cell(because(cause))} | {blocked} |"
        rows.append(((SEVERITIES.index(cause["severity"]), cause["status"], -cause["count"], cause["id"]), row))
    for r in results:
        if r["status"] == "waived":
            rows.append(((SEVERITIES.index(r["severity"]), "waived", 0, r["check"]),
                         f"| {r['severity']} | waived | `{cell(r['check'])}` | {cell(r.get('target'))} | "
                         f"{cell(r.get('message'))} | |"))
    if not rows:
        return []
    rows.sort(key=lambda pair: pair[0])
    lines = ["| severity | status | check | target | finding | checks it blocked |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [row for _, row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n…and {len(rows) - MAX_ROWS} more in authcheck.html.")
    return [*lines, ""]


def frameworks(coverage: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A row per framework (requirements checked, failed, not evaluated, not covered), then the ids that failed or
    could not be evaluated."""
    if not coverage:
        return []
    states = ("passed", "failed", "accepted", "not evaluated", "not run", "not covered")
    lines = ["### Framework coverage", "", "| framework | requirements | checked | " + " | ".join(states) + " |",
             "| --- |" + " ---: |" * (2 + len(states))]
    notes = []
    for data in coverage.values():
        counts = data["counts"]
        lines.append(f"| {cell(data['name'])} | {data['total']} | {data['checked']} | "
                     + " | ".join(str(counts.get(state, 0)) for state in states) + " |")
        for label, ids in (("failed", data["failed"]), ("not evaluated", data["not_evaluated"])):
            if ids:
                shown = ", ".join(ids[:MAX_IDS]) + (f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else "")
                notes.append(f"{cell(data['name'])}, {label}: {cell(shown)}.")
    lines.append("")
    if notes:
        lines += [*("- " + n for n in notes), ""]
    lines += ["Requirements no check covers are listed in authcheck.html and authcheck.json.", ""]
    return lines


def render(run: AuthcheckRun) -> str:
    """The Markdown text."""
    outcome = run.outcome or {}
    gate = outcome.get("gate") or {}
    totals = counts(run.results)
    decision = gate.get("decision", "unknown")
    mark = "✅" if decision == "passed" else "❌"
    lines = [f"## {mark} authcheck: {decision}", ""]
    threshold = f"severity ≥ {gate.get('fail_on')}" + (" (new findings only)" if gate.get("new_only") else "")
    why = "; ".join(gate.get("reasons", [])) or "nothing at or above the threshold"
    lines += [f"Gate: fails on {cell(threshold)}: {cell(why)}.", "",
              f"Run `{cell(run.run_id)}`, policy `{cell(run.policy.path.name)}` sha256 `{run.policy.sha256[:16]}…`", ""]
    lines += ["| status | " + " | ".join(totals["by_status"]) + " |",
              "| --- |" + " --- |" * len(totals["by_status"]),
              "| count | " + " | ".join(str(n) for n in totals["by_status"].values()) + " |", ""]
    lines += findings(run.results, outcome.get("causes") or ())
    lines += frameworks(outcome.get("frameworks") or {})
    open_threats = [t for t in outcome.get("threats", []) if t["state"] in ("open", "accepted", "incomplete")]
    if open_threats:
        lines.append("Threats not mitigated: " + "; ".join(f"{cell(t['ref'])} {cell(t['name'])} ({t['state']})"
                                                         for t in open_threats) + ".")
        lines.append("")
    waivers = outcome.get("waivers") or {}
    if waivers.get("expired") or waivers.get("stale"):
        lines.append(f"Waivers: {len(waivers.get('expired', []))} expired, {len(waivers.get('stale', []))} stale.")
        lines.append("")
    baseline = outcome.get("baseline")
    if baseline:
        lines.append(f"Against the baseline: {baseline['new']} new, {baseline['unchanged']} unchanged, "
                     f"{len(baseline['fixed'])} fixed.")
        lines.append("")
    return "\n".join(lines)


def write(run: AuthcheckRun) -> Path:
    """Write ``authcheck.md``; append it to ``$GITHUB_STEP_SUMMARY`` when that is set."""
    text = render(run)
    path = Path(run.reports_dir) / FILENAME
    path.write_text(text, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return path
