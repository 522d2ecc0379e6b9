"""The few lines an ``--authcheck`` run adds to pytest's terminal summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._bounds import printable
from .._checks import SEVERITIES
from .._run import AuthcheckRun
from ..results.causes import because, rolled_up
from . import json_report, manifest, markdown, sarif
from .summary import counts, verdict

MAX_CAUSE_LINES = 10
CAUSE_LINE_LIMIT = 300


def summary(terminalreporter: Any, run: AuthcheckRun) -> None:
    """Counts by status, failures by severity, the gate's decision and the causes that left many checks unevaluated,
    waiver and baseline news, the reports."""
    totals = counts(run.results)
    outcome = run.outcome or {}
    terminalreporter = _Printable(terminalreporter)
    status = totals["by_status"]
    terminalreporter.write_sep("=", "authcheck summary")
    parts = [f"{n} {s}" for s, n in status.items() if n]
    terminalreporter.write_line(f"{totals['total']} checks: {', '.join(parts) or 'none ran'}")
    failing = [(sev, totals["by_severity"][sev]["failed"]) for sev in SEVERITIES if totals["by_severity"][sev]["failed"]]
    if failing:
        terminalreporter.write_line("failed by severity: " + ", ".join(f"{n} {sev}" for sev, n in failing))
    gate = outcome.get("gate")
    if gate:
        scope = ", new findings only" if gate["new_only"] else ""
        why = "; ".join(gate["reasons"]) or "nothing at or above the threshold"
        terminalreporter.write_line(f"gate (fail on {gate['fail_on']}{scope}): {gate['decision']}: {why}",
                                    red=gate["decision"] == "failed", green=gate["decision"] == "passed")
    causes = rolled_up(outcome.get("causes") or ())
    for cause in causes[:MAX_CAUSE_LINES]:
        terminalreporter.write_line("  " + _cut(because(cause)), red=cause["blocking"])
    if len(causes) > MAX_CAUSE_LINES:
        terminalreporter.write_line(f"  ...and {len(causes) - MAX_CAUSE_LINES} more causes that left checks "
                                    "unevaluated (authcheck.html and authcheck.json list them)")
    waivers = outcome.get("waivers") or {}
    for entry in waivers.get("expired", []):
        terminalreporter.write_line(f"expired waiver (policy line {entry.get('line')}): {entry['check']} on "
                                    f"{entry['target']}, expired {entry['expires']}", red=True)
    for entry in waivers.get("stale", []):
        terminalreporter.write_line(f"stale waiver (policy line {entry.get('line')}): {entry['check']} on "
                                    f"{entry['target']}: {entry['why']}", yellow=True)
    baseline = outcome.get("baseline")
    if baseline:
        terminalreporter.write_line(f"against the baseline: {baseline['new']} new, {baseline['unchanged']} unchanged, "
                                    f"{len(baseline['fixed'])} fixed")
    terminalreporter.write_line(f"verdict: {verdict(totals, outcome)}; policy sha256:{run.policy.sha256}")
    reports = Path(run.reports_dir)
    written = [str(p) for p in (run.html_path, reports / json_report.FILENAME, reports / sarif.FILENAME,
                                reports / markdown.FILENAME, reports / manifest.SUMS) if p is not None]
    terminalreporter.write_line("reports: " + "  ".join(written))


def _cut(text: str) -> str:
    return text if len(text) <= CAUSE_LINE_LIMIT else text[:CAUSE_LINE_LIMIT] + "\u2026"


class _Printable:
    """The terminal reporter, with every line's control characters shown escaped (policy values, reasons)."""

    def __init__(self, reporter: Any) -> None:
        self._reporter = reporter

    def write_sep(self, sep: str, title: str, **markup: Any) -> None:
        self._reporter.write_sep(sep, printable(title), **markup)

    def write_line(self, line: str, **markup: Any) -> None:
        self._reporter.write_line(printable(line), **markup)
