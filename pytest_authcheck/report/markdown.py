"""``authcheck.md``: a short summary for CI job pages (appended to ``$GITHUB_STEP_SUMMARY`` when set).

CI pages render Markdown with inline HTML, so every value from a server is escaped for both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._checks import SEVERITIES
from .._run import AuthcheckRun
from .summary import counts
from .text import escape

FILENAME = "authcheck.md"
MAX_ROWS = 50
CELL_LIMIT = 300


def cell(value: Any) -> str:
    """One table cell: HTML-escaped, pipes and newlines neutralised, bounded."""
    text = " ".join(str(value if value is not None else "").split())
    if len(text) > CELL_LIMIT:
        text = text[:CELL_LIMIT] + " [...]"
    return escape(text).replace("|", "&#124;").replace("`", "&#96;").replace("[", "&#91;")


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
    problems = [r for r in run.results if r["status"] in ("failed", "error", "waived")]
    problems.sort(key=lambda r: (SEVERITIES.index(r["severity"]), r["status"], r["check"], r.get("target") or ""))
    if problems:
        lines += ["| severity | status | check | target | finding |", "| --- | --- | --- | --- | --- |"]
        for r in problems[:MAX_ROWS]:
            status = r["status"] + (f" ({r['baseline']})" if r.get("baseline") else "")
            lines.append(f"| {r['severity']} | {cell(status)} | `{cell(r['check'])}` | {cell(r.get('target'))} | "
                         f"{cell(r.get('message'))} |")
        if len(problems) > MAX_ROWS:
            lines.append(f"\n…and {len(problems) - MAX_ROWS} more in authcheck.html.")
        lines.append("")
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
