"""Properties in pytest's ``--junitxml``: per test case the result model's verdict, per suite the run facts.

Test-case properties travel as ``user_properties`` (xdist carries them from the workers). Suite-level
properties are added to the XML pytest wrote, after it wrote it: pytest offers no public way to set
them from a plugin on the xdist controller.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._interned import KeptOnce
from .._run import AuthcheckRun
from .summary import counts

# pytest keeps every report, and each holds its test's properties to the end of the session: a (name, value) pair
# many tests share (the check, its title, a target, a status) is kept once.
_PAIR = KeptOnce[tuple[str, str]](50_000)


def _pair(name: str, value: str) -> tuple[str, str]:
    return _PAIR((name, value))


def result_properties(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``authcheck.*`` properties of one test case (id, severity, level, target, status, waiver)."""
    props = [_pair("authcheck.check", result["check"]), _pair("authcheck.title", result["title"]),
             _pair("authcheck.severity", result["severity"]), _pair("authcheck.level", result.get("level") or ""),
             _pair("authcheck.target", result.get("target") or ""), _pair("authcheck.status", result["status"]),
             _pair("authcheck.refs", "; ".join(result.get("refs", [])))]
    waiver = result.get("waiver")
    if waiver:
        props += [("authcheck.waiver.reason", waiver["reason"]), ("authcheck.waiver.expires", waiver["expires"]),
                  ("authcheck.waiver.expired", str(waiver["expired"]).lower())]
        if waiver.get("ticket"):
            props.append(("authcheck.waiver.ticket", waiver["ticket"]))
    return props


def suite_properties(run: AuthcheckRun) -> list[tuple[str, str]]:
    """Run facts an auditor or CI reads from the JUnit file alone."""
    outcome = run.outcome or {}
    gate = outcome.get("gate", {})
    by_status = counts(run.results)["by_status"]
    props = [("authcheck.run_id", run.run_id), ("authcheck.policy", str(run.policy.path)),
             ("authcheck.policy_sha256", run.policy.sha256),
             ("authcheck.gate.fail_on", str(gate.get("fail_on", ""))),
             ("authcheck.gate.decision", str(gate.get("decision", "")))]
    props += [(f"authcheck.count.{status}", str(n)) for status, n in by_status.items()]
    return props


def add_suite_properties(xml_path: Path, run: AuthcheckRun) -> bool:
    """Add the run's properties to every ``<testsuite>`` of a JUnit file pytest wrote; False if there is none."""
    if not xml_path.is_file():
        return False
    tree = ET.parse(xml_path)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        properties = suite.find("properties")
        if properties is None:
            properties = ET.Element("properties")
            suite.insert(0, properties)
        for name, value in suite_properties(run):
            ET.SubElement(properties, "property", name=name, value=value)
    temporary = xml_path.with_name(xml_path.name + ".tmp")
    tree.write(temporary, encoding="utf-8", xml_declaration=True)
    os.replace(temporary, xml_path)
    return True
