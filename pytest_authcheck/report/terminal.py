"""The few lines an ``--authcheck`` run adds to pytest's terminal summary."""

from __future__ import annotations

from typing import Any

from .._checks import SEVERITIES
from .._run import AuthcheckRun
from .json_report import FILENAME
from .summary import counts, verdict


def summary(terminalreporter: Any, run: AuthcheckRun) -> None:
    """Counts by status, failures by severity, and where the reports are."""
    totals = counts(run.results)
    status = totals["by_status"]
    terminalreporter.write_sep("=", "authcheck summary")
    parts = [f"{n} {s}" for s, n in status.items() if n]
    terminalreporter.write_line(f"{totals['total']} checks: {', '.join(parts) or 'none ran'}")
    failing = [(sev, totals["by_severity"][sev]["failed"]) for sev in SEVERITIES if totals["by_severity"][sev]["failed"]]
    if failing:
        terminalreporter.write_line("failed by severity: " + ", ".join(f"{n} {sev}" for sev, n in failing))
    terminalreporter.write_line(f"verdict: {verdict(totals)}; policy sha256:{run.policy.sha256}")
    written = [str(p) for p in (run.html_path, run.reports_dir / FILENAME) if p is not None]
    terminalreporter.write_line("reports: " + "  ".join(written))
