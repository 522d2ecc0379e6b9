"""Comparison with a previous run's ``authcheck.json``: which findings are new, fixed or unchanged.

A *finding* is a result that failed, could not be evaluated, or was waived. Results are matched by
check id and target (node ids may change between releases; the pair does not). A pre-deploy gate can
then fail on new findings only (``--authcheck-fail-on-new``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from .._errors import BaselineError

FINDING_STATUSES = frozenset({"failed", "error", "waived"})
BASELINE_STATES = ("new", "unchanged", "fixed", "not re-checked")


def key_of(result: Mapping[str, Any]) -> str:
    """``discovery.issuer-match@providers.sso``: what identifies a finding across runs."""
    return f"{result['check']}@{result.get('target') or result.get('nodeid', '')}"


def load_baseline(path: Path) -> dict[str, dict[str, Any]]:
    """The previous run's results by key; raises ``BaselineError`` naming the problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise BaselineError(f"the baseline {path} is not JSON: {exc}") from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not str(document.get("schema_version", "")).startswith("1."):
        raise BaselineError(f"the baseline {path} is not an authcheck.json report (schema_version 1.x with results)")
    out: dict[str, dict[str, Any]] = {}
    for result in results:
        if isinstance(result, dict) and isinstance(result.get("check"), str) and isinstance(result.get("status"), str):
            out[key_of(result)] = {"check": result["check"], "target": result.get("target"),
                                   "status": result["status"], "severity": result.get("severity")}
    return out


def compare(results: Iterable[MutableMapping[str, Any]], baseline: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Mark each current finding ``baseline: new|unchanged`` in place; list what was fixed or not re-checked."""
    current: dict[str, MutableMapping[str, Any]] = {}
    for result in results:
        current[key_of(result)] = result
        if result["status"] in FINDING_STATUSES:
            before = baseline.get(key_of(result))
            result["baseline"] = "unchanged" if before and before["status"] in FINDING_STATUSES else "new"
    fixed, unchecked = [], []
    for key, before in baseline.items():
        if before["status"] not in FINDING_STATUSES:
            continue
        now = current.get(key)
        entry = {"key": key, "check": before["check"], "target": before.get("target"),
                 "severity": before.get("severity"), "was": before["status"]}
        if now is not None and now["status"] == "passed":
            fixed.append({**entry, "now": "passed"})
        elif now is None or now["status"] == "skipped":
            unchecked.append({**entry, "now": now["status"] if now else "not run"})
    states = [r.get("baseline") for r in current.values()]
    return {"new": states.count("new"), "unchanged": states.count("unchanged"),
            "fixed": fixed, "not_rechecked": unchecked}
