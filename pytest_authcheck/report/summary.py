"""Counts over results, shared by every writer so they all say the same thing."""

from __future__ import annotations

import os
import platform
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from .. import __version__
from .._checks import SEVERITIES
from ..results.build import STATUSES


def counts(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals by status, and by severity then status."""
    by_status: Counter[str] = Counter()
    by_severity: dict[str, Counter[str]] = {s: Counter() for s in SEVERITIES}
    total = 0
    for result in results:
        total += 1
        by_status[result["status"]] += 1
        by_severity.setdefault(result["severity"], Counter())[result["status"]] += 1
    return {
        "total": total,
        "by_status": {s: by_status.get(s, 0) for s in STATUSES},
        "by_severity": {sev: {s: c.get(s, 0) for s in STATUSES} for sev, c in by_severity.items()},
    }


def verdict(summary: dict[str, Any], outcome: dict[str, Any] | None = None) -> str:
    """The gate's decision once the run's outcome is known; before that, ``failed`` on any failure or error."""
    if outcome and outcome.get("gate"):
        return str(outcome["gate"]["decision"])
    status = summary["by_status"]
    return "failed" if status["failed"] or status["error"] else "passed"


def tool_facts() -> dict[str, str]:
    """Versions an auditor needs to reproduce the run."""
    return {"name": "pytest-authcheck", "version": __version__, "python": platform.python_version(),
            "pytest": pytest.__version__, "platform": sys.platform}


def ci_facts() -> dict[str, str]:
    """Commit and run URL when the run happens in a known CI system."""
    env = os.environ
    facts: dict[str, str] = {}
    if env.get("GITHUB_ACTIONS"):
        facts["system"] = "github-actions"
        facts["commit"] = env.get("GITHUB_SHA", "")
        if env.get("GITHUB_RUN_ID"):
            facts["run_url"] = (f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/"
                                f"{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env['GITHUB_RUN_ID']}")
    elif env.get("GITLAB_CI"):
        facts.update(system="gitlab-ci", commit=env.get("CI_COMMIT_SHA", ""), run_url=env.get("CI_JOB_URL", ""))
    elif env.get("CI"):
        facts["system"] = "ci"
    return {k: v for k, v in facts.items() if v}
