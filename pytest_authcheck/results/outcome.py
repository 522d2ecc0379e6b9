"""The run's outcome, decided once on the controller at the end: gate, waivers, baseline, threat roll-up.

Every writer (terminal, JSON, HTML, SARIF, Markdown, JUnit properties) reads this dict and the results;
none decides anything itself. The gate:

- a *failed* or *error* result blocks when its severity is at or above ``--authcheck-fail-on``
  (default ``info``: any failure); waived results never block;
- with ``--authcheck-fail-on-new`` (and a baseline) only findings new since the baseline block;
- an expired waiver blocks whatever the threshold.

The gate counts *findings*, one per cause (``causes``): a provider whose TLS is broken is one finding
however many checks it left unevaluated, and each result names its cause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._checks import SEVERITIES, shipped_checks
from ..policy.load import Policy
from .baseline import compare
from .causes import roll_up
from .frameworks import coverage
from .threats import level_rates, threat_rollup
from .waivers import Waiver, waiver_states

DEFAULT_FAIL_ON = "info"


@dataclass(frozen=True)
class GateSettings:
    """What makes the run fail (from the options)."""

    fail_on: str = DEFAULT_FAIL_ON
    new_only: bool = False
    baseline_path: str | None = None


def blocks(result: Mapping[str, Any], settings: GateSettings) -> bool:
    """Whether this result alone makes the gate fail."""
    if result["status"] not in ("failed", "error"):
        return False
    if SEVERITIES.index(result["severity"]) > SEVERITIES.index(settings.fail_on):
        return False
    return not (settings.new_only and result.get("baseline") != "new")


def decide(results: Sequence[MutableMapping[str, Any]], *, policy: Policy, waivers: Sequence[Waiver], today: dt.date,
           settings: GateSettings, baseline: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The outcome dict; marks results with ``baseline`` (when given), ``blocking`` and ``cause`` in place."""
    comparison = compare(results, baseline) if baseline is not None else None
    states = waiver_states(waivers, results, today, policy)
    blocking_results = 0
    for result in results:
        result["blocking"] = blocks(result, settings)
        blocking_results += result["blocking"]
    causes = roll_up(results, policy)
    blocking = [c for c in causes if c["blocking"]]
    reasons = []
    if blocking:
        scope = "new " if settings.new_only else ""
        held = f" ({blocking_results} results)" if blocking_results != len(blocking) else ""
        reasons.append(f"{len(blocking)} {scope}finding(s) at or above severity {settings.fail_on}{held}")
    if states["expired"]:
        reasons.append(f"{len(states['expired'])} expired waiver(s)")
    gate = {
        "fail_on": settings.fail_on,
        "new_only": settings.new_only,
        "decision": "failed" if reasons else "passed",
        "reasons": reasons,
        "blocking": len(blocking),
        "not_blocking": len(causes) - len(blocking),
        "blocking_results": blocking_results,
    }
    return {
        "gate": gate,
        "causes": causes,
        "waivers": states,
        "baseline": {"path": settings.baseline_path, **comparison} if comparison is not None else None,
        "threats": threat_rollup(results),
        "levels": level_rates(results),
        "frameworks": coverage(results, [c.id for c in shipped_checks()]),
    }


def exit_status(current: int, outcome: Mapping[str, Any]) -> int:
    """pytest's exit status after the gate: only "tests failed" (1) and "ok" (0) are the gate's to change."""
    if current not in (0, 1):
        return current
    return 1 if outcome["gate"]["decision"] == "failed" else 0
