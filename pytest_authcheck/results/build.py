"""The one result model: a plain dict per (check, target), built once where the test ran.

Every writer (terminal, JSON, HTML, and later SARIF and JUnit properties) reads these dicts and never
recomputes a verdict. They are JSON-able, so they travel from xdist workers as report attributes.
"""

from __future__ import annotations

from typing import Any

import pytest

from .._bounds import MESSAGE_LIMIT, bounded_text
from .._checks import Check, check_of
from .._errors import CredentialsWithheld, EvaluationError
from .._record import CheckFailed, CheckRecord
from .._redact import Redactor
from .._targets import TARGET_KINDS

STATUSES = ("passed", "failed", "error", "skipped", "waived")
record_key = pytest.StashKey[CheckRecord]()


def target_of(item: pytest.Item) -> str | None:
    """``providers.sso`` for a test parametrized by the target fixture ``oidc_provider='sso'``."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    for fixture, kind in TARGET_KINDS.items():
        value = callspec.params.get(fixture)
        if isinstance(value, str):
            return kind.target_of(value)
    return None


def custom_check(item: pytest.Item) -> Check:
    """A team's own test without ``@check`` still lands in the report, as a custom check."""
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip().splitlines()
    name = getattr(item, "originalname", item.name)
    return Check(id=f"custom.{name}", title=doc[0] if doc else name, severity="medium", area="custom",
                 refs=(), remediation="See the check's own documentation.")


def enforce_invariants(report: pytest.TestReport, call: pytest.CallInfo[None], record: CheckRecord | None, *,
                       shipped: bool) -> tuple[str, str] | None:
    """The (status, message) the result model imposes over pytest's outcome, or None to keep it.

    - a violation recorded in a check is reported whatever happens after it (an error, a skip);
    - a check cannot pass when its recorded expected and observed differ, nor (a shipped check) having
      stated nothing it looked at: either is a defect of the check, reported as an error, never a pass.
    """
    if record is None:
        return ("error", "could not evaluate: a shipped check passed having recorded nothing it looked at") \
            if shipped and report.passed else None
    excinfo = call.excinfo
    failed_itself = excinfo is not None and isinstance(excinfo.value, (CheckFailed, AssertionError))
    if record.violations and not report.passed and not failed_itself:
        cause = _exception_text(excinfo.value) if excinfo is not None else str(report.longrepr)[:300]
        then = "skipped" if report.skipped else "could not go on"
        return "failed", _limit("; ".join(record.violations) + f" (the check then {then}: {cause})")
    if not report.passed:
        return None
    if record.violations:
        return "failed", _limit("; ".join(record.violations))
    wrong = record.expectation_mismatches()
    if wrong:
        return "error", _limit("could not evaluate: the check passed against its own evidence (a defect of the check, "
                               "not a pass): " + "; ".join(wrong))
    if shipped and not record.stated:
        return "error", "could not evaluate: the check passed without stating what it expected and observed"
    return None


def impose(report: pytest.TestReport, status: str, message: str) -> None:
    """Make pytest's own report agree with the result model's (status, message)."""
    report.outcome = "failed"
    report.longrepr = message
    if status == "error":
        report.when = "setup"  # pytest, JUnit and pytest-html then call it an error


def build_result(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None],
                 redactor: Redactor, imposed: tuple[str, str] | None = None) -> dict[str, Any]:
    """The result dict of one test (called once per item: at setup when setup failed or skipped, else at call)."""
    check = check_of(item) or custom_check(item)
    record = item.stash.get(record_key, None)
    status, message = imposed if imposed is not None else _status(report, call, redactor, record)
    result: dict[str, Any] = {
        "nodeid": item.nodeid,
        "check": check.id,
        "title": check.title,
        "severity": check.severity,
        "area": check.area,
        "level": check.level,
        "refs": check.refs_list,
        "remediation": check.remediation,
        "target": target_of(item),
        "status": status,
        "message": message,
        "duration": round(report.duration, 4),
    }
    evidence = record.evidence() if record is not None else {}
    exchange = getattr(call.excinfo.value, "exchange", None) if call.excinfo is not None else None
    if exchange is not None:
        evidence.setdefault("exchanges", [])
        if exchange.id not in evidence["exchanges"]:
            evidence["exchanges"].append(exchange.id)
    if record is not None and (record.expected is not None or record.observed is not None):
        result["expected"], result["observed"] = record.expected, record.observed
    if evidence:
        result["evidence"] = evidence
    return result


def exchanges_of(item: pytest.Item, call: pytest.CallInfo[None]) -> list[Any]:
    """The Exchange objects a result refers to."""
    record = item.stash.get(record_key, None)
    found = list(record.exchanges) if record is not None else []
    exchange = getattr(call.excinfo.value, "exchange", None) if call.excinfo is not None else None
    if exchange is not None and exchange not in found:
        found.append(exchange)
    return found


def _status(report: pytest.TestReport, call: pytest.CallInfo[None], redactor: Redactor,
            record: CheckRecord | None) -> tuple[str, str | None]:
    if report.passed:
        return "passed", None
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        return "skipped", _limit(redactor.text(str(reason).removeprefix("Skipped: ")))
    excinfo = call.excinfo
    if excinfo is not None and isinstance(excinfo.value, CredentialsWithheld):
        # the provider sends clients to an undeclared origin: that is a finding of the check that needed it
        return "failed", _limit(redactor.text(str(excinfo.value)))
    if report.when == "call" and excinfo is not None and (
            isinstance(excinfo.value, (CheckFailed, AssertionError)) or excinfo.errisinstance(pytest.fail.Exception)):
        text = record.message if record is not None and record.message else _exception_text(excinfo.value)
        return "failed", _limit(redactor.text(text))
    if excinfo is not None and isinstance(excinfo.value, EvaluationError):
        return "error", _limit(redactor.text(evaluation_text(excinfo.value)))
    if excinfo is not None:
        return "error", _limit("could not evaluate: " + redactor.text(_exception_text(excinfo.value)))
    return "error", "could not evaluate"


def evaluation_text(exc: EvaluationError) -> str:
    """``not evaluated: <reason>`` when the answers could not tell, ``could not evaluate: <cause>`` otherwise."""
    from ..observations import NotEvaluated

    return f"not evaluated: {exc}" if isinstance(exc, NotEvaluated) else f"could not evaluate: {exc}"


def _exception_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _limit(text: str) -> str:
    return bounded_text(text, MESSAGE_LIMIT, MESSAGE_LIMIT // 3)
