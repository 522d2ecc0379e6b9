"""``authcheck.sarif``: SARIF 2.1.0 for code-scanning dashboards.

Every finding is located in the user's policy file, at the line that declares its target (GitHub rejects
a whole upload when one result has no repository location), and names its target as a logical location.
Rule ids are the stable check ids, each rule carries a numeric ``security-severity`` and the check's
title, references and remediation once; a result carries only what is its own (message, expected and
observed, status). One run holds every target: code scanning rejects a file of more than 20 runs, and
a run's rules would otherwise be repeated per target. Waived findings carry a ``suppressions`` entry
with the waiver's reason, and passed or skipped checks are not results (code scanning would show them
as alerts). The file is written without indentation.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from .._run import AuthcheckRun
from .text import json_text

FILENAME = "authcheck.sarif"
SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/pytest-authcheck/"
# GitHub's bands: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SRCROOT = "SRCROOT"


def repo_root(start: Path) -> Path:
    """The enclosing git work tree of ``start`` (where code scanning resolves paths), else ``start`` itself."""
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def policy_uri(policy_path: Path, root: Path) -> str:
    """The policy's path relative to ``root``, with forward slashes (its name alone when outside ``root``)."""
    try:
        return policy_path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return policy_path.name


def target_line(run: AuthcheckRun, target: str | None) -> int:
    """The policy line declaring ``providers.sso`` (1 when unknown: SARIF lines start at 1)."""
    if target and "." in target:
        section, name = target.split(".", 1)
        return run.policy.line(section, name) or 1
    return 1


def _rule(check: Mapping[str, Any]) -> dict[str, Any]:
    refs = "; ".join(check["refs"])
    return {
        "id": check["check"],
        "name": "".join(part.capitalize() for part in check["check"].replace(".", "-").split("-")),
        "shortDescription": {"text": check["title"]},
        "fullDescription": {"text": f"{check['title']} ({check.get('level') or 'MUST'}: {refs})"},
        "help": {"text": f"{check['remediation']}\nSpec: {refs}",
                 "markdown": f"{check['remediation']}\n\nSpec: {refs}"},
        "defaultConfiguration": {"level": LEVEL[check["severity"]]},
        "properties": {"security-severity": SECURITY_SEVERITY[check["severity"]], "precision": "high",
                       "problem.severity": "error" if LEVEL[check["severity"]] == "error" else "warning",
                       "tags": ["security", "authcheck", check.get("area") or "custom"],
                       "requirement-level": check.get("level") or "MUST"},
    }


def _result(result: Mapping[str, Any], rule_index: int, uri: str, line: int) -> dict[str, Any]:
    failed = result["status"] in ("failed", "waived")
    message = result.get("message") or result["title"]
    if result.get("expected") is not None or result.get("observed") is not None:
        message += (f"\nExpected: {json.dumps(result.get('expected'), ensure_ascii=False, default=str)[:500]}"
                    f"\nObserved: {json.dumps(result.get('observed'), ensure_ascii=False, default=str)[:500]}")
    out: dict[str, Any] = {
        "ruleId": result["check"],
        "ruleIndex": rule_index,
        # "could not evaluate" is not a failure: SARIF's kind "open" (level must then be "none").
        "kind": "fail" if failed else "open",
        "level": LEVEL[result["severity"]] if failed else "none",
        "message": {"text": message},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": SRCROOT}, "region": {"startLine": line}},
            "logicalLocations": [{"fullyQualifiedName": result.get("target") or result["nodeid"], "kind": "resource"}],
        }],
        "partialFingerprints": {
            "authcheckFinding/v1": hashlib.sha256(f"{result['check']}@{result.get('target')}".encode()).hexdigest()},
        "properties": {"status": result["status"], "target": result.get("target"), "nodeid": result["nodeid"],
                       "blocking": bool(result.get("blocking"))},
    }
    waiver = result.get("waiver")
    if result["status"] == "waived" and waiver:
        out["suppressions"] = [{"kind": "external", "status": "accepted", "justification": waiver["reason"],
                                "properties": {k: waiver[k] for k in ("expires", "owner", "ticket") if waiver.get(k)}}]
    if result.get("baseline"):
        out["baselineState"] = result["baseline"]
    if result.get("cause"):
        out["properties"]["cause"] = result["cause"]  # the finding it belongs to (authcheck.json "causes")
    return out


def document(run: AuthcheckRun, root: Path) -> dict[str, Any]:
    """The SARIF log: one run, the rule of every check that ran, a result per failed, waived or unevaluated check."""
    definitions: dict[str, Mapping[str, Any]] = {}
    for result in run.results:
        definitions.setdefault(result["check"], result)
    rule_ids = sorted(definitions)
    rule_index = {rule_id: index for index, rule_id in enumerate(rule_ids)}
    uri = policy_uri(Path(run.policy.path), root)
    lines: dict[str | None, int] = {}
    results = []
    for result in run.results:
        if result["status"] in ("failed", "waived", "error"):
            target = result.get("target")
            if target not in lines:
                lines[target] = target_line(run, target)
            results.append(_result(result, rule_index[result["check"]], uri, lines[target]))
    invocation = {
        "executionSuccessful": run.exit_status in (0, 1),
        "commandLine": " ".join(run.argv),
        "startTimeUtc": run.started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "exitCode": run.exit_status if run.exit_status is not None else 0,
    }
    if run.finished is not None:
        invocation["endTimeUtc"] = run.finished.isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "pytest-authcheck", "version": __version__, "semanticVersion": __version__,
                            "informationUri": INFORMATION_URI, "rules": [_rule(definitions[i]) for i in rule_ids]}},
        "automationDetails": {"id": f"authcheck/{run.run_id}"},
        "originalUriBaseIds": {SRCROOT: {"uri": root.resolve().as_uri() + "/"}},
        "artifacts": [{"location": {"uri": uri, "uriBaseId": SRCROOT}, "hashes": {"sha-256": run.policy.sha256}}],
        "invocations": [invocation],
        "results": results,
        "properties": {"run_id": run.run_id, "policy_sha256": run.policy.sha256,
                       "gate": (run.outcome or {}).get("gate")},
    }]}


def write(run: AuthcheckRun, root: Path) -> Path:
    """Write ``authcheck.sarif`` into the run's report folder."""
    path = Path(run.reports_dir) / FILENAME
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json_text(document(run, root), separators=(",", ":")), encoding="utf-8")
    os.replace(temporary, path)
    return path
